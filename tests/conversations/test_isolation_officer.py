"""Officers over HTTP (R-ISO, R-END, R-ADM): settings, who is in isolation, today's
check-ins per compound, extend / end early / hospital with who and why."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Community, Isolation
from bot.double import BotApiDouble
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.isolation import seed_isolated

SHANGHAI = ZoneInfo("Asia/Shanghai")
ARRIVAL = date(2022, 3, 10)


def officer_of(double: BotApiDouble, language: str = "zh-hans") -> ChatUser:
    return ChatUser(double, double.user(OFFICER_ID, "王干事", language_code=language))


async def get_community(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> Community:
    async with sessionmaker() as session:
        found = await session.get(Community, community.community_id)
        assert found is not None
        return found


async def test_settings_shown_changed_validated_and_audited(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
) -> None:
    officer = officer_of(double)
    replies = await officer.send("/settings")
    assert "09:00" in texts(replies) and "37.3" in texts(replies) and "14" in texts(replies)
    assert "08:30" in texts(await officer.send("/set checkin_time 8:30"))
    assert "12:30, 19:00" in texts(await officer.send("/set reminder_times 19:00，12:30"))
    await officer.send("/set misses_for_case 3")
    await officer.send("/set fever_threshold 37,5")
    await officer.send("/set isolation_days 21")
    await officer.send("/set timezone America/New_York")
    for bad, expected in (
        ("/set checkin_time 25:00", "不是有效的时间"),
        ("/set fever_threshold 45", "37.0 到 39.0"),
        ("/set misses_for_case 0", "1 到 14"),
        ("/set timezone Mars/Base", "不是有效的时区"),
        ("/set colour blue", "没有名为 colour"),
        ("/set checkin_time", "用法"),
        ("/set timezone <b>x</b>", "“<b>x</b>”不是有效的时区"),
    ):
        assert expected in texts(await officer.send(bad)), bad
    c = await get_community(sessionmaker, community)
    assert c.checkin_time == time(8, 30)
    assert c.reminder_times == ["12:30", "19:00"]
    assert c.misses_for_case == 3 and c.fever_threshold == Decimal("37.5")
    assert c.isolation_days == 21 and c.timezone == "America/New_York"
    async with sessionmaker() as session:
        audits = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "community.setting")
            )
        )
    assert len(audits) == 6 and all(a.actor_telegram_id == OFFICER_ID for a in audits)
    # A resident cannot see or change them.
    assert "没有执行此操作的权限" in texts(await resident.send("/settings"))
    assert "没有执行此操作的权限" in texts(await resident.send("/set isolation_days 1"))
    assert (await get_community(sessionmaker, community)).isolation_days == 21


async def test_times_of_daily_posts_lists_and_charts_are_settings(
    running_bot: RunningBot,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
) -> None:
    officer = officer_of(double)
    for command, reply in (
        ("/set public_post_time 19:13", "✅ 已将 public_post_time 改为 19:13。"),
        ("/set coverage_list_time 7:45", "✅ 已将 coverage_list_time 改为 07:45。"),
        ("/set chart_time 21：30", "✅ 已将 chart_time 改为 21:30。"),
        ("/set chart_time 24:00", "“24:00”不是有效的时间，请用 HH:MM，例如 08:30。"),
        ("/set public_post_time 7pm", "“7pm”不是有效的时间，请用 HH:MM，例如 08:30。"),
    ):
        assert texts(await officer.send(command)) == reply, command
    c = await get_community(sessionmaker, community)
    assert (c.public_post_time, c.coverage_list_time, c.chart_time) == (
        time(19, 13),
        time(7, 45),
        time(21, 30),
    )
    shown = texts(await officer.send("/settings")).splitlines()
    assert shown[-5:-2] == [
        "public_post_time（业主群每日通报时间）：19:13",
        "coverage_list_time（网格员每日未排查清单时间）：07:45",
        "chart_time（工作群每日图表时间）：21:30",
    ]


async def test_lists_status_and_officer_actions(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    clock.set(datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI))
    iso = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=resident.id,
        name="<b>张三</b>",
        start=ARRIVAL,
        members=("张奶奶",),
    )
    other = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=None,
        name="李四",
        household="幸福里/A座/1单元/101",
        start=ARRIVAL,
    )
    await resident.send("/start")
    officer = officer_of(double)
    replies = await officer.send("/isolations")
    assert "3 人" in texts(replies) and "<b>张三</b>" in texts(replies)
    assert "&lt;b&gt;" in (replies[-1].raw_text or "")  # escaped, not bold
    assert "李四" not in texts(await officer.send("/isolations 阳光花园"))

    clock.set(datetime(2022, 3, 10, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    await resident.press("体温正常")
    replies = await officer.send("/checkins")
    status = texts(replies)
    assert "阳光花园：已打卡 1，待打卡 1，未打卡 0\n待打卡：<b>张三</b>" in status
    assert "幸福里：已打卡 0，待打卡 1" in status

    # Extend by 3 days, then mark the grandmother transferred to hospital.
    replies = await officer.send(f"/isolation {iso.person_id}")
    assert "2022-03-23" in texts(replies)
    card = replies[-1]
    # A resident forging the officer's button is refused.
    resident_card = resident.last()
    _, extend_data = officer.button_data("延长 3 天", card)
    await resident.press_data(extend_data, resident_card, strict=False)
    assert "没有执行此操作的权限" in (resident.answer_of_last_press() or "")
    replies = await officer.press("延长 3 天", card)
    # The card again under the confirmation, its buttons kept (no second /isolation).
    assert replies[-1].content == (
        "✅ 已将 #1 <b>张三</b> 的隔离延长至 2022-03-26。\n\n"
        "居家隔离 #1\n"
        f"人员：#{iso.person_id} <b>张三</b>\n"
        "住址：阳光花园 1栋 1单元 101\n"
        "第一天：2022-03-10，最后一天：2022-03-26（今天第 1 天）\n"
        "状态：隔离中"
    )
    assert [b["text"] for row in replies[-1].reply_markup["inline_keyboard"] for b in row] == [
        "➕ 延长 3 天", "➕ 延长 7 天", "⏹ 提前结束", "🏥 转送医院",
    ]  # fmt: skip
    assert "多人" in texts(await officer.send("/isolation 张"))
    replies = await officer.send("/isolation 张奶奶")
    await officer.press("转送医院", replies[-1])
    replies = await officer.send("确诊转入定点医院")
    assert "已转送医院" in texts(replies)
    assert "没有找到" in texts(await officer.send("/isolation 不存在的人"))
    replies = await officer.send(f"/isolation {other.person_id}")
    other_card = replies[-1]
    await officer.press("提前结束", other_card)
    await officer.send("核酸阴性，经专家评估")
    async with sessionmaker() as session:
        iso_row = await session.get(Isolation, iso.isolation_id)
        grandma = await session.get(Isolation, iso.member_isolation_ids[0])
        li = await session.get(Isolation, other.isolation_id)
        actions = [
            a.action
            for a in await session.scalars(
                select(AuditEntry).where(AuditEntry.actor_telegram_id == OFFICER_ID)
            )
        ]
    assert iso_row is not None and iso_row.end_date == date(2022, 3, 26)
    assert iso_row.status == "active"
    assert grandma is not None and grandma.status == "hospital"
    assert grandma.end_reason == "确诊转入定点医院" and grandma.ended_by_id is not None
    assert li is not None and li.status == "ended_early" and li.end_reason == "核酸阴性，经专家评估"
    assert {"isolation.extend", "isolation.hospital", "isolation.ended_early"} <= set(actions)
    # The old card's buttons no longer act on an ended isolation.
    await officer.press("延长 7 天", other_card)
    assert "已经结束" in (officer.answer_of_last_press() or "")
    replies = await officer.send(f"/isolation {other.person_id}")
    assert "没有找到" in texts(replies)
    # Released people are no longer listed.
    assert "2 人" not in texts(await officer.send("/isolations"))
    assert "1 人" in texts(await officer.send("/isolations"))


async def test_english_officer_views(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    officer = officer_of(double, "en")
    assert "No one is in home isolation" in texts(await officer.send("/isolations"))
    await seed_isolated(
        sessionmaker, clock, community, telegram_id=resident.id, name="张三", start=ARRIVAL
    )
    replies = await officer.send("/checkins")
    assert "Today's check-ins (2022-03-10)" in texts(replies)
    assert "not sent yet 1" in texts(replies)
    assert "isolation_days: 14" in texts(await officer.send("/settings"))
    assert "not valid" in texts(await officer.send("/set isolation_days 99"))
