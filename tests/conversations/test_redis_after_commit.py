"""Redis fails between a step's commit and its FSM write (bot/core/fsm_buffer.py).

The step is saved in the database; its FSM write is owed, read in place of what Redis
still has, and written by RedisWatch when Redis answers. The user gets the step's reply,
and answering the step again (the relation button pressed twice) does not save it twice.

Redis is reached through a TCP fault proxy (tests/support/tcpproxy.py) cut exactly after
the commit. Runs only when CG_TEST_REDIS_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.core.context import UpdateContext
from bot.core.fsm_buffer import BufferedStorage
from bot.db.models import Person
from bot.double import BotApiDouble
from messages import Catalog
from tests.support.chat import TOKEN, ChatUser, RunningBot, settings_for
from tests.support.community import SeededCommunity
from tests.support.database import REDIS_ENV
from tests.support.ledger_rows import add_person
from tests.support.tcpproxy import TcpFaultProxy

pytestmark = pytest.mark.skipif(
    not os.environ.get(REDIS_ENV), reason="needs Redis (CG_TEST_REDIS_URL)"
)

ROOM = "阳光花园/1栋/1单元/101"
USER_ID = 6101


@pytest.fixture
async def proxy() -> AsyncIterator[TcpFaultProxy]:
    real = make_url(os.environ[REDIS_ENV].replace("redis://", "postgresql://", 1))
    proxy = TcpFaultProxy(real.host or "127.0.0.1", real.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def redis_bot(
    double: BotApiDouble,
    database_url: str,
    clock: FakeClock,
    catalog: Catalog,
    proxy: TcpFaultProxy,
) -> AsyncIterator[RunningBot]:
    real = make_url(os.environ[REDIS_ENV].replace("redis://", "postgresql://", 1))
    settings = settings_for(
        double,
        database_url,
        redis_url=f"redis://127.0.0.1:{proxy.port}/{real.database or 0}",
        # The per-user lock could not be released while Redis was cut: it expires soon.
        redis_lock_timeout=2,
    )
    bot = RunningBot(double, settings, clock, catalog)
    await bot.start()
    yield bot
    await bot.stop()


async def members_named(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessionmaker() as session:
        return len(list(await session.scalars(select(Person.id).where(Person.name == name))))


async def test_a_step_saved_before_redis_failed_is_not_saved_twice(
    redis_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    proxy: TcpFaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with sessionmaker.begin() as session:
        head = await add_person(session, "陈一", community.household(ROOM), clock.now(), USER_ID)
        head.is_head = True
    user = double.user(USER_ID, "陈一", language_code="zh-hans")
    double.private_chat(user)
    chen = ChatUser(double, user)
    await chen.send("/profile")
    await chen.press("添加成员")
    await chen.send("小红")
    asking, relation = chen.button_data("子女")

    # Redis goes away right after the relation step's commit, before its FSM write.
    armed = {"cut": True}
    committed = UpdateContext.committed

    async def cut_after_commit(self: UpdateContext) -> Any:
        if armed["cut"] and self.fsm_writes:
            armed["cut"] = False
            proxy.cut()
        return await committed(self)

    monkeypatch.setattr(UpdateContext, "committed", cut_after_commit)
    replies = await chen.press_data(relation, asking)
    assert not armed["cut"], "the cut happened after the commit"
    # The step's own answer, not "received, handled in a moment".
    assert [m.content for m in replies] == ["✅ 已添加 小红。"]
    assert await members_named(sessionmaker, "小红") == 1
    app = redis_bot.application
    storage = app.storage
    assert isinstance(storage, BufferedStorage)
    key = StorageKey(bot_id=int(TOKEN.split(":")[0]), chat_id=USER_ID, user_id=USER_ID)
    assert storage.owed == {key: {"state": None, "data": {}}}
    assert await storage.get_state(key) is None  # read in place of Redis

    # Redis answers again: the watch writes the owed step.
    proxy.restore()
    deadline = time.monotonic() + 20
    while storage.owed:
        assert time.monotonic() < deadline, "the owed FSM write was not settled"
        await asyncio.sleep(0.1)
    assert await storage.inner.get_state(key) is None
    assert await storage.inner.get_data(key) == {}

    # The relation pressed again: the form is over, nothing is added twice.
    await chen.press_data(relation, asking, strict=False)
    assert chen.answer_of_last_press() == "这个按钮已失效，请重新开始操作（例如发送 /start）。"
    assert await members_named(sessionmaker, "小红") == 1
    assert app.redis_watch is not None and app.redis_watch.outage.count == 1
