"""Redis unavailable, PostgreSQL restarted: the bot degrades politely and recovers by
itself (issue 17, R-SCALE).

The real `community-guard run` (webhook mode, a subprocess) talks to Redis or
PostgreSQL through a TCP fault proxy (tests/support/tcpproxy.py) that cuts every
connection and refuses new ones for `CG_OUTAGE_SECONDS` (default 3 s), then lets them
through again. The machine's real servers are never touched. Nothing in the bot counts
the outage's length: it notices failures, logs once, keeps or refuses work, and polls
for the server every second, so 3 s exercises the same paths as the issue's 30 s
(`CG_OUTAGE_SECONDS=30` runs that; the test then takes about 30 s longer).

Redis down: updates that arrive are kept (they are in the inbox, in PostgreSQL) and
the sender is told, politely, that nothing needs sending again; when Redis answers
they are handled in order and the conversation continues where it was. Exactly one
"redis unavailable" line and one "redis back" line; no traceback.

PostgreSQL down: an update gets the polite "try again in a moment" (nothing can be
stored); the leader's lock dies with its connection, so the leader steps down; when
PostgreSQL is back the same process takes the lock again (a new epoch: fencing), the
sender and scheduler resume (a notice queued during the outage is delivered), and the
resident's conversation continues. One "database unavailable", one "database back".

Runs only when CG_TEST_DATABASE_URL and CG_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import SystemClock
from bot.db.models import Delivery, InboxUpdate, Person
from bot.double import BotApiDouble, RateLimits
from bot.services import outbox
from messages import Catalog
from tests.scale.test_failover import SECRET, Poster, PostingDouble, _free_port, leader
from tests.support.chat import TOKEN, ChatUser
from tests.support.community import SeededCommunity
from tests.support.database import PG_ENV, REDIS_ENV
from tests.support.tcpproxy import TcpFaultProxy

pytestmark = [
    pytest.mark.skipif(
        not (os.environ.get(PG_ENV) and os.environ.get(REDIS_ENV)),
        reason="needs PostgreSQL and Redis (CG_TEST_DATABASE_URL, CG_TEST_REDIS_URL)",
    ),
    pytest.mark.timeout(180),
]

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = float(os.environ.get("CG_OUTAGE_SECONDS", "3"))
CATALOG = Catalog()


class Bot:
    """One `community-guard run` process (webhook) and what it logged."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, url: str) -> None:
        self.process = process
        self.log = log
        self.url = url

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if needle in line]


@asynccontextmanager
async def running_bot(
    double: BotApiDouble, tmp_path: Path, database_url: str, redis_url: str
) -> AsyncIterator[Bot]:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        BOT_TOKEN=TOKEN,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_PREFIX=f"cgout-{uuid.uuid4().hex[:8]}",
        TELEGRAM_API_BASE=double.base_url,
        WEBHOOK_URL="https://bot.example.org",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_PATH="/telegram/webhook",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    bot = Bot(process, log, f"http://127.0.0.1:{port}/telegram/webhook")
    try:
        yield bot
    except BaseException:
        print(log.read_text()[-8000:])
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


async def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def post_once(double: BotApiDouble, url: str, update_id: int) -> int:
    """One webhook POST of an update (no retry): the HTTP status."""
    body = next(u for u in reversed(double.updates) if u["update_id"] == update_id)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url,
            json=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response,
    ):
        return response.status


async def started(double: BotApiDouble, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async def ready() -> bool:
        return (await leader(sessionmaker))[0] > 0 and any(
            c.method == "setWebhook" for c in double.calls
        )

    await wait_for(ready, "the bot to start and lead")


async def begin_registration(user: ChatUser, room_key: str) -> None:
    """Up to the question for the name (the FSM state lives in Redis)."""
    compound, building, unit, room = room_key.split("/")
    replies = await user.send("/start")
    await user.press("同意", replies[-1])
    await user.press(compound)
    await user.press(building)
    await user.press(unit)
    await user.press(room)


async def finish_registration(user: ChatUser, phone: str) -> list[str]:
    await user.send(phone)
    replies = await user.press("没有了")
    done = await user.press("确认提交")
    return [m.content or "" for m in replies[-1:] + done[-1:]]


def summary(name: str, phone: str, room_key: str) -> str:
    address = " ".join(room_key.split("/"))
    return f"请确认登记信息\n\n住址：{address}\n姓名：{name}\n手机：{phone}\n家庭成员：无需代报"


def the_double() -> BotApiDouble:
    return BotApiDouble(
        TOKEN, rate_limits=RateLimits(per_bot_per_second=100_000, per_chat_per_second=1000)
    )


async def test_redis_unavailable_keeps_updates_and_recovers(
    database_url: str,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    real = make_url(os.environ[REDIS_ENV].replace("redis://", "postgresql://", 1))
    proxy = TcpFaultProxy(real.host or "127.0.0.1", real.port or 6379)
    await proxy.start()
    redis_url = f"redis://127.0.0.1:{proxy.port}/{real.database or 0}"
    double = the_double()
    await double.serve()
    try:
        async with running_bot(double, tmp_path, database_url, redis_url) as bot:
            await started(double, sessionmaker)
            poster = Poster(double, bot.url, sessionmaker)
            posting = PostingDouble(double, poster)
            rooms = sorted(k for k in community.households if k.startswith("阳光花园"))[:3]
            users = [ChatUser(posting, double.user(710_000 + i, f"O{i}")) for i in range(3)]  # type: ignore[arg-type]
            for user, room in zip(users, rooms, strict=True):
                double.private_chat(user.user)
                await begin_registration(user, room)

            # Redis goes away; each resident types their name meanwhile.
            proxy.cut()
            outage_started = time.monotonic()
            kept = []
            for i, user in enumerate(users):
                update = double.send_text(user.user, f"居民{i:02d}")
                kept.append(update.update_id)
                assert await post_once(double, bot.url, update.update_id) == 200
            polite = CATALOG.translator("zh-CN")("core.redis_unavailable")

            async def told() -> bool:
                return all(any(m.content == polite for m in double.messages(u.id)) for u in users)

            await wait_for(told, "the polite 'kept' answer")
            async with sessionmaker() as session:
                not_done = list(
                    await session.scalars(
                        select(InboxUpdate.update_id).where(
                            InboxUpdate.update_id.in_(kept), InboxUpdate.done_at.is_(None)
                        )
                    )
                )
            assert sorted(not_done) == sorted(kept), "kept updates stay in the inbox, not done"
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - outage_started)))
            proxy.restore()

            # Back: the kept names are handled (the next question comes), in order.
            ask_phone = CATALOG.translator("zh-CN")("registration.ask_phone")

            async def handled() -> bool:
                async with sessionmaker() as session:
                    left = await session.scalar(
                        select(InboxUpdate.update_id).where(
                            InboxUpdate.update_id.in_(kept), InboxUpdate.done_at.is_(None)
                        )
                    )
                return left is None and all(
                    (double.messages(u.id)[-1].content or "").startswith(ask_phone[:6])
                    for u in users
                )

            await wait_for(handled, "the kept updates to be handled")
            results = [
                await finish_registration(user, f"138001381{i:02d}") for i, user in enumerate(users)
            ]
            assert bot.process.poll() is None, "the process stayed up"

        for i, (texts, room) in enumerate(zip(results, rooms, strict=True)):
            assert texts[0] == summary(f"居民{i:02d}", f"+86138001381{i:02d}", room)
            assert texts[1].startswith("✅ 登记成功！")
        async with sessionmaker() as session:
            persons = (
                await session.execute(
                    select(Person.telegram_user_id, Person.name).where(
                        Person.telegram_user_id.in_([u.id for u in users])
                    )
                )
            ).all()
        assert sorted(persons) == [(u.id, f"居民{i:02d}") for i, u in enumerate(users)]
        assert len(bot.lines("redis unavailable")) == 1, bot.lines("redis unavailable")
        assert len(bot.lines("redis back")) == 1
        assert "handling 3 kept update(s)" in bot.lines("redis back")[0]
        assert not bot.lines("Traceback")
        print(f"\nredis outage {OUTAGE:.0f} s: {bot.lines('redis back')[0].split('outage: ')[-1]}")
    finally:
        await double.stop()
        await proxy.stop()


async def test_postgresql_restart_is_survived(
    database_url: str,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    real = make_url(database_url)
    proxy = TcpFaultProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    double = the_double()
    await double.serve()
    try:
        async with running_bot(double, tmp_path, proxied, os.environ[REDIS_ENV]) as bot:
            await started(double, sessionmaker)
            first_epoch = (await leader(sessionmaker))[0]
            poster = Poster(double, bot.url, sessionmaker)
            posting = PostingDouble(double, poster)
            room = sorted(k for k in community.households if k.startswith("阳光花园"))[0]
            user = ChatUser(posting, double.user(720_000, "P0"))  # type: ignore[arg-type]
            double.private_chat(user.user)
            await begin_registration(user, room)

            # PostgreSQL "restarts": every connection cut, new ones refused.
            proxy.cut()
            outage_started = time.monotonic()
            update = double.send_text(user.user, "居民00")
            assert await post_once(double, bot.url, update.update_id) == 200
            retry = CATALOG.translator("zh-CN")("core.database_unavailable")

            async def told() -> bool:
                return any(m.content == retry for m in double.messages(user.id))

            await wait_for(told, "the polite 'try again'")
            # A notice queued meanwhile (by another process, straight to the database).
            reader = double.user(730_000, "N0")
            double.private_chat(reader)
            double.started.add(reader.id)
            async with sessionmaker.begin() as session:
                await outbox.enqueue(
                    session,
                    SystemClock(),
                    kind="notice",
                    chat_id=reader.id,
                    dedup_key="outage-notice",
                    payload=outbox.message_payload("notice during the outage"),
                )
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - outage_started)))
            proxy.restore()
            restored = time.monotonic()

            # Back: the leader takes the lock again (a new epoch), the sender delivers.
            async def leads_again() -> bool:
                return (await leader(sessionmaker))[0] > first_epoch

            await wait_for(leads_again, "the leader to take the lock again", timeout=30)
            relead = time.monotonic() - restored

            async def delivered() -> bool:
                async with sessionmaker() as session:
                    status = await session.scalar(
                        select(Delivery.status).where(Delivery.dedup_key == "outage-notice")
                    )
                return status == "sent"

            await wait_for(delivered, "the notice queued during the outage", timeout=30)
            assert [m.content for m in double.messages(reader.id)] == ["notice during the outage"]
            # The resident did as told: sends the name again; the conversation goes on.
            await user.send("居民00")
            texts = await finish_registration(user, "13800138200")
            assert bot.process.poll() is None, "the process stayed up"

        assert texts[0] == summary("居民00", "+8613800138200", room)
        assert texts[1].startswith("✅ 登记成功！")
        assert len(bot.lines("database unavailable")) == 1, bot.lines("database unavailable")
        assert len(bot.lines("database back")) == 1, bot.lines("database back")
        assert bot.lines("leader connection lost; stepping down")
        assert not bot.lines("Traceback"), bot.lines("Traceback")
        print("\n".join(bot.lines("WARNING") + bot.lines("ERROR")))
        print(f"\npostgresql outage {OUTAGE:.0f} s: leader again {relead:.1f} s after it was back")
    finally:
        await double.stop()
        await proxy.stop()
