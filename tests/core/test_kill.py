"""A stop at the worst moments: the process dies (its task is cancelled, as kill -9 would
end it) before a handler committed, and between the commit and the reply. Afterwards
the database and the user's screen agree, and nothing is done twice."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, CaseEvent, InboxUpdate, Person, UserPreference
from bot.double import BotApiDouble
from messages import Catalog
from tests.conversations.test_cases_flow import OFFICER_GROUP, _card
from tests.core.test_faults_cases import _case_with_card, _screen_agrees
from tests.support.chat import ChatUser, RunningBot


async def until(check: Callable[[], Awaitable[bool]], limit: float = 10.0) -> None:
    """Wait for a condition the bot reaches on its own (not a timed assertion)."""
    async with asyncio.timeout(limit):
        while not await check():  # noqa: ASYNC110 - the condition is in another process's DB
            await asyncio.sleep(0.02)


async def kill(running_bot: RunningBot) -> None:
    """End the bot as kill -9 would: its polling task is cancelled where it stands
    (nothing graceful runs first), then the leftovers are closed."""
    app, task = running_bot.app, running_bot._polling
    assert app is not None and task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    running_bot.app = None
    app.stop_requested.set()
    await app.close()


async def _inbox(sessionmaker: async_sessionmaker[AsyncSession], update_id: int) -> Any:
    async with sessionmaker() as session:
        # One bot here: its update id alone finds the row (the key is bot + update id).
        return await session.scalar(select(InboxUpdate).where(InboxUpdate.update_id == update_id))


async def test_kill_before_the_commit_replays_the_update(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await english_resident.send("/language")
    chooser = english_resident.last()
    started, never = asyncio.Event(), asyncio.Event()
    common = sys.modules["handlers.common"]
    original = common.set_language

    async def stuck(*args: Any, **kwargs: Any) -> None:
        await original(*args, **kwargs)  # written, not committed
        started.set()
        await never.wait()

    monkeypatch.setattr(common, "set_language", stuck)
    _, data = english_resident.button_data("中文", chooser)
    update = double.press(english_resident.user, chooser, data)
    await asyncio.wait_for(started.wait(), timeout=10)
    await kill(running_bot)
    monkeypatch.undo()

    row = await _inbox(sessionmaker, update.update_id)
    assert row is not None and row.done_at is None  # stored, acknowledged or not: not done
    async with sessionmaker() as session:
        assert await session.get(UserPreference, english_resident.id) is None

    mark = double.mark()
    await running_bot.start()  # replays the inbox before polling
    await until(lambda: _done(sessionmaker, update.update_id))
    async with sessionmaker() as session:
        pref = await session.get(UserPreference, english_resident.id)
        assert pref is not None and pref.language == "zh-CN"
    shown = double.find_message(chooser.chat_id, chooser.message_id)
    assert shown is not None and shown.snapshot().raw_text == "已切换为中文。"
    # Handled once: Telegram's second delivery of the same update is skipped.
    await double.wait_processed(update, timeout=10)
    edits = [c for c in double.calls if c.seq >= mark and c.method == "editMessageText"]
    assert len(edits) == 1


async def _done(sessionmaker: async_sessionmaker[AsyncSession], update_id: int) -> bool:
    row = await _inbox(sessionmaker, update_id)
    return row is not None and row.done_at is not None


async def test_kill_between_the_commit_and_the_reply(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    officer, case_id = await _case_with_card(
        running_bot, double, resident, community, sessionmaker, clock
    )
    card = _card(double, case_id)
    double.faults.delay("answerCallbackQuery", seconds=30, times=1)
    _, ack = officer.button_data("已知悉", card)
    update = double.press(officer.user, card, ack)

    async def acknowledged() -> bool:
        async with sessionmaker() as session:
            case = await session.get(Case, case_id)
            return case is not None and case.status == "acknowledged"

    await until(acknowledged)
    await kill(running_bot)  # the officer never saw the card change
    assert await _done(sessionmaker, update.update_id)
    double.faults.clear()
    await running_bot.start()
    await double.wait_processed(update, timeout=10)  # skipped: it is done
    stale = double.find_message(OFFICER_GROUP, card.message_id)
    assert stale is not None and stale.snapshot().raw_text == card.raw_text
    # The way forward: the officer presses again and sees the case as it is.
    await officer.press_data(ack, card, chat_id=OFFICER_GROUP)
    assert officer.answer_of_last_press() == f"事件 #{case_id} 已有人确认。"
    await _screen_agrees(double, sessionmaker, clock, catalog, case_id, card.message_id)
    async with sessionmaker() as session:
        acks = await session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "ack")
        )
        assert acks == 1


REGISTRATION: list[tuple[str, str]] = [
    ("send", "/start"),
    ("press", "同意"),
    ("press", "阳光花园"),
    ("press", "1栋"),
    ("press", "1单元"),
    ("press", "101"),
    ("send", "张三"),
    ("send", "13800138000"),
    ("press", "没有了"),
    ("press", "确认提交"),
]


@pytest.mark.parametrize("killed_before", range(1, len(REGISTRATION)))
async def test_registration_survives_a_kill_between_any_two_steps(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    killed_before: int,
) -> None:
    for number, (how, what) in enumerate(REGISTRATION):
        if number == killed_before:
            await kill(running_bot)
            await running_bot.start()
        if how == "send":
            await resident.send(what)
        else:
            await resident.press(what)
    async with sessionmaker() as session:
        people = list(
            await session.scalars(select(Person).where(Person.telegram_user_id == resident.id))
        )
    assert [(p.name, p.phone, p.household_id) for p in people] == [
        ("张三", "+8613800138000", community.household("阳光花园/1栋/1单元/101"))
    ]
    saved = catalog.render("zh-CN", "registration.saved", joined=False, claimed=False, count=1)
    assert resident.last().raw_text == saved
