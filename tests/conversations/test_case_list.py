"""/cases with buttons and pages, /case N, and case texts in the reader's language (R-ESC,
R-RBAC, R-I18N): driven over HTTP through the Bot API double, both locales."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Case, CaseKind
from bot.double import BotApiDouble, SentMessage
from bot.services import cases
from bot.services.directory import import_register
from messages import Catalog
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import (
    GRID_WORKER_ID,
    GUARD_ID,
    OFFICER_ID,
    VOLUNTEER_ID,
    SeededCommunity,
)

USE_PRIVATE = (
    "Please use this in a private chat with the bot (personal data is never shown in groups)."
)
EXPIRED = "这个按钮已失效，请重新开始操作（例如发送 /start）。"
# 1栋 is 第一网格 (李网格's), 2栋 第二网格, 幸福里 第三网格 (tests/support/community.py).
FIRST_GRID_ROOMS = [
    f"阳光花园/1栋/{unit}/{floor}0{door}"
    for unit in ("1单元", "2单元")
    for floor in (1, 2, 3)
    for door in (1, 2)
]


async def _open(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community_id: int,
    household_id: int | None,
    *,
    kind: CaseKind = CaseKind.MISSED_CHECKIN,
    urgent: bool = False,
    details: dict[str, Any] | None = None,
) -> int:
    async with sessionmaker.begin() as session:
        case = await cases.open_case(
            session, clock, catalog, community_id=community_id, kind=kind, urgent=urgent,
            household_id=household_id, details=details,
        )  # fmt: skip
        return case.id


async def _fourteen_cases(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    """#1 urgent (a fever at check-in), #2–#12 the rest of 1栋, #13 2栋, #14 幸福里."""
    rooms = [*FIRST_GRID_ROOMS, "阳光花园/2栋/1单元/101", "幸福里/A座/1单元/101"]
    for n, room in enumerate(rooms):
        await _open(
            sessionmaker, clock, catalog, community.community_id, community.household(room),
            kind=CaseKind.FEVER if n == 0 else CaseKind.MISSED_CHECKIN, urgent=n == 0,
            details={"summary": "旧数据：只有文字"} if n == 0 else None,
        )  # fmt: skip


def _labels(double: BotApiDouble, message: SentMessage) -> list[list[str]]:
    return [[text for text, _ in row] for row in double.inline_buttons(message)]


def _row(n: int, place: str = "阳光花园 1栋") -> str:
    return f"#{n} 未按时健康打卡 · 待处理 · 2022-03-10 09:00 · {place}"


async def test_cases_list_pages_buttons_and_card_zh(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await _fourteen_cases(sessionmaker, clock, catalog, community)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    [listing] = await officer.send("/cases")
    assert listing.content == "\n".join(
        [
            "未办结事件（共 14 个） · 第 1/2 页",
            "🚨 #1 打卡发热 · 待处理 · 2022-03-10 09:00 · 阳光花园 1栋",
            *(_row(n) for n in range(2, 11)),
            "点下方按钮查看事件卡片。",
        ]
    )
    assert _labels(double, listing) == [
        ["🚨 #1 打卡发热 · 阳光花园 1栋"],
        *([f"#{n} 未按时健康打卡 · 阳光花园 1栋"] for n in range(2, 11)),
        ["下一页 ▶"],
    ]
    # ▶ edits the list in place: the last four, and ◀ back
    await officer.press("下一页 ▶", listing)
    listing = officer.last()
    assert listing.content == "\n".join(
        [
            "未办结事件（共 14 个） · 第 2/2 页",
            *(_row(n) for n in (11, 12)),
            _row(13, "阳光花园 2栋"),
            _row(14, "幸福里 A座"),
            "点下方按钮查看事件卡片。",
        ]
    )
    assert _labels(double, listing) == [
        ["#11 未按时健康打卡 · 阳光花园 1栋"],
        ["#12 未按时健康打卡 · 阳光花园 1栋"],
        ["#13 未按时健康打卡 · 阳光花园 2栋"],
        ["#14 未按时健康打卡 · 幸福里 A座"],
        ["◀ 上一页"],
    ]
    assert len(double.messages(OFFICER_ID)) == 1  # edited, not sent again
    # a case button opens its whole card below the list, with its action buttons; an
    # old row that has only text shows that text
    await officer.press("◀ 上一页", listing)
    replies = await officer.press("🚨 #1 打卡发热 · 阳光花园 1栋", officer.last())
    assert [m.content for m in replies] == [
        "🚨 紧急 #1 打卡发热\n状态：待处理\n时间：2022-03-10 09:00\n住址：阳光花园 1栋 1单元 101\n"
        "网格员：李网格\n情况：旧数据：只有文字"
    ]
    assert _labels(double, replies[0]) == [["👀 已知悉", "🙋 我来处理", "✅ 办结"]]
    # the card's buttons work as on the officers' chat card
    await officer.press("我来处理", replies[0])
    assert officer.last().content.startswith("🚨 紧急 #1 打卡发热\n状态：处理中\n")
    # filters are kept across pages: 第一网格 has 12 open cases
    [listing] = await officer.send("/cases 第一网格")
    assert listing.content.startswith("未办结事件（共 12 个） · 第 1/2 页\n🚨 #1 打卡发热 · 处理中")
    await officer.press("下一页 ▶", listing)
    assert officer.last().content == "\n".join(
        ["未办结事件（共 12 个） · 第 2/2 页", _row(11), _row(12), "点下方按钮查看事件卡片。"]
    )
    async with sessionmaker() as session:
        reads = list(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.in_(["read.cases", "case.read"]))
            )
        )
    assert reads.count("read.cases") == 5 and reads.count("case.read") == 1


async def test_grid_worker_list_and_forged_buttons(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await _fourteen_cases(sessionmaker, clock, catalog, community)
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    [listing] = await grid.send("/cases")
    # 第一网格 only: 12 cases, #13 (2栋) and #14 (幸福里) are not theirs
    assert listing.content.startswith("未办结事件（共 12 个） · 第 1/2 页\n")
    await grid.press("下一页 ▶", listing)
    listing = grid.last()
    assert _labels(double, listing) == [
        ["#11 未按时健康打卡 · 阳光花园 1栋"],
        ["#12 未按时健康打卡 · 阳光花园 1栋"],
        ["◀ 上一页"],
    ]
    # forged: a case of another grid, a number never used, a bad filter, nonsense
    for data, answer in (
        ("co:13", "没有找到事件 #13。"),
        ("co:99999", "没有找到事件 #99999。"),
        ("co:99999999999999999999999", EXPIRED),
        ("cl:0:explode:", EXPIRED),
        ("cl:0::x1", EXPIRED),
    ):
        await grid.press_data(data, listing, strict=False)
        assert grid.answer_of_last_press() == answer, data
    # a filter of another community's place ids lists nothing of theirs
    await grid.press_data("cl:0::c999", listing, strict=False)
    assert grid.last().content == "目前没有未办结的事件。"
    # a resident (no staff role) pressing the same buttons, and a guard
    await resident.send("/help")
    for user in (resident, ChatUser(double, double.user(GUARD_ID, "张门卫"))):
        await user.send("/help")
        for data in ("co:1", "cl:1::"):
            await user.press_data(data, user.last(), strict=False)
            assert user.answer_of_last_press() == "抱歉，您没有执行此操作的权限。", data


async def test_case_command_in_and_out_of_scope_zh(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await _fourteen_cases(sessionmaker, clock, catalog, community)
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    [card] = await grid.send("/case 12")
    assert card.content == (
        "#12 未按时健康打卡\n状态：待处理\n时间：2022-03-10 09:00\n住址：阳光花园 1栋 2单元 302\n"
        "网格员：李网格"
    )
    assert _labels(double, card) == [["👀 已知悉", "🙋 我来处理", "✅ 办结"]]
    assert texts(await grid.send("/case #12")) == card.content
    for typed, answer in (
        ("/case 13", "没有找到事件 #13。"),  # 2栋: another grid, same words as never used
        ("/case 99999", "没有找到事件 #99999。"),
        ("/case", "请在 /case 后面写事件编号，例如 /case 12（/cases 可查看未办结事件）。"),
        ("/case abc", "“abc”不是事件编号，请写数字，例如 /case 12。"),
        ("/case -3", "“-3”不是事件编号，请写数字，例如 /case 12。"),
    ):
        assert texts(await grid.send(typed)) == answer, typed
    # residents, guards and volunteers do not read cases
    await resident.send("/help")
    for user in (
        resident,
        ChatUser(double, double.user(GUARD_ID, "张门卫")),
        ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿")),
    ):
        assert texts(await user.send("/case 1")) == "抱歉，您没有执行此操作的权限。"
    # the officer of the community reads #13 and #14
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    assert texts(await officer.send("/case 14")).startswith("#14 未按时健康打卡\n")


async def test_gate_fever_read_in_english_and_other_community_hidden(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """A gate fever in a Chinese community: the guard's flow stores key + params, so the
    English officer reads it in English (the stored text, for the ledger, is Chinese)."""
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    await officer.send("/language")
    await officer.press("English")
    replies = await officer.send("/gate_add 阳光花园 南门")
    assert "南门" in texts(replies)
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫"))
    await guard.send("/gate")
    await guard.press("阳光花园 南门")
    await guard.press("进")
    await guard.press("访客")
    await guard.send("李四")
    await guard.send("北京朝阳")
    replies = await guard.send("38.6")
    assert "紧急" in texts(replies)
    async with sessionmaker() as session:
        case = await session.scalar(select(Case).where(Case.kind == "gate_fever"))
        assert case is not None
        assert case.details["summary"] == "李四 体温 38.6 °C，阳光花园 南门"
        case_id = case.id
    [card] = await officer.send(f"/case {case_id}")
    assert card.content == (
        f"🚨 URGENT #{case_id} Fever at the gate\nStatus: Open\nTime: 2022-03-10 09:00\n"
        "Place: 阳光花园\nGrid worker: 李网格\nDetails: 李四: 38.6 °C at 阳光花园 南门"
    )
    [listing] = await officer.send("/cases")
    assert listing.content == (
        f"Open cases (1)\n🚨 #{case_id} Fever at the gate · Open · 2022-03-10 09:00 · 阳光花园\n"
        "Press a case to open its card."
    )
    assert _labels(double, listing) == [[f"🚨 #{case_id} Fever at the gate · 阳光花园"]]
    # another community's case: the same words as a number never used
    async with sessionmaker.begin() as session:
        other = await import_register(
            session, clock, community_name="西湖社区", timezone="Asia/Shanghai",
            rows=[{"compound": "月光小区", "building": "1栋", "unit": "1单元", "room": "101",
                   "grid": "西一网格"}],
        )  # fmt: skip
        other_id = other.community.id
    other_case = await _open(sessionmaker, clock, catalog, other_id, None, urgent=True)
    for typed, answer in (
        (f"/case {other_case}", f"Case #{other_case} not found."),
        ("/case 99999", "Case #99999 not found."),
        ("/case", "Send /case and the case number, e.g. /case 12 (/cases lists the open ones)."),
        ("/case abc", "“abc” is not a case number. Send it as digits, e.g. /case 12."),
    ):
        assert texts(await officer.send(typed)) == answer, typed
    await officer.press_data(f"co:{other_case}", listing, strict=False)
    assert officer.answer_of_last_press() == f"Case #{other_case} not found."


async def test_cases_in_the_officers_chat_are_anonymised(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """/cases in the community's officers' chat: in the community's language, its
    buttons post the anonymised card there; any other group is told to use a private
    chat, and a list button forged in another group is refused."""
    officers_chat = double.group(-1009001, "东湖社区工作群")
    owners_group = double.group(-1009002, "阳光花园业主群")
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    await officer.send("/language")
    await officer.press("English")
    await officer.send("/officers_here", chat=officers_chat)
    await _fourteen_cases(sessionmaker, clock, catalog, community)
    [listing] = await officer.send("/cases 第二网格", chat=officers_chat)
    assert listing.content == (
        "未办结事件（共 1 个）\n#13 未按时健康打卡 · 待处理 · 2022-03-10 09:00 · 阳光花园 2栋\n"
        "点下方按钮查看事件卡片。"
    )
    replies = await officer.press("#13", listing)
    assert [m.content for m in replies] == [
        "#13 未按时健康打卡\n状态：待处理\n时间：2022-03-10 09:00\n位置：阳光花园 2栋\n"
        "网格员：未指定\n人员和详细情况不在群里显示，请点“详情”在私聊中查看。"
    ]
    assert _labels(double, replies[0]) == [
        ["👀 已知悉", "🙋 我来处理", "✅ 办结"],
        ["🔒 详情（私聊）"],
    ]
    # a resident in the officers' chat presses the list's buttons: refused
    await resident.press_data("co:13", listing, strict=False, chat_id=officers_chat.id)
    assert resident.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"
    # an owners' group never lists cases, nor shows a card from a forged button
    [hint] = await officer.send("/cases", chat=owners_group)
    assert hint.content == USE_PRIVATE
    await officer.press_data("co:13", hint, strict=False)
    assert officer.answer_of_last_press() == USE_PRIVATE
    await officer.press_data("cl:0::", hint, strict=False)
    assert officer.answer_of_last_press() == USE_PRIVATE
    assert double.messages(owners_group.id) == [hint]


async def test_cases_pages_in_english(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """An English officer's list: their language, 10 a page, ◀ ▶ edit it in place."""
    for room in [*FIRST_GRID_ROOMS[:10], "阳光花园/2栋/1单元/101"]:
        await _open(sessionmaker, clock, catalog, community.community_id, community.household(room))
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    await officer.send("/language")
    await officer.press("English")
    row = "#{} Missed health check-ins · Open · 2022-03-10 09:00 · 阳光花园 {}"
    [listing] = await officer.send("/cases")
    assert listing.content == "\n".join(
        [
            "Open cases (11) · page 1 of 2",
            *(row.format(n, "1栋") for n in range(1, 11)),
            "Press a case to open its card.",
        ]
    )
    assert _labels(double, listing)[-1] == ["Next ▶"]
    assert _labels(double, listing)[0] == ["#1 Missed health check-ins · 阳光花园 1栋"]
    await officer.press("Next ▶", listing)
    listing = officer.last()
    assert listing.content == (
        "Open cases (11) · page 2 of 2\n"
        + row.format(11, "2栋")
        + "\nPress a case to open its card."
    )
    assert _labels(double, listing) == [
        ["#11 Missed health check-ins · 阳光花园 2栋"],
        ["◀ Previous"],
    ]
    replies = await officer.press("#11 Missed", listing)
    assert [m.content for m in replies] == [
        "#11 Missed health check-ins\nStatus: Open\nTime: 2022-03-10 09:00\n"
        "Address: 阳光花园, building 2栋, unit 1单元, room 101\nGrid worker: not assigned"
    ]
    assert _labels(double, replies[0]) == [["👀 Acknowledge", "🙋 I'll take it", "✅ Resolve"]]
