"""A clock jump / downtime of more than a day (bot/services/downtime.py): no day is
marked missed and no isolation released until an officer confirms; the daily posts
and charts of the days the bot was down are reported, not silently dropped."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, CheckIn, Community, Isolation
from bot.double import BotApiDouble
from bot.presentation.callbacks import DowntimeCb
from scheduler import tick
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.isolation import seed_isolated

OFFICER_GROUP = -1009876


async def _run_tick(bot: RunningBot) -> None:
    await tick(bot.application.job_context())
    await bot.drain()


async def test_jump_of_twenty_days_waits_for_an_officer(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    double.group(OFFICER_GROUP, "东湖社区工作群")
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.officer_chat_id = OFFICER_GROUP
    clock.set(datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI))
    iso = await seed_isolated(
        sessionmaker, clock, community, telegram_id=resident.id, name="张三",
        start=date(2022, 3, 10),
    )  # fmt: skip
    await resident.send("/start")
    clock.set(datetime(2022, 3, 10, 9, 1, tzinfo=SHANGHAI))
    await _run_tick(running_bot)
    prompts_before = len(double.messages(resident.id))

    # +20 days: the isolation (14 days) would end, 19 days would be marked missed.
    clock.set(datetime(2022, 3, 30, 9, 1, tzinfo=SHANGHAI))
    await _run_tick(running_bot)
    await _run_tick(running_bot)
    async with sessionmaker() as session:
        isolation = await session.get(Isolation, iso.isolation_id)
        days = list(await session.scalars(select(CheckIn.day).order_by(CheckIn.day)))
    assert isolation is not None and isolation.status == "active"
    assert days == [date(2022, 3, 10)]
    assert len(double.messages(resident.id)) == prompts_before  # no release message
    held = [m for m in double.messages(OFFICER_GROUP) if "停止运行" in (m.content or "")]
    assert len(held) == 1
    assert held[0].content == (
        "⚠️ 助手曾停止运行：2022-03-10 09:01 至 2022-03-30 09:01。\n"
        "这段时间没有发出打卡提醒，所以不会把这些天记为未打卡；期满的隔离也不会自动解除。\n"
        "有 1 人的居家隔离已到期，解除前需要确认。\n"
        "未发出的业主群每日通报：03-10、03-11、03-12、03-13、03-14、03-15、03-16、03-17、"
        "03-18、03-19、03-20、03-21、03-22、03-23、03-24、03-25、03-26、03-27、03-28、03-29。\n"
        "未发出的每日图表：03-10、03-11、03-12、03-13、03-14、03-15、03-16、03-17、"
        "03-18、03-19、03-20、03-21、03-22、03-23、03-24、03-25、03-26、03-27、03-28、03-29。\n"
        "请核实后点击“确认”，之后照常记录未打卡并解除期满的隔离。"
    )

    # A resident pressing the button (forged into the group) is refused.
    stranger = ChatUser(double, double.user(555_001, "路人"))
    data = double.inline_buttons(held[0])[0][0][1]
    assert data is not None
    await stranger.press_data(data, held[0], chat_id=OFFICER_GROUP, strict=False)
    assert stranger.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"

    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await officer.press("确认", message=held[0], chat_id=OFFICER_GROUP)
    assert replies[-1].content == (
        "✅ 王干事 已确认。下一次检查（一分钟内）将照常记录未打卡并解除期满的隔离。"
    )
    # Pressing the old button again changes nothing.
    stale = DowntimeCb(community_id=community.community_id, since=1).pack()
    await officer.press_data(stale, held[0], chat_id=OFFICER_GROUP, strict=False)
    assert officer.answer_of_last_press() == "这个确认已经处理过了。"

    await _run_tick(running_bot)
    async with sessionmaker() as session:
        isolation = await session.get(Isolation, iso.isolation_id)
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "community.resume")
        )
    assert isolation is not None and isolation.status == "released"
    assert audited is not None and audited.actor_telegram_id == OFFICER_ID
    assert "居家隔离期满" in (double.messages(resident.id)[-1].content or "")
