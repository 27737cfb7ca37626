"""The gate knows who is monitored (R-GATE+), over HTTP: a passage by someone in home
isolation, or whose household is, warns the guard and raises an urgent case for the
compound's staff; health monitoring is allowed and logged; every gate case belongs to
the gate's compound (in /cases 阳光花园, grid workers named)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Case, Community, Compound, Person
from bot.double import BotApiDouble
from bot.services import cases, ledger
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GUARD_ID, OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person


async def _people(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
    resident_tg: int,
) -> dict[str, Person]:
    async with sessionmaker.begin() as session:
        home = community.household("阳光花园/1栋/1单元/101")
        other = community.household("阳光花园/2栋/1单元/201")
        return {
            "老李": await add_person(session, "老李", home, clock.now()),
            "小红": await add_person(session, "小红", home, clock.now()),
            "王五": await add_person(session, "王五", other, clock.now(), tg=resident_tg),
        }


async def _pass(guard: ChatUser, name: str, direction: str = "出") -> str:
    await guard.send("/gate")
    await guard.press("阳光花园 南门")
    await guard.press(direction)
    await guard.press("居民")
    await guard.send(name)
    await guard.press(name)
    return texts(await guard.send("36.5"))


async def test_guard_is_warned_and_staff_alerted(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    people = await _people(sessionmaker, community, clock, resident.id)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫", language_code="zh-hans"))
    await officer.send("/gate_add 阳光花园 南门")
    await officer.send(f"/monitor start {people['老李'].id} 居家隔离 密接")
    await officer.send(f"/monitor start {people['王五'].id} 居家健康监测 中风险区返回")

    text = await _pass(guard, "老李")
    assert text.splitlines()[:2] == [
        "⛔ 请拦下：老李 正在居家隔离，不得出入。",
        "已通知社区工作人员。",
    ]
    # A household member of someone in home isolation stays home too.
    text = await _pass(guard, "小红")
    assert text.splitlines()[:2] == [
        "⛔ 请拦下：小红 家中有人在居家隔离，不得出入。",
        "已通知社区工作人员。",
    ]
    # Health monitoring: allowed, logged.
    text = await _pass(guard, "王五")
    assert text.splitlines()[0] == "ℹ️ 王五 正在居家健康监测，可以外出购买必需品，已记录。"
    async with sessionmaker() as session:
        found = list(
            await session.scalars(
                select(Case).where(Case.kind == "gate_monitored").order_by(Case.id)
            )
        )
        assert len(found) == 2 and all(c.urgent for c in found)
        assert {c.compound_id for c in found} == {community.compound_ids["阳光花园"]}
        assert found[0].details["summary"] == (
            "老李 在 阳光花园 南门 登记➡️ 出，本人为居家隔离，不得外出"
        )
        assert found[1].details["summary"] == (
            "小红 在 阳光花园 南门 登记➡️ 出，同住家庭成员为居家隔离，不得外出"
        )
        routing = await cases.route(
            session, found[0].household_id, compound_id=found[0].compound_id
        )
        assert [w.name for w in routing.grid_workers] == ["李网格"]
        logged = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "gate.monitored"))
        )
        assert [(a.details["category"], a.details["forbidden"]) for a in logged] == [
            ("home_isolation", True), ("home_isolation", True), ("home_health", False),
        ]  # fmt: skip
    # A person in home health monitoring records by QR: allowed; a fever still alerts.
    async with sessionmaker() as session:
        from bot.db.models import Gate

        gate = await session.scalar(select(Gate))
        assert gate is not None
    await resident.send(f"/start gate_{gate.token}")
    await resident.press("出")
    replies = await resident.send("38.0")
    assert texts(replies) == (
        "✅ 已登记：阳光花园 南门 ➡️ 出。谢谢！\n"
        "体温 38.0℃。体温偏高，已通知社区工作人员，请配合门岗。"
    )


async def test_gate_fever_of_a_visitor_belongs_to_the_gates_compound(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    guard = ChatUser(double, double.user(GUARD_ID, "Guard Zhang", language_code="en"))
    await officer.send("/gate_add 阳光花园 南门")
    await guard.send("/gate")
    await guard.press("阳光花园 南门")
    await guard.press("Entry")
    await guard.press("Visitor")
    await guard.send("李四")
    await officer.send("/risk add 浦东 高 3-1")
    replies = await guard.send("上海")
    assert texts(replies) == (
        "Only some districts of Shanghai are risk areas: which district does the visitor "
        "come from? (e.g. “Shanghai Pudong”)"
    )
    await guard.send("shanghai pudong")
    replies = await guard.send("38.2")
    assert "Visitor from a risk area" in texts(replies)
    async with sessionmaker() as session:
        risk = await session.scalar(select(Case).where(Case.kind == "gate_risk"))
        assert risk is not None and risk.compound_id == community.compound_ids["阳光花园"]
        case = await session.scalar(select(Case).where(Case.kind == "gate_fever"))
        assert case is not None
        assert case.compound_id == community.compound_ids["阳光花园"]
        assert case.household_id is None
    replies = await officer.send("/cases 阳光花园")
    assert f"#{case.id} 门岗发热" in texts(replies)
    assert "阳光花园" in texts(replies)
    # In the compound's ledger, with its compound filled in.
    async with sessionmaker() as session:
        comm = await session.get(Community, community.community_id)
        comp = await session.get(Compound, community.compound_ids["阳光花园"])
        assert comm is not None and comp is not None
        day = date(2022, 3, 10)
        files = await ledger.export_ledger(
            session, clock, ledger.LedgerRequest(comm, day, day, comp),
            label=running_bot.catalog.translator("zh-CN"), directory=tmp_path,
        )  # fmt: skip
    sheet = load_workbook(files.xlsx)["事件"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    fever = [r for r in rows if r[0] == case.id]
    assert len(fever) == 1 and fever[0][2] == "门岗发热" and fever[0][5] == "阳光花园"
