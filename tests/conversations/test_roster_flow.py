"""Duty rosters end to end (R-ROSTER): an officer publishes a shift, volunteers sign up
with a button, get a reminder, confirm the start with the mask / temperature self-check;
the organiser hears about a shift short of people and about who did not confirm."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Role, ScopeType
from bot.double import BotApiDouble
from bot.presentation.callbacks import RosterCb
from bot.services.identity import ensure_staff_person, grant_role
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import OFFICER_ID, VOLUNTEER_ID, SeededCommunity

SECOND_VOLUNTEER = 9015


async def test_publish_sign_up_remind_confirm_and_alerts(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        person = await ensure_staff_person(
            session, clock, telegram_user_id=SECOND_VOLUNTEER, name="Eve"
        )
        person.language = "en"
        await grant_role(
            session, clock, person=person, role=Role.VOLUNTEER, scope_type=ScopeType.COMPOUND,
            scope_id=community.compound_ids["阳光花园"], by=None,
        )  # fmt: skip
    for tg in (OFFICER_ID, VOLUNTEER_ID, SECOND_VOLUNTEER):
        double.private_chat(double.user(tg, str(tg)))
        double.started.add(tg)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    zhao = ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿"))
    eve = ChatUser(double, double.user(SECOND_VOLUNTEER, "Eve", language_code="en"))
    resident = ChatUser(double, double.user(5001, "小明"))

    replies = await officer.send("/shift_add gate 阳光花园 2022-03-11 08:00-12:00 3")
    assert [m.content for m in replies] == [
        "✅ 已发布班次 #1：门岗值守，阳光花园，03-11 08:00–12:00，需要 3 人。"
        "志愿者可用 /shifts 报名。"
    ]
    replies = await officer.send("/shift_add gate 阳光花园 2022-03-09 08:00-12:00 3")
    assert [m.content for m in replies] == ["这个班次的开始时间已过，请填写以后的时间。"]
    replies = await resident.send("/shift_add gate 阳光花园 2022-03-11 08:00-12:00 3")
    assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"]
    replies = await resident.send("/shifts")
    assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"]

    replies = await zhao.send("/shifts")
    assert [m.content for m in replies] == [
        "近期班次\n#1 门岗值守 · 阳光花园 · 03-11 08:00–12:00 · 已报名 0/3"
    ]
    replies = await zhao.press("报名 #1")
    assert replies[-1].content == "✅ 已报名班次 #1（阳光花园 03-11 08:00–12:00）。开始前会提醒您。"
    await zhao.press_data(RosterCb(action="join", id=1).pack(), zhao.last(), strict=False)
    assert zhao.answer_of_last_press() == "您已经报名了这个班次。"
    await eve.send("/shifts")
    replies = await eve.press("Sign up #1")
    assert replies[-1].content == (
        "✅ You are on shift #1 (阳光花园 03-11 08:00–12:00). "
        "You will be reminded before it starts."
    )

    # 07:00 next day: reminders, and the organiser hears that one place is empty.
    clock.advance(timedelta(hours=22))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert zhao.last().content == (
        "⏰ 提醒：您报名的门岗值守班次（阳光花园）将于 03-11 08:00 开始，12:00 结束。"
        "请做好个人防护。"
    )
    assert officer.last().content == (
        "⚠️ 班次人数不足：门岗值守（阳光花园 03-11 08:00–12:00）只报名了 2/3 人。"
    )
    # 08:00: the start-of-shift self-check.
    clock.advance(timedelta(hours=1))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert zhao.last().content == (
        "🟢 门岗值守班次（阳光花园 03-11 08:00–12:00）开始了。\n"
        "上岗前请自查：已佩戴口罩，体温正常。确认后请按下面的按钮。"
    )
    replies = await zhao.press("✅ 已戴口罩、体温正常，开始值班")
    assert replies[-1].content == "✅ 已确认上岗。谢谢您的付出，注意防护！"
    # Eve cannot confirm for Zhao with a forged button.
    await eve.press_data(RosterCb(action="start", id=1).pack(), eve.last(), strict=False)
    assert eve.answer_of_last_press() == "Sorry, you do not have permission to do this."
    clock.advance(timedelta(minutes=15))
    await tick(running_bot.application.job_context())
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert officer.last().content == (
        "⚠️ 班次未确认上岗：门岗值守（阳光花园 03-11 08:00–12:00）：Eve。"
    )
