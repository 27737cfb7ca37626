"""Report conversations end to end over HTTP (R-RET, R-VIS, R-TEN, R-SYM, R-TIP, R-SUP)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Community, Isolation, Person, Report
from bot.double import BotApiDouble
from bot.services import risk_areas
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import SeededCommunity

ROOM = "阳光花园/1栋/1单元/101"


async def register(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    user: ChatUser,
    *,
    name: str = "张三",
    room: str = ROOM,
    member: str | None = "张奶奶",
) -> int:
    """A registered head of household (and a member without Telegram)."""
    async with sessionmaker.begin() as session:
        household = community.household(room)
        head = Person(
            telegram_user_id=user.id, household_id=household, name=name, phone="+8613800138000",
            is_head=True, created_at=clock.now(), language="en" if user.id == 5002 else "zh-CN",
        )  # fmt: skip
        session.add(head)
        if member:
            session.add(Person(household_id=household, name=member, relation="grandparent",
                               created_at=clock.now()))  # fmt: skip
        await session.flush()
        return head.id


async def add_risk(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    text: str,
) -> None:
    async with sessionmaker.begin() as session:
        args = risk_areas.parse_add_args(text, date(2022, 3, 10))
        await risk_areas.add_risk_area(
            session, clock, community_id=community.community_id, args=args, actor=None
        )


async def test_return_from_risk_area_in_chinese_with_buttons_and_restart(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    await add_risk(sessionmaker, clock, community, "深圳 high 3-1")
    replies = await resident.send("/report")
    assert "请选择要报备的事项" in texts(replies)
    await resident.press("返乡报备")
    assert "从哪里返回" in resident.last().content
    # unknown place: asked again politely
    replies = await resident.send("火星基地")
    assert "没有找到" in texts(replies)
    # buttons: province → (next page) → city → district
    await resident.press("下一页")
    await resident.press("广东省")
    await resident.press("深圳市")
    replies = await resident.press("南山区")
    assert "广东省深圳市南山区" in texts(replies)
    # future and impossible dates are refused
    replies = await resident.send("3月20日")
    assert "还没到" in texts(replies)
    replies = await resident.send("2月30日")
    assert "没能识别" in texts(replies)
    await resident.send("3月9日")
    await running_bot.restart()
    await resident.press("火车")
    await resident.press("张三")
    await resident.press("张奶奶")
    replies = await resident.press("选好了")
    assert replies[-1].content == (
        "请核对：🚆 返乡报备\n"
        "出发地：广东省深圳市南山区\n"
        "到达日期：2022-03-09\n"
        "交通方式：火车/高铁\n"
        "出行人员：张三、张奶奶\n"
        "\n"
        "信息无误请点“确认提交”。"
    )
    replies = await resident.press("确认提交")
    assert replies[-1].content == (
        "✅ 返乡报备已提交。\n"
        "您和张奶奶 的出发地属于高风险地区，需要居家隔离，不要外出：\n"
        "• 张三：隔离至 2022-03-22\n"
        "• 张奶奶：隔离至 2022-03-22\n"
        "社区工作人员会联系您，每天请按提醒为以上人员报告体温（可由您代为打卡）。"
    )
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Isolation)) == 2
        case = await session.scalar(select(Case))
        assert case is not None and case.kind == "return" and case.urgent


async def test_typed_place_with_several_candidates_back_and_cancel_in_english(
    running_bot: RunningBot,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, english_resident, name="Alice", member=None)
    replies = await english_resident.send("/start report")
    assert "What would you like to report" in texts(replies)
    await english_resident.press("I came back")
    replies = await english_resident.send("chaoyang")
    assert "Several places" in texts(replies)
    replies = await english_resident.press("Chaoyang, Beijing")
    assert "Place: Chaoyang, Beijing" in texts(replies)
    replies = await english_resident.send("yesterday")
    assert "how did you travel" in texts(replies)
    replies = await english_resident.press("Back")
    assert "when did you arrive" in texts(replies)
    replies = await english_resident.send("/cancel")
    assert "Nothing from this conversation was saved" in texts(replies)
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Report)) == 0


async def test_unregistered_user_is_told_to_register(
    running_bot: RunningBot, resident: ChatUser, community: SeededCommunity
) -> None:
    replies = await resident.send("/report")
    assert "请先完成住户登记" in texts(replies)


async def test_symptom_report_twice_collapses_and_names_clinics(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.fever_clinics = [{"name": "市一医院发热门诊", "address": "解放路1号", "phone": ""}]
    for _ in range(2):
        await resident.send("/start")
        await resident.press("症状报告")
        await resident.press("张奶奶")
        await resident.press("发热")
        await resident.press("咳嗽")
        await resident.press("选好了")
        replies = await resident.send("45")
        assert "不在合理范围" in texts(replies)
        await resident.send("三十八度二")
        await resident.send("昨天")
        replies = await resident.press("确认提交")
    assert replies[-1].content == (
        "这份报告已经提交过了，社区已经知道。\n"
        "🚨 已立即通知社区工作人员，他们会尽快联系您。\n"
        "请戴好口罩，不要乘坐公共交通工具，尽快前往指定发热门诊就诊：\n"
        "• 市一医院发热门诊，解放路1号"
    )
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Report)) == 1
        assert await session.scalar(select(func.count()).select_from(Case)) == 1


async def test_forged_place_and_choice_buttons_are_refused(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    double: BotApiDouble,
) -> None:
    await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("返乡报备")
    picker = resident.last()
    # a district of another province while provinces are shown, and garbage
    await resident.press_data("plc:440305", picker, strict=False)
    assert "不可用" in (resident.answer_of_last_press() or "")
    await resident.press_data("rep:pick:rocket", picker, strict=False)
    assert "不可用" in (resident.answer_of_last_press() or "")
    await resident.press_data("plc:xx", picker, strict=False)
    assert resident.answer_of_last_press()
    await resident.send("北京朝阳")
    await resident.send("昨天")
    await resident.press_data("rep:pick:rocket", resident.last(), strict=False)
    assert "不可用" in (resident.answer_of_last_press() or "")
