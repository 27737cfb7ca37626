"""Assignment lists over HTTP (R-CAT): an officer sends the list received from the CDC
(XLSX or CSV), reviews matched / ambiguous / not found before anything starts, picks
the household of an ambiguous row, confirms; unresolved people become cases for the
grid worker. Acceptance: 200 people with 10 ambiguous and 5 unknown."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, ImportBatch, Isolation, Person
from bot.double import BotApiDouble
from bot.presentation.callbacks import ImportCb
from bot.services import case_text
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity, register_rows
from tests.support.ledger_rows import add_person

HEADER = ["姓名", "电话", "身份证后四位", "地址", "类别", "开始日期", "来源"]


def _rows() -> list[list[str]]:
    homes = [f"{r['compound']}{r['building']}{r['unit']}{r['room']}室" for r in register_rows()]
    categories = ["居家隔离"] * 6 + ["居家健康监测", "集中隔离"]
    rows = [["小明", "139-0000-0001", "", "阳光花园 1栋 1单元 102", "居家隔离", "2022-03-09",
             "区疾控"]]  # fmt: skip
    for i in range(2, 186):
        rows.append(
            [f"人员{i}", f"1380000{i:04d}", "1234", homes[i % len(homes)],
             categories[i % len(categories)], "2022-03-09", "区疾控"]
        )  # fmt: skip
    for i in range(10):  # the unit is missing: 1单元 101 or 2单元 101?
        rows.append([f"待定{i}", "", "", "阳光花园1号楼101室", "居家隔离", "2022-03-09", "街道"])
    for i in range(3):  # a room the register does not have
        rows.append([f"新住户{i}", "", "", "阳光花园1栋1单元909", "居家隔离", "", "街道"])
    for i in range(2):  # a compound that is not ours
        rows.append([f"外来{i}", "", "", "明月小区3栋2单元101", "居家隔离", "", "街道"])
    return rows


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _send_file(
    double: BotApiDouble, user: ChatUser, name: str, content: bytes, caption: str | None
) -> list[object]:
    mark = double.mark()
    update = double.send_document(user.user, name, content, caption=caption)
    await double.wait_processed(update, timeout=30)
    return user.replies_since(mark, user.id)  # type: ignore[return-value]


async def test_officer_imports_200_people_with_review(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        xm = await add_person(
            session, "小明", community.household("阳光花园/1栋/1单元/102"), clock.now(),
            tg=resident.id,
        )  # fmt: skip
        xm.phone = "13900000001"
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    assert "请发送协查名单文件" in texts(await officer.send("/monitor import"))
    replies = await _send_file(double, officer, "协查名单.xlsx", _xlsx(_rows()), None)
    shown = [m.content for m in replies]  # type: ignore[attr-defined]
    assert shown[0] == (
        "名单核对：协查名单.xlsx（共 200 人）\n"
        "✅ 已匹配：185\n"
        "❓ 待确认：10\n"
        "🚫 登记册中没有：5\n"
        "⚠️ 信息不全：0\n"
        "确认前不会开始任何监测。\n"
        "需要处理的行\n"
        "• 第 196 行 新住户0 阳光花园1栋1单元909：登记册中没有\n"
        "• 第 197 行 新住户1 阳光花园1栋1单元909：登记册中没有\n"
        "• 第 198 行 新住户2 阳光花园1栋1单元909：登记册中没有\n"
        "• 第 199 行 外来0 明月小区3栋2单元101：登记册中没有\n"
        "• 第 200 行 外来1 明月小区3栋2单元101：登记册中没有"
    )
    ambiguous = shown[1:11]
    assert ambiguous[0] == "❓ 第 186 行 待定0（阳光花园1号楼101室）可能是下面哪一户？"
    assert len(ambiguous) == 10 and shown[11] == (
        "确认后：185 人开始监测；待确认和登记册中没有的 15 人交网格员上门核实。"
    )
    async with sessionmaker() as session:
        # Nothing has started before the review is confirmed.
        assert await session.scalar(select(func.count()).select_from(Isolation)) == 0
    # The officer resolves one ambiguous row: it is 2单元 101.
    first = replies[1]
    assert [t for row in double.inline_buttons(first) for t, _ in row] == [  # type: ignore[arg-type]
        "阳光花园 1栋 1单元 101",
        "阳光花园 1栋 2单元 101",
    ]
    picked = await officer.press("阳光花园 1栋 2单元 101", first)  # type: ignore[arg-type]
    assert texts(picked[-1:]) == "✅ 第 186 行 待定0 确认为 阳光花园 1栋 2单元 101。"
    # A resident pressing a forged button is refused.
    async with sessionmaker() as session:
        batch = await session.scalar(select(ImportBatch))
        assert batch is not None
    await resident.send("/help")
    await resident.press_data(
        ImportCb(action="apply", batch_id=batch.id).pack(), resident.last(), strict=False
    )
    assert resident.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"
    done = await officer.press("✅ 开始 185 人监测")
    assert texts(done[-1:]) == (
        "✅ 已开始监测 186 人，调整类别 0 人，跳过 0 人；交网格员核实 14 人。"
    )
    again = await officer.press_data(
        ImportCb(action="apply", batch_id=batch.id).pack(), officer.last(), strict=False
    )
    del again
    assert officer.answer_of_last_press() == "这份名单已经处理过了。"
    async with sessionmaker() as session:
        isolations = list(await session.scalars(select(Isolation)))
        assert len(isolations) == 186
        mine = [i for i in isolations if i.person_id == xm.id]
        assert len(mine) == 1 and mine[0].category == "home_isolation"
        assert sorted({i.category for i in isolations}) == [
            "central", "home_health", "home_isolation",
        ]  # fmt: skip
        assert {i.status for i in isolations if i.category == "central"} == {"handed_off"}
        new_member = await session.scalar(select(Person).where(Person.name == "待定0"))
        assert new_member is not None
        assert new_member.household_id == community.household("阳光花园/1栋/2单元/101")
        cases = list(
            await session.scalars(
                select(Case).where(Case.kind == "not_in_register").order_by(Case.id)
            )
        )
        assert len(cases) == 14
        unknown_here = [c for c in cases if "新住户" in c.details["summary"]]
        assert len(unknown_here) == 3
        # Routed to the building's grid (its grid worker is named on the card).
        assert {c.grid_id for c in unknown_here} == {community.grid_ids["第一网格"]}
        assert unknown_here[0].details["summary"] == (
            "协查名单：新住户0 ，地址“阳光花园1栋1单元909”不在登记册中，类别居家隔离。"
            "不在登记册：请上门核实并登记（来源：街道）"
        )
        assert case_text.summary_text(running_bot.catalog, "en", unknown_here[0].details) == (
            "Assignment list: 新住户0 , address “阳光花园1栋1单元909” is not in the register, "
            "category home isolation. Not in the register: please visit and register (source: 街道)"
        )
        foreign = [c for c in cases if "外来" in c.details["summary"]]
        assert len(foreign) == 2 and {c.compound_id for c in foreign} == {None}
    # 小明 (matched by phone) was told; so was he for the new members of his household
    # who have no Telegram.
    await running_bot.drain()
    told = [m.content for m in double.messages(resident.id) if "社区已将您" in (m.content or "")]
    assert told[0] == (
        "社区已将您列为居家隔离，2022-03-09 起至 2022-03-22。\n"
        "期间请不要外出，每天健康打卡。\n"
        "核酸检测：第 1、4、7 天。\n"
        "原因：区疾控"
    )


async def test_english_officer_imports_a_csv(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    await officer.send("/language")
    csv_text = (
        "name,phone,address,category,start,source\n"
        "Li Lei,13800001111,幸福里 A座 1单元 101,home_health,,CDC\n"
        "Han Meimei,,Nowhere 1-1-1,home_isolation,,CDC\n"
        ",,幸福里 A座 1单元 102,home_isolation,,CDC\n"
    )
    replies = await _send_file(
        double, officer, "list.csv", csv_text.encode("gb18030"), "/monitor import"
    )
    shown = [m.content for m in replies]  # type: ignore[attr-defined]
    assert shown[0] == (
        "Review of the list list.csv (3 people)\n"
        "✅ Matched: 1\n"
        "❓ To confirm: 0\n"
        "🚫 Not in the register: 1\n"
        "⚠️ Incomplete: 1\n"
        "Nothing starts before you confirm.\n"
        "Rows to look at\n"
        "• Row 2 Han Meimei Nowhere 1-1-1: not in the register\n"
        "• Row 3  幸福里 A座 1单元 102: incomplete"
    )
    bad = await _send_file(double, officer, "list.pdf", b"%PDF", "/monitor import")
    assert [m.content for m in bad] == ["Only CSV or XLSX files are accepted."]  # type: ignore[attr-defined]
