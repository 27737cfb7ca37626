"""A resident confirms registration, and answers the daily check-in, while Telegram
fails each call of the step (429, 5xx, a dropped connection), twice in a row (so the
reply has to wait in the outbox). Afterwards the database and the screen agree, and
pressing again saves nothing twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CheckInStatus, Person
from bot.double import BotApiDouble
from messages import Catalog
from tests.conversations.test_checkin_answers import checkin_of, isolated_and_prompted, prompts
from tests.conversations.test_registration_flow import walk_to_name
from tests.core.test_faults_cases import FAULTS, inject
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import SeededCommunity


async def _persons(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> int:
    async with sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Person).where(Person.telegram_user_id == user_id)
            )
            or 0
        )


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize(
    "method", ["answerCallbackQuery", "editMessageReplyMarkup", "editMessageText"]
)
async def test_registration_confirm_under_faults(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    method: str,
    fault: str,
) -> None:
    await walk_to_name(resident)
    await resident.send("张三")
    await resident.send("13800138000")
    await resident.press("没有了")
    summary = resident.last()
    inject(double, method, fault, times=2)
    _, confirm = resident.button_data("确认提交", summary)
    await resident.press_data(confirm, summary)
    await running_bot.drain()
    assert await _persons(sessionmaker, resident.id) == 1
    saved = catalog.render("zh-CN", "registration.saved", joined=False, claimed=False, count=1)
    shown = double.find_message(resident.id, summary.message_id)
    assert shown is not None
    assert shown.snapshot().raw_text == saved and shown.reply_markup in (None, {})
    # Pressed again on the old summary (as when the reply never arrived): saved once.
    await resident.press_data(confirm, summary, strict=False)
    assert await _persons(sessionmaker, resident.id) == 1
    assert resident.answer_of_last_press() == catalog.render("zh-CN", "core.already_registered")


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageText"])
async def test_checkin_answer_under_faults(
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
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    prompt = prompts(double, resident.id)[-1]
    inject(double, method, fault, times=2)
    _, normal = resident.button_data("体温正常", prompt)
    await resident.press_data(normal, prompt)
    await running_bot.drain()
    checkin = await checkin_of(sessionmaker, iso.isolation_id)
    assert checkin.status == CheckInStatus.ANSWERED
    thanks = catalog.render("zh-CN", "checkin.thanks", name="张三", member=False, temperature="")
    shown = double.find_message(resident.id, prompt.message_id)
    assert shown is not None and shown.snapshot().raw_text == thanks
    await resident.press_data(normal, prompt, strict=False)
    assert resident.answer_of_last_press() == catalog.render(
        "zh-CN", "checkin.already_answered", name="张三"
    )
    assert (await checkin_of(sessionmaker, iso.isolation_id)).answered_at == checkin.answered_at


async def test_typed_temperature_reply_survives_a_refused_send(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    double.faults.add("sendMessage", error_code=502, times=2)
    await resident.send("36.6")
    await running_bot.drain()
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.ANSWERED
    thanks = catalog.render(
        "zh-CN", "checkin.thanks", name="张三", member=False, temperature="36.6"
    )
    assert resident.last().raw_text == thanks


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_report_submit_under_faults(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    fault: str,
) -> None:
    from bot.db.models import Report
    from tests.conversations.test_reports_flow import register

    await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("症状报告")
    await resident.press("张三")
    await resident.press("发热")
    await resident.press("选好了")
    await resident.send("38.5")
    await resident.send("今天")
    summary = resident.last()
    inject(double, "editMessageText", fault, times=2)
    _, submit = resident.button_data("确认提交", summary)
    await resident.press_data(submit, summary)
    await running_bot.drain()
    async with sessionmaker() as session:
        reports = list(await session.scalars(select(Report)))
    assert len(reports) == 1
    shown = double.find_message(resident.id, summary.message_id)
    assert shown is not None and shown.reply_markup in (None, {})
    assert shown.snapshot().raw_text.startswith(catalog.render("zh-CN", "reports.saved_symptom",
        again=False, risk="", isolations=[], clinics=[], case_id=1).split("\n")[0])  # fmt: skip
    await resident.press_data(submit, summary, strict=False)
    assert resident.answer_of_last_press() == catalog.render("zh-CN", "core.already_submitted")
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(Report)))) == 1
