"""An officer acknowledges and resolves a case while Telegram fails every call of the
step (429, 5xx, a dropped connection): the database and the officer's screen agree
afterwards, and pressing again neither saves twice nor hides the current state."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, CaseEvent
from bot.double import BotApiDouble
from bot.services import cases
from messages import Catalog
from tests.conversations.test_cases_flow import OFFICER_GROUP, _card, _officer_chat, _symptom
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import SeededCommunity

FAULTS = {
    "429": {"error_code": 429, "retry_after": 1},
    "502": {"error_code": 502},
    "drop": None,
}


def inject(double: BotApiDouble, method: str, fault: str, times: int) -> None:
    spec = FAULTS[fault]
    if spec is None:
        double.faults.drop(method, times=times)
    else:
        double.faults.add(method, times=times, **spec)  # type: ignore[arg-type]


async def _case_with_card(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> tuple[ChatUser, int]:
    await register(sessionmaker, clock, community, resident)
    officer, _, _ = await _officer_chat(double)
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    await _symptom(resident)
    await running_bot.drain()
    async with sessionmaker() as session:
        case_id = await session.scalar(select(Case.id))
    assert case_id is not None
    return officer, case_id


async def _events(sessionmaker: async_sessionmaker[AsyncSession], action: str) -> int:
    async with sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(CaseEvent).where(CaseEvent.action == action)
            )
            or 0
        )


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageText"])
@pytest.mark.parametrize("times", [1, 2])
async def test_acknowledge_under_faults(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    method: str,
    fault: str,
    times: int,
    catalog: Catalog,
) -> None:
    officer, case_id = await _case_with_card(
        running_bot, double, resident, community, sessionmaker, clock
    )
    card = _card(double, case_id)
    inject(double, method, fault, times)
    await officer.press("已知悉", card, chat_id=OFFICER_GROUP)
    await running_bot.drain()  # a reply Telegram refused twice waits in the outbox
    async with sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.status == "acknowledged"
    assert await _events(sessionmaker, "ack") == 1
    await _screen_agrees(double, sessionmaker, clock, catalog, case_id, card.message_id)
    # Pressed again (as after a reply that never arrived): nothing saved twice, and the
    # card shows the current state.
    _, ack = officer.button_data("已知悉", card)
    await officer.press_data(ack, card, strict=False, chat_id=OFFICER_GROUP)
    assert officer.answer_of_last_press() == "事件 #1 已有人确认。"
    assert await _events(sessionmaker, "ack") == 1
    await _screen_agrees(double, sessionmaker, clock, catalog, case_id, card.message_id)


async def _screen_agrees(
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    case_id: int,
    message_id: int,
) -> None:
    """The officers' chat shows exactly the card of the case as the database has it."""
    stored = double.find_message(OFFICER_GROUP, message_id)
    assert stored is not None
    shown = stored.snapshot()
    async with sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        text, markup = await cases.render_card(session, clock, catalog, case)
    assert shown.raw_text == text
    assert shown.reply_markup == (
        markup.model_dump(mode="json", exclude_none=True) if markup else None
    )


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("method", ["editMessageText", "sendMessage"])
async def test_resolve_with_a_note_under_faults(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    method: str,
    fault: str,
) -> None:
    officer, case_id = await _case_with_card(
        running_bot, double, resident, community, sessionmaker, clock
    )
    card = _card(double, case_id)
    await officer.press("办结", card, chat_id=OFFICER_GROUP)
    inject(double, method, fault, times=2)
    await officer.send("已电话联系，送医就诊", chat=double.chats[OFFICER_GROUP])
    await running_bot.drain()
    async with sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.status == "resolved"
        assert case.resolution_note == "已电话联系，送医就诊"
    assert await _events(sessionmaker, "resolve") == 1
    await _screen_agrees(double, sessionmaker, clock, catalog, case_id, card.message_id)
    done = catalog.render("zh-CN", "cases.done_resolve", id=case_id)
    assert double.messages(OFFICER_GROUP)[-1].raw_text == done
    # Resolve pressed again on the card: the case is shown as it is, nothing saved.
    _, resolve = officer.button_data("办结", card)
    await officer.press_data(resolve, card, strict=False, chat_id=OFFICER_GROUP)
    assert officer.answer_of_last_press() == catalog.render(
        "zh-CN", "cases.already_resolved", id=case_id
    )
    assert await _events(sessionmaker, "resolve") == 1
