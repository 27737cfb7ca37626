"""Visit, tenant, tip-off and supplies conversations in both languages."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Isolation, Person, Report
from bot.double import BotApiDouble, SentMessage
from tests.conversations.test_reports_flow import add_risk, register
from tests.support.chat import ChatUser, RunningBot, private_details, texts
from tests.support.community import OFFICER_ID, SeededCommunity

OFFICER_GROUP = -1004321


async def bind(double: BotApiDouble) -> ChatUser:
    double.group(OFFICER_GROUP, "工作群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    return officer


def card_of(double: BotApiDouble, message_id: int) -> SentMessage:
    return next(m for m in double.messages(OFFICER_GROUP) if m.message_id == message_id)


async def test_visit_from_risk_area_in_chinese_with_html_name(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    await add_risk(sessionmaker, clock, community, "湖北 medium 3-1")
    officer = await bind(double)
    await resident.send("/report")
    await resident.press("来访报备")
    replies = await resident.send("12345")
    assert "真实姓名" in texts(replies)
    replies = await resident.send("x" * 41)
    assert "40 个字以内" in texts(replies)
    await resident.send("<b>李</b>表哥")
    replies = await resident.send("123")
    assert "电话号码好像不对" in texts(replies) and "跳过" in texts(replies)
    await resident.press("跳过")
    await resident.send("湖北武汉")
    await resident.send("2022-03-10")
    replies = await resident.send("0")
    assert "1 到 365" in texts(replies)
    replies = await resident.send("五天")
    assert replies[-1].content == (
        "请核对：🏠 来访报备\n"
        "访客：<b>李</b>表哥\n"
        "访客电话：（未填）\n"
        "来自：湖北省武汉市\n"
        "到达日期：2022-03-10\n"
        "停留天数：5\n"
        "\n"
        "信息无误请点“确认提交”。"
    )
    replies = await resident.press("确认提交")
    assert replies[-1].content == (
        "✅ 来访报备已提交。\n"
        "访客来自中风险地区，请访客居家隔离：\n"
        "• <b>李</b>表哥：隔离至 2022-03-23\n"
        "您可以替访客每天报告体温。"
    )
    await running_bot.drain()
    card = await private_details(officer, double.messages(OFFICER_GROUP)[-1])
    assert "<b>李</b>表哥" in card.content  # shown as typed, never as markup
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation))
        assert isolation is not None
        visitor = await session.get(Person, isolation.person_id)
        assert visitor is not None and visitor.name == "<b>李</b>表哥"


async def test_tenant_in_chinese_and_visit_without_risk_in_english(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    await register(
        sessionmaker, clock, community, english_resident, name="Alice", member=None,
        room="阳光花园/2栋/1单元/101",
    )  # fmt: skip
    officer = await bind(double)
    await resident.send("/report")
    await resident.press("租户")
    await resident.press("租户")
    await resident.send("王五，赵六")
    await resident.send("北京市朝阳区")
    await resident.send("3月5日")
    await resident.send("13900139000")
    replies = await resident.send("2栋1单元201")
    assert replies[-1].content == (
        "请核对：🔑 租户/来住亲属报备\n"
        "类别：租户\n"
        "姓名：王五、赵六\n"
        "来自：北京市朝阳区\n"
        "入住日期：2022-03-05\n"
        "联系电话：+8613900139000\n"
        "房屋：2栋1单元201\n"
        "\n"
        "信息无误请点“确认提交”。"
    )
    replies = await resident.press("确认提交")
    assert replies[-1].content == ("✅ 已登记，社区工作人员已收到通知。感谢您依规报备。")
    await running_bot.drain()
    assert "王五、赵六" not in (double.messages(OFFICER_GROUP)[-1].content or "")
    details = await private_details(officer, double.messages(OFFICER_GROUP)[-1])
    assert "王五、赵六" in (details.content or "")

    await english_resident.send("/report")
    await english_resident.press("A visitor")
    await english_resident.send("Bob Smith")
    await english_resident.send("+86 139 0013 9001")
    await english_resident.send("Beijing")
    replies = await english_resident.send("2030-01-01")
    assert "is in the future" in texts(replies)
    await english_resident.send("2022-03-09")
    replies = await english_resident.send("3")
    assert replies[-1].content == (
        "Please check: 🏠 A visitor\n"
        "Visitor: Bob Smith\n"
        "Visitor's phone: +8613900139001\n"
        "From: Beijing\n"
        "Arrived: 2022-03-09\n"
        "Days of stay: 3\n"
        "\n"
        "Press “Submit” if everything is right."
    )
    replies = await english_resident.press("Submit")
    assert replies[-1].content == ("✅ Visitor reported.")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Report)) == 2
        assert await session.scalar(select(func.count()).select_from(Case)) == 1


async def test_supplies_in_both_languages(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, english_resident, name="Alice", member=None)
    person_id = await register(
        sessionmaker, clock, community, resident, room="阳光花园/1栋/2单元/101"
    )
    # not in isolation: told so right away
    await english_resident.send("/report")
    replies = await english_resident.press("Help in isolation")
    assert "households in home isolation" in texts(replies)
    async with sessionmaker.begin() as session:
        session.add(
            Isolation(community_id=community.community_id, person_id=person_id,
                      start_date=date(2022, 3, 5), end_date=date(2022, 3, 18), status="active",
                      created_at=clock.now())
        )  # fmt: skip
    officer = await bind(double)
    await resident.send("/report")
    await resident.press("隔离户求助")
    await resident.press("食品")
    replies = await resident.send("大米 5 斤，鸡蛋 2 盒")
    assert replies[-1].content == (
        "请核对：🛒 隔离户求助\n"
        "类别：食品/生活物资\n"
        "说明：大米 5 斤，鸡蛋 2 盒\n"
        "\n"
        "信息无误请点“确认提交”。"
    )
    replies = await resident.press("确认提交")
    assert replies[-1].content == ("✅ 求助已转给志愿者和网格员，办好后会通知您。")
    await running_bot.drain()
    card = double.messages(OFFICER_GROUP)[-1]
    assert "物资/求助" in card.content and "大米" not in card.content
    assert "大米" in ((await private_details(officer, card)).content or "")
    # a volunteer may take and resolve supplies cases
    volunteer = ChatUser(double, double.user(9005, "赵志愿"))
    _, take = volunteer.button_data("我来处理", card)
    await volunteer.press_data(take, card, chat_id=OFFICER_GROUP)
    assert "处理人：赵志愿" in card_of(double, card.message_id).content
    # a plain resident may not
    _, resolve = resident.button_data("办结", card_of(double, card.message_id))
    await resident.press_data(resolve, card, chat_id=OFFICER_GROUP)
    assert "只有社区工作人员" in (resident.answer_of_last_press() or "")


async def test_symptom_in_english_with_restart_at_the_summary(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    replies = await english_resident.send("/start report")
    assert "register your household first" in texts(replies)
    await register(sessionmaker, clock, community, english_resident, name="Alice", member="Granny")
    await english_resident.send("/report")
    await english_resident.press("Symptoms")
    replies = await english_resident.send("Granny")
    assert "choose with the buttons" in texts(replies)
    await english_resident.press("Granny")
    replies = await english_resident.press("Done")
    assert english_resident.answer_of_last_press() == "Please choose at least one."
    await english_resident.press("Cough")
    await english_resident.press("Short of breath")
    await english_resident.press("Cough")  # toggled off again
    await english_resident.press("Done")
    await english_resident.press("Skip")
    replies = await english_resident.send("2022-02-30")
    assert "could not read that date" in texts(replies)
    replies = await english_resident.send("2022-03-08")
    assert replies[-1].content == (
        "Please check: 🤒 Symptoms\n"
        "Person: Granny\n"
        "Symptoms: Short of breath\n"
        "Temperature: (none)\n"
        "Since: 2022-03-08\n"
        "\n"
        "Press “Submit” if everything is right."
    )
    await running_bot.restart()
    replies = await english_resident.press("Submit")
    assert replies[-1].content == (
        "🚨 The officers have been alerted and will contact you soon.\n"
        "Wear a mask, do not use public transport, and go to a designated fever clinic:\n"
        "• Please call the community office for the nearest fever clinic."
    )
    async with sessionmaker() as session:
        report = await session.scalar(select(Report))
        assert report is not None and report.details["symptoms"] == ["breath"]
        assert report.details["temperature"] is None
