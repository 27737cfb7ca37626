"""/case N and /risk in a community's officers' chat, and /risk add of an area already
listed (R-ESC, R-RBAC, R-WHERE): driven over HTTP through the Bot API double.

The officers' chat answers only for its own community: a case of another community is
"not found" there word for word as a number never used, any other group is told to use
a private chat whatever the number, and someone without an officer role in that
community is refused."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CaseKind
from bot.double import BotApiDouble
from bot.services import cases
from bot.services.directory import import_register
from messages import Catalog
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity

USE_PRIVATE_EN = (
    "Please use this in a private chat with the bot (personal data is never shown in groups)."
)
NOT_ALLOWED_ZH = "抱歉，您没有执行此操作的权限。"
OTHER_ADMIN_ID = 9302


async def _case(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community_id: int,
    household_id: int | None,
) -> int:
    async with sessionmaker.begin() as session:
        case = await cases.open_case(
            session, clock, catalog, community_id=community_id, kind=CaseKind.MISSED_CHECKIN,
            urgent=False, household_id=household_id,
        )  # fmt: skip
        return case.id


async def _other_community(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock) -> int:
    """西湖社区, whose admin (OTHER_ADMIN_ID) holds no role in 东湖社区."""
    async with sessionmaker.begin() as session:
        other = await import_register(
            session, clock, community_name="西湖社区", timezone="Asia/Shanghai",
            rows=[{"compound": "月光小区", "building": "1栋", "unit": "1单元", "room": "101",
                   "grid": "西一网格"}],
            admin_telegram_id=OTHER_ADMIN_ID, admin_name="西湖管理员",
        )  # fmt: skip
        return other.community.id


async def test_case_command_in_the_officers_chat(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    officers_chat = double.group(-1009101, "东湖社区工作群")
    owners_group = double.group(-1009102, "阳光花园业主群")
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    await officer.send("/language")
    await officer.press("English")
    await officer.send("/officers_here", chat=officers_chat)
    ours = await _case(
        sessionmaker, clock, catalog, community.community_id,
        community.household("阳光花园/2栋/1单元/101"),
    )  # fmt: skip
    theirs = await _case(sessionmaker, clock, catalog, await _other_community(sessionmaker, clock),
                         None)  # fmt: skip
    # the anonymised card, in the community's language, with "details"
    [card] = await officer.send(f"/case {ours}", chat=officers_chat)
    assert card.content == (
        f"#{ours} 未按时健康打卡\n状态：待处理\n时间：2022-03-10 09:00\n位置：阳光花园 2栋\n"
        "网格员：未指定\n人员和详细情况不在群里显示，请点“详情”在私聊中查看。"
    )
    assert [[label for label, _ in row] for row in double.inline_buttons(card)] == [
        ["👀 已知悉", "🙋 我来处理", "✅ 办结"],
        ["🔒 详情（私聊）"],
    ]
    # another community's case: the same words as a number never used
    for typed, answer in (
        (f"/case {theirs}", f"Case #{theirs} not found."),
        ("/case 99999", "Case #99999 not found."),
        ("/case abc", "“abc” is not a case number. Send it as digits, e.g. /case 12."),
    ):
        assert texts(await officer.send(typed, chat=officers_chat)) == answer, typed
    # the grid worker of 1栋 does not read 2栋's case there either
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    assert texts(await grid.send(f"/case {ours}", chat=officers_chat)) == f"没有找到事件 #{ours}。"
    # a resident in the officers' chat, and the other community's admin, are refused
    assert texts(await resident.send(f"/case {ours}", chat=officers_chat)) == NOT_ALLOWED_ZH
    stranger = ChatUser(double, double.user(OTHER_ADMIN_ID, "西湖管理员"))
    assert texts(await stranger.send(f"/case {theirs}", chat=officers_chat)) == NOT_ALLOWED_ZH
    # any other group learns nothing about the case, whatever the number
    for typed in (f"/case {ours}", f"/case {theirs}", "/case 99999"):
        [hint] = await officer.send(typed, chat=owners_group)
        assert hint.content == USE_PRIVATE_EN, typed


async def test_risk_list_in_the_officers_chat_and_already_listed(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    officers_chat = double.group(-1009201, "东湖社区工作群")
    owners_group = double.group(-1009202, "阳光花园业主群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await officer.send("/officers_here", chat=officers_chat)
    added = "✅ 已添加风险地区 #1：广东省深圳市南山区，高风险地区，2022-03-01 起至 2022-03-12。"
    assert texts(await officer.send("/risk add 深圳南山 high 3-1 3-12")) == added
    listed = (
        "风险地区 #1 广东省深圳市南山区 已在列表中（高风险地区，2022-03-01 起至 2022-03-12），"
        "没有重复添加。要改开始日期请用 /risk from 1 日期，要改等级请先 /risk remove 1。"
    )
    # the same area again, another level, or a window that meets it: already listed
    for typed in (
        "/risk add 深圳南山 high 3-1 3-12",
        "/risk add 深圳南山 medium 3-5",
        "/risk add 深圳南山 low 2-20 3-2",
    ):
        assert texts(await officer.send(typed)) == listed, typed
    # a place name with several matches names what was typed
    assert texts(await officer.send("/risk add 南山 medium 3-5")) == (
        "“南山”对应的地名有多个，请写得更具体：黑龙江省鹤岗市南山区、广东省深圳市南山区"
    )
    assert texts(await officer.send("/risk add 深圳南山 high 3-13 3-31")) == (
        "✅ 已添加风险地区 #2：广东省深圳市南山区，高风险地区，2022-03-13 起至 2022-03-31。"
    )
    # a removed area may be listed again
    await officer.send("/risk remove 2")
    assert texts(await officer.send("/risk add 深圳南山 high 3-13 3-31")).startswith(
        "✅ 已添加风险地区 #3："
    )
    # in English
    english = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await english.send("/language")
    await english.press("English")
    assert texts(await english.send("/risk add 深圳南山 high 3-1")) == (
        "Risk area #3 Nanshan, Shenzhen, Guangdong is already listed (high-risk area, from "
        "2022-03-13 to 2022-03-31); nothing was added. To start it earlier send /risk from 3 "
        "<date>; to change its level, /risk remove 3 first."
    )
    # /risk (the list) in the officers' chat answers there, in the community's language
    whole_list = (
        "风险地区\n#3 广东省深圳市南山区 · 高风险地区 · 2022-03-13 起至 2022-03-31\n"
        "#1 广东省深圳市南山区 · 高风险地区 · 2022-03-01 起至 2022-03-12"
    )
    for typed in ("/risk", "/risk list"):
        assert texts(await english.send(typed, chat=officers_chat)) == whole_list, typed
    # changes are made in a private chat; residents and other communities' officers are
    # refused; any other group is told to use a private chat
    for typed in ("/risk add 浦东 high", "/risk remove 1", "/risk from 1 3-1"):
        assert texts(await english.send(typed, chat=officers_chat)) == USE_PRIVATE_EN, typed
    assert texts(await resident.send("/risk", chat=officers_chat)) == NOT_ALLOWED_ZH
    await _other_community(sessionmaker, clock)
    stranger = ChatUser(double, double.user(OTHER_ADMIN_ID, "西湖管理员"))
    assert texts(await stranger.send("/risk", chat=officers_chat)) == NOT_ALLOWED_ZH
    assert texts(await english.send("/risk", chat=owners_group)) == USE_PRIVATE_EN
