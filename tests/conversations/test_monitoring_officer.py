"""Monitoring driven by officers over HTTP (R-CAT): start / change / extend / end with a
reason, the resident told each time, the history kept; a central hand-off stepping
down to home health monitoring; test days with a reminder, "done", and a missed-test
case; the rules per community; residents and forged buttons refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Isolation, MonitoringEvent, MonitoringTest
from bot.double import BotApiDouble
from bot.presentation.callbacks import MonTestCb
from bot.services import case_text
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person

SHANGHAI = ZoneInfo("Asia/Shanghai")


def officer_of(double: BotApiDouble, language: str = "zh-hans") -> ChatUser:
    return ChatUser(double, double.user(OFFICER_ID, "王干事", language_code=language))


async def _resident(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
    name: str,
    room: str,
    tg: int | None,
    language: str | None = None,
) -> int:
    async with sessionmaker.begin() as session:
        person = await add_person(
            session, name, community.household(f"阳光花园/1栋/1单元/{room}"), clock.now(), tg=tg
        )
        person.language = language
        return person.id


async def test_officer_starts_changes_extends_ends_and_the_resident_is_told(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    officer = officer_of(double)
    pid = await _resident(sessionmaker, community, clock, "小明", "102", resident.id)
    await resident.send("/help")  # Telegram only delivers to users who started the bot
    replies = await officer.send("/monitor start 小明 居家隔离 密接的密接")
    assert texts(replies) == (
        f"✅ #{pid} 小明：居家隔离，2022-03-10 起至 2022-03-23（监测中）。已通知本人。"
    )
    await running_bot.drain()
    assert resident.last().content == (
        "社区已将您列为居家隔离，2022-03-10 起至 2022-03-23。\n"
        "期间请不要外出，每天健康打卡。\n"
        "核酸检测：第 1、4、7 天。\n"
        "原因：密接的密接"
    )
    replies = await officer.send(f"/monitor extend {pid} 3 复查")
    assert texts(replies) == f"✅ #{pid} 小明 的居家隔离延长至 2022-03-26。已通知本人。"
    await running_bot.drain()
    assert resident.last().content == "您的居家隔离已延长至 2022-03-26。\n原因：复查"
    replies = await officer.send("/monitor change 小明 居家健康监测 风险降低")
    assert texts(replies) == (
        f"✅ #{pid} 小明 改为居家健康监测，2022-03-10 起至 2022-03-16。已通知本人。"
    )
    await running_bot.drain()
    assert resident.last().content == (
        "您的监测已调整为居家健康监测，2022-03-10 起至 2022-03-16。\n"
        "可以外出购买必需品，请每天健康打卡。\n"
        "原因：风险降低"
    )
    replies = await officer.send("/monitor end 小明 核酸阴性")
    assert texts(replies) == f"✅ #{pid} 小明 的居家健康监测已结束（已提前结束）。已通知本人。"
    await running_bot.drain()
    assert resident.last().content == "您的居家健康监测已结束（已提前结束）。\n原因：核酸阴性"
    replies = await officer.send(f"/monitor history {pid}")
    assert texts(replies) == (
        f"#{pid} 小明 的监测记录\n"
        "监测 #1：居家健康监测，2022-03-10 至 2022-03-16（已提前结束）\n"
        "• 2022-03-10 开始 居家隔离 至 2022-03-23：密接的密接\n"
        "• 2022-03-10 延长 居家隔离 至 2022-03-26：复查\n"
        "• 2022-03-10 调整类别 居家健康监测 至 2022-03-16：风险降低\n"
        "• 2022-03-10 结束 居家健康监测 至 2022-03-16：核酸阴性"
    )
    # Bad input gets a polite answer; a resident is refused.
    assert "不认识类别“火星”" in texts(await officer.send("/monitor start 小明 火星 原因"))
    assert "登记册中没有找到“张三丰”" in texts(
        await officer.send("/monitor start 张三丰 居家隔离 原因")
    )
    assert "目前不在监测中" in texts(await officer.send("/monitor end 小明 再次"))
    assert "/monitor start" in texts(await officer.send("/monitor"))
    assert "没有执行此操作的权限" in texts(await resident.send("/monitor start 小明 居家隔离 x"))
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation))
        assert isolation is not None and isolation.status == "ended_early"
        events = list(await session.scalars(select(MonitoringEvent).order_by(MonitoringEvent.id)))
        assert [e.action for e in events] == ["start", "extend", "change", "end"]


async def test_central_hand_off_steps_down_and_test_days(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    officer = officer_of(double)
    wang = await _resident(sessionmaker, community, clock, "老王", "201", resident.id)
    alice = await _resident(
        sessionmaker, community, clock, "Alice", "202", english_resident.id, "en"
    )
    await resident.send("/help")
    await english_resident.send("/help")
    clock.set(datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI))
    replies = await officer.send("/monitor start 老王 集中隔离 密接，已转运")
    assert texts(replies) == (
        f"✅ #{wang} 老王：集中隔离，2022-03-10 起至 2022-03-16（已转集中隔离）。已通知本人。"
    )
    replies = await officer.send("/monitor list 集中隔离")
    assert texts(replies) == (
        "监测中：1 人\n"
        f"• #{wang} 老王 阳光花园 1栋 1单元 201：集中隔离 2022-03-10～2022-03-16（已转集中隔离）"
    )
    await officer.send(f"/monitor start {alice} 居家隔离 from the list")
    # Day 1 of Alice's home isolation is a test day: a reminder at check-in time.
    clock.set(datetime(2022, 3, 10, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    reminder = [
        m for m in double.messages(english_resident.id) if "test is due" in (m.content or "")
    ]
    assert [m.content for m in reminder] == [
        "🧪 Today is day 1 of home isolation: a test is due.\n"
        "Press the button below once it is done."
    ]
    # Someone else cannot press it; Alice can, once.
    async with sessionmaker() as session:
        test = await session.scalar(select(MonitoringTest))
        assert test is not None
    await resident.press_data(MonTestCb(test_id=test.id).pack(), resident.last(), strict=False)
    assert resident.answer_of_last_press()
    replies = await english_resident.press("✅ Test done", reminder[0])
    assert texts(replies[-1:]) == "✅ Recorded: Alice, test of day 1 done."
    # 老王 is handed off: no check-in prompt for him.
    assert not [
        m
        for m in double.messages(resident.id)
        if "打卡" in (m.content or "") and "体温" in (m.content or "")
    ]
    # Day 4 for Alice: not answered → a missed-test case the next day, once.
    clock.set(datetime(2022, 3, 13, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    clock.set(datetime(2022, 3, 14, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    await tick(running_bot.application.job_context())
    async with sessionmaker() as session:
        missed = list(await session.scalars(select(Case).where(Case.kind == "missed_test")))
        assert len(missed) == 1 and missed[0].subject_id == alice
        assert missed[0].details["summary"] == "居家隔离第 4 天（2022-03-13）未登记核酸检测"
        assert (
            case_text.summary_text(running_bot.catalog, "en", missed[0].details)
            == "home isolation day 4 (2022-03-13): no test recorded"
        )
        assert missed[0].compound_id == community.compound_ids["阳光花园"]
    # The end of central quarantine: 老王 steps down to home health monitoring (3 days).
    clock.set(datetime(2022, 3, 17, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation).where(Isolation.person_id == wang))
        assert isolation is not None
        assert (isolation.category, isolation.status) == ("home_health", "active")
        assert isolation.start_date.isoformat() == "2022-03-10"
        assert isolation.category_start is not None
        assert isolation.category_start.isoformat() == "2022-03-17"
        assert isolation.end_date.isoformat() == "2022-03-19"
        events = list(
            await session.scalars(
                select(MonitoringEvent)
                .where(MonitoringEvent.isolation_id == isolation.id)
                .order_by(MonitoringEvent.id)
            )
        )
        assert [(e.action, e.category_from, e.category_to) for e in events] == [
            ("start", None, "central"),
            ("step_down", "central", "home_health"),
        ]
    told = [m.content for m in double.messages(resident.id) if "隔离期已满" in (m.content or "")]
    assert told == [
        "隔离期已满，转为居家健康监测，至 2022-03-19。\n可以外出购买必需品，请继续每天健康打卡。\n"
        "核酸检测：第 3、7 天。"
    ]
    replies = await officer.send("/monitor list")
    assert texts(replies) == (
        "监测中：2 人\n"
        f"• #{wang} 老王 阳光花园 1栋 1单元 201：居家健康监测 2022-03-17～2022-03-19（监测中）\n"
        f"• #{alice} Alice 阳光花园 1栋 1单元 202：居家隔离 2022-03-10～2022-03-23（监测中）"
    )
    # And it ends with the usual release after its last day.
    clock.set(datetime(2022, 3, 20, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation).where(Isolation.person_id == wang))
        assert isolation is not None and isolation.status == "released"


async def test_rules_per_community(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    resident: ChatUser,
) -> None:
    officer = officer_of(double)
    replies = await officer.send("/monitor rules")
    assert texts(replies) == (
        "监测类别与规则\n"
        "• 集中隔离（central）：7 天，不得外出，期满转居家健康监测 3 天\n"
        "• 居家隔离（home_isolation）：14 天，不得外出，第 1、4、7 天核酸\n"
        "• 居家健康监测（home_health）：7 天，可外出购买必需品，第 3、7 天核酸\n"
        "• 日常健康监测（daily_health）：3 天，可外出购买必需品，第 1、3 天核酸"
    )
    replies = await officer.send("/monitor rule 居家隔离 days=7 then=居家健康监测 then_days=7")
    assert (
        "• 居家隔离（home_isolation）：7 天，不得外出，第 1、4、7 天核酸，期满转居家健康监测 7 天"
        in texts(replies)
    )
    assert "写法" in texts(await officer.send("/monitor rule 居家隔离 days=abc"))
    assert "没有执行此操作的权限" in texts(await resident.send("/monitor rules"))


async def test_english_officer_in_bulk_and_the_isolation_card_tells_the_resident(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    officer = officer_of(double, "en")
    alice = await _resident(
        sessionmaker, community, clock, "Alice", "101", english_resident.id, "en"
    )
    bob = await _resident(sessionmaker, community, clock, "Bob", "102", None)
    await english_resident.send("/help")
    replies = await officer.send(f"/monitor start {alice} home_health from the CDC list")
    assert texts(replies) == (
        f"✅ #{alice} Alice: home health monitoring from 2022-03-10 to 2022-03-16 (monitored). "
        "They have been told."
    )
    await running_bot.drain()
    assert english_resident.last().content == (
        "The community has placed you under home health monitoring from 2022-03-10 to "
        "2022-03-16.\nGoing out for essentials is allowed; please check in every day.\n"
        "Tests on day 3, 7.\nReason: from the CDC list"
    )
    await officer.send(f"/monitor start {bob} home_isolation close contact")
    # In bulk: both extended at once; an unknown one is reported, not fatal.
    replies = await officer.send(f"/monitor extend {alice},{bob},Nobody 2 lab result pending")
    assert texts(replies) == (
        f"✅ The home health monitoring of #{alice} Alice now ends on 2022-03-18. "
        "They have been told.\n"
        f"✅ The home isolation of #{bob} Bob now ends on 2022-03-25. "
        "They have no Telegram: the grid worker should tell them in person.\n"
        "⚠️ Nobody: No one in the register matches “Nobody”."
    )
    await running_bot.drain()
    assert english_resident.last().content == (
        "The home health monitoring has been extended to 2022-03-18.\nReason: lab result pending"
    )
    # The /isolation card's buttons tell the resident too.
    await officer.send(f"/isolation {alice}")
    await officer.press("Extend 3 days")
    await running_bot.drain()
    assert english_resident.last().content == (
        "The home health monitoring has been extended to 2022-03-21."
    )


async def test_a_name_of_several_words_and_several_matches(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """QA: `/monitor start Li Ming …` matched on "Li" only. The whole name counts (as it is,
    up to the category, or quoted); several matches get a clear answer in both languages."""
    officer = officer_of(double, "en")
    ming = await _resident(sessionmaker, community, clock, "Li Ming", "102", None)
    hua = await _resident(sessionmaker, community, clock, "Li Hua", "201", None)
    replies = await officer.send("/monitor start Li Ming home_isolation close contact")
    assert texts(replies) == (
        f"✅ #{ming} Li Ming: home isolation from 2022-03-10 to 2022-03-23 (monitored). "
        "They have no Telegram: the grid worker should tell them in person."
    )
    replies = await officer.send('/monitor start "Li Hua" home_health contact')
    assert texts(replies).startswith(f"✅ #{hua} Li Hua: home health monitoring from 2022-03-10")
    replies = await officer.send("/monitor extend Li Ming 3 second test")
    assert texts(replies) == (
        f"✅ The home isolation of #{ming} Li Ming now ends on 2022-03-26. They have no "
        "Telegram: the grid worker should tell them in person."
    )
    assert texts(await officer.send("/monitor history Li Ming")) == (
        f"Monitoring record of #{ming} Li Ming\n"
        "Monitoring #1: home isolation, 2022-03-10 to 2022-03-26 (monitored)\n"
        "• 2022-03-10 started home isolation until 2022-03-23: close contact\n"
        "• 2022-03-10 extended home isolation until 2022-03-26: second test"
    )
    replies = await officer.send("/monitor end Li extra")
    assert texts(replies) == (
        "Several people match “Li”. Send the command again with the number (#) of the right "
        f"person instead of the name, e.g. {ming}:\n"
        f"• #{ming} Li Ming 阳光花园 1栋 1单元 102\n"
        f"• #{hua} Li Hua 阳光花园 1栋 1单元 201"
    )
    first = await _resident(sessionmaker, community, clock, "张伟", "102", None)
    second = await _resident(sessionmaker, community, clock, "张伟", "201", None)
    await _resident(sessionmaker, community, clock, "张伟国", "201", None)
    zh = ChatUser(double, double.user(OFFICER_ID + 1000, "x"))  # not an officer: refused
    assert "没有执行此操作的权限" in texts(await zh.send("/monitor start 张伟 居家隔离 x"))
    replies = await officer_of(double).send("/monitor start 张伟 居家隔离 密接")
    assert texts(replies) == (
        "有多人符合“张伟”。请把姓名换成对应人员的编号（#后的数字）再发一次，"
        f"例如 {first}：\n"
        f"• #{first} 张伟 阳光花园 1栋 1单元 102\n"
        f"• #{second} 张伟 阳光花园 1栋 1单元 201\n"
        f"• #{second + 1} 张伟国 阳光花园 1栋 1单元 201"
    )
