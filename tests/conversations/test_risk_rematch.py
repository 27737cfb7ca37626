"""Risk areas re-match what was already reported (R-RISK), over HTTP: a return reported
three days ago from "上海浦东" is isolated when 浦东 is declared a risk area today, once;
a city-only answer is asked for its district; a bulletin imported in English re-matches
a tenant report (an isolation proposal the officer starts from the case) and a gate
passage."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, GateEntry, Isolation, MonitoringEvent, Person, Report
from bot.double import BotApiDouble
from bot.presentation.callbacks import MonCaseCb
from bot.services import cases, reports
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity


async def test_new_risk_area_rematches_a_return_of_three_days_ago_once(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    head = await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("返乡报备")
    replies = await resident.send("上海浦东")
    assert "上海市浦东新区" in texts(replies)
    await resident.send("3月7日")
    await resident.press("火车")
    await resident.press("张三")
    await resident.press("选好了")
    replies = await resident.press("确认提交")
    assert "居家隔离" not in texts(replies)
    async with sessionmaker() as session:
        assert list(await session.scalars(select(Isolation))) == []

    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    replies = await officer.send("/risk add 浦东 高 3-5")
    assert texts(replies).splitlines()[-1] == (
        "🔁 已回溯匹配：1 份报备、0 次门岗登记，开始隔离 1 人，新建事件 1 个。"
    )
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation))
        assert isolation is not None and isolation.person_id == head
        assert isolation.start_date == date(2022, 3, 7)
        assert isolation.end_date == date(2022, 3, 20)
        report = await session.scalar(select(Report))
        assert report is not None and report.risk_level == "high"
        case = await session.scalar(select(Case).where(Case.kind == "risk_match"))
        assert case is not None and case.urgent and case.isolation_id == isolation.id
        assert case.compound_id == community.compound_ids["阳光花园"]
        assert case.details["summary"] == (
            "新增风险地区匹配到已报备的返回：张三 自 上海市浦东新区（高风险地区），"
            "2022-03-07 到达，2022-03-10 报备；已开始居家隔离"
        )
    await running_bot.drain()
    told = [m.content for m in double.messages(resident.id) if "风险地区" in (m.content or "")]
    assert told[-1] == (
        "您来自的地方已被列为风险地区，需居家隔离至 2022-03-20。\n请不要外出，每天健康打卡。"
    )
    # Once: the same place added again (backdated further) matches nothing new.
    replies = await officer.send("/risk add 上海浦东 高 3-1")
    assert "已回溯匹配" not in texts(replies)
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(Case)))) == 1
        assert len(list(await session.scalars(select(Isolation)))) == 1

    # A city with risk areas in some districts only: the resident is asked which.
    await resident.send("/report")
    await resident.press("返乡报备")
    replies = await resident.send("上海")
    assert texts(replies) == "上海市 只有部分区是风险地区，请选择具体的区："
    replies = await resident.press("浦东新区")
    assert "上海市浦东新区" in texts(replies)


async def test_english_bulletin_import_rematches_tenants_and_gate_passages(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident, member=None)
    async with sessionmaker.begin() as session:
        landlord = await session.scalar(
            select(Person).where(Person.telegram_user_id == resident.id)
        )
        assert landlord is not None
        await reports.submit_tenant(
            session, clock, running_bot.catalog, reporter=landlord, names=["刘租客", "陈租客"],
            origin_code="120116", move_in_date=date(2022, 3, 8), phone="13800000000",
        )  # fmt: skip
        session.add(
            GateEntry(
                compound_id=community.compound_ids["阳光花园"], direction="in",
                subject_kind="visitor", name="赵访客", origin_code="120116",
                temperature=Decimal("36.5"), at=datetime(2022, 3, 9, 2, 0, tzinfo=UTC),
            )
        )  # fmt: skip
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    replies = await officer.send(
        "/risk_import\n"
        "天津市 滨海新区 新港街道, 中风险, 2022-03-01, 2022-03-31\n"
        "火星 high 2022-03-01"
    )
    assert texts(replies) == (
        "✅ 1 risk area imported.\n"
        "🔁 Re-matched: 1 report and 1 gate passage; 0 isolations started, 2 new cases.\n"
        "⚠️ Line 2 “火星 high 2022-03-01”: "
        + running_bot.catalog.render("en", "risk.place_unknown", text="火星")
    )
    async with sessionmaker() as session:
        matched = list(
            await session.scalars(select(Case).where(Case.kind == "risk_match").order_by(Case.id))
        )
        assert [c.urgent for c in matched] == [True, False]
        tenant_case, gate_case = matched
        assert gate_case.compound_id == community.compound_ids["阳光花园"]
        assert gate_case.details["summary"] == (
            "新增风险地区匹配到门岗登记：赵访客 自 天津市滨海新区（中风险地区），2022-03-09 通行"
        )
        # An English-speaking officer reads both in English (place and level included).
        en = [
            (await cases.render_card(session, clock, running_bot.catalog, c, full=True,
                                     locale="en"))[0].splitlines()[-1]
            for c in matched
        ]  # fmt: skip
        assert en == [
            "Details: "
            + running_bot.catalog.render(
                "en", "monitoring.case_rematch_tenant", names=["刘租客", "陈租客"],
                origin="Binhai New Area, Tianjin", level="medium-risk area", arrival="2022-03-08",
                reported="2022-03-10",
            ),
            "Details: "
            + running_bot.catalog.render(
                "en", "monitoring.case_rematch_gate", who="赵访客",
                origin="Binhai New Area, Tianjin", level="medium-risk area", at="2022-03-09",
            ),
        ]  # fmt: skip
    # The tenant case proposes monitoring: the officer starts it from the case.
    await officer.send("/help")
    replies = await officer.press_data(
        MonCaseCb(case_id=tenant_case.id).pack(), officer.last(), strict=False
    )
    assert texts(replies[-1:]) == (
        f"Case #{tenant_case.id}: pick the monitoring category for 刘租客, 陈租客:"
    )
    await officer.press("home isolation")
    replies = await officer.send("tenants from a risk area")
    async with sessionmaker() as session:
        tenants = list(
            await session.scalars(
                select(Person).where(Person.relation == "tenant").order_by(Person.id)
            )
        )
        assert [p.name for p in tenants] == ["刘租客", "陈租客"]
    # The landlord answers for tenants without Telegram, so they are told through him.
    assert texts(replies) == "\n".join(
        f"✅ #{p.id} {p.name}: home isolation from 2022-03-10 to 2022-03-23 (monitored). "
        "They have been told."
        for p in tenants
    )
    async with sessionmaker() as session:
        events = list(await session.scalars(select(MonitoringEvent)))
        assert {e.source for e in events} == {f"case:{tenant_case.id}"}
    # A resident cannot press it.
    await resident.send("/help")
    await resident.press_data(
        MonCaseCb(case_id=tenant_case.id).pack(), resident.last(), strict=False
    )
    assert resident.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"


async def test_tipoff_case_asks_whom_and_expired_areas_leave_the_list(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    async with sessionmaker.begin() as session:
        reporter = await session.scalar(
            select(Person).where(Person.telegram_user_id == resident.id)
        )
        assert reporter is not None
        result = await reports.submit_tipoff(
            session, clock, running_bot.catalog, reporter=reporter, concern="return",
            about="101 的张奶奶", text="从外地回来没有报备",
        )  # fmt: skip
        assert result.case is not None
        case_id = result.case.id
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    await officer.send("/help")
    replies = await officer.press_data(
        MonCaseCb(case_id=case_id).pack(), officer.last(), strict=False
    )
    assert texts(replies[-1:]) == f"事件 #{case_id}：要对谁开始监测？请输入登记册中的姓名或编号。"
    # Pressed in the private chat already: no "please continue in your private chat" toast.
    assert officer.answer_of_last_press() is None
    replies = await officer.send("张奶奶")
    assert texts(replies) == f"事件 #{case_id}：为 张奶奶 选择监测类别："
    await officer.press("居家健康监测")
    replies = await officer.send("线索核实属实")
    async with sessionmaker() as session:
        grandma = await session.scalar(select(Person).where(Person.name == "张奶奶"))
        assert grandma is not None
    assert texts(replies) == (
        f"✅ #{grandma.id} 张奶奶：居家健康监测，2022-03-10 起至 2022-03-16（监测中）。已通知本人。"
    )
    # Risk areas expire by their end date: /risk list shows those in force only.
    await officer.send("/risk add 浦东 高 3-1 3-5")
    await officer.send("/risk add 滨海新区 中 3-1")
    listed = texts(await officer.send("/risk list"))
    assert "滨海新区" in listed and "浦东" not in listed


async def test_backdating_an_area_rematches_the_longer_window(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident, member=None)
    async with sessionmaker.begin() as session:
        head = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        assert head is not None
        await reports.submit_return(
            session, clock, running_bot.catalog, reporter=head, origin_code="310115",
            arrival_date=date(2022, 3, 3), transport="train", traveller_ids=[head.id],
        )  # fmt: skip
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    replies = await officer.send("/risk add 上海浦东 中 3-5")
    assert "已回溯匹配" not in texts(replies)
    async with sessionmaker() as session:
        from bot.db.models import RiskArea

        area = await session.scalar(select(RiskArea))
        assert area is not None
    replies = await officer.send(f"/risk from {area.id} 3-1")
    assert texts(replies) == (
        f"✅ 风险地区 #{area.id} 上海市浦东新区 改为 2022-03-01 起。\n"
        "🔁 已回溯匹配：1 份报备、0 次门岗登记，开始隔离 1 人，新建事件 1 个。"
    )
    assert "日期没能识别" in texts(await officer.send(f"/risk from {area.id} 昨天的昨天"))
    assert "没有找到编号为 999" in texts(await officer.send("/risk from 999 3-1"))
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation))
        assert isolation is not None and isolation.start_date == date(2022, 3, 3)
