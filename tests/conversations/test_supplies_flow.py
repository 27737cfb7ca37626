"""Supplies and medicine under a seal end to end (R-SUPPLY): a household asks, a
volunteer takes and delivers, the household confirms; urgent medicine and medical needs
become urgent cases at once; overdue requests become cases; officers see per building;
forged buttons and people outside a seal are refused politely."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Community, SupplyRequest
from bot.double import BotApiDouble
from bot.presentation.callbacks import DistributionCb, SupplyCb
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import OFFICER_ID, VOLUNTEER_ID, SeededCommunity
from tests.support.ledger_rows import add_person

OFFICERS = -100900


async def _setup(
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        for tg, name, room, language in (
            (6001, "陈一", "阳光花园/1栋/1单元/101", "zh-CN"),
            (6002, "Bob", "阳光花园/1栋/1单元/102", "en"),
            (6003, "刘三", "阳光花园/2栋/1单元/101", "zh-CN"),
        ):
            person = await add_person(session, name, community.household(room), clock.now(), tg)
            person.language = language
            double.private_chat(double.user(tg, name))
            double.started.add(tg)
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.officer_chat_id = OFFICERS
    double.group(OFFICERS, "干部群")


async def test_request_take_deliver_confirm_and_cases(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _setup(double, sessionmaker, community, clock)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    volunteer = ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿"))
    chen = ChatUser(double, double.user(6001, "陈一"))
    bob = ChatUser(double, double.user(6002, "Bob", language_code="en"))
    liu = ChatUser(double, double.user(6003, "刘三"))

    replies = await chen.send("/supply")
    assert [m.content for m in replies] == [
        "您所在的楼栋目前不在管控或封控中。封控、管控期间可在这里申请生活物资和药品。"
    ]
    await officer.send("/seal 阳光花园 1栋 封控")

    await chen.send("/supply")
    replies = await chen.press("🥬 食品包")
    assert [m.content for m in replies] == [
        "✅ 已登记需求 #1：🥬 食品包。\n志愿者会尽快送到门口，送达后请在这里确认收到。"
    ]
    # Medicine in English: name and dose, a prescription photo, urgent → urgent case.
    await bob.send("/supply")
    await bob.press("💊 Medicine")
    replies = await bob.send("Insulin 10 units")
    assert [m.content for m in replies] == [
        "If you have a prescription, send a photo of it; otherwise press “Skip”."
    ]
    mark = double.mark()
    update = double.send_photo(bob.user)
    await double.wait_processed(update, timeout=10)
    assert [m.content for m in bob.replies_since(mark, bob.id)] == [
        "Is it urgent (needed today, cannot wait)?"
    ]
    replies = await bob.press("🚨 Urgent")
    assert [m.content for m in replies] == [
        "✅ Request #2 recorded: 💊 Medicine (Insulin 10 units).\n"
        "🚨 The officers and your grid worker have been alerted as an urgent case and will "
        "contact you soon."
    ]
    # A medical need is always urgent.
    await chen.send("/supply")
    await chen.press("🏥 就医需求")
    replies = await chen.send("周四 8:00 需去市一医院透析")
    assert replies[0].content == (
        "✅ 已登记需求 #3：🏥 就医需求（透析、孕检等）（周四 8:00 需去市一医院透析）。\n"
        "🚨 已作为紧急事件通知社区干部和网格员，会尽快联系您。"
    )
    # 2栋 is not sealed.
    await liu.send("/supply")
    async with sessionmaker() as session:
        requests = list(await session.scalars(select(SupplyRequest).order_by(SupplyRequest.id)))
        assert [(r.kind, r.urgent, r.status) for r in requests] == [
            ("food", False, "open"),
            ("medicine", True, "open"),
            ("medical", True, "open"),
        ]
        assert requests[1].prescription_file_id
        kinds = [(c.kind, c.urgent) for c in await session.scalars(select(Case))]
        assert kinds == [("medical", True), ("medical", True)]
        case = await session.get(Case, requests[1].case_id)
        assert case is not None and case.details["summary"] == "需求 #2 药品：Insulin 10 units"

    replies = await volunteer.send("/deliveries")
    assert [m.content for m in replies] == [
        "待配送需求（共 3 条）\n"
        "阳光花园 1栋\n"
        "🚨 #2 阳光花园 1栋 1单元 102 · 💊 药品：Insulin 10 units\n"
        "🚨 #3 阳光花园 1栋 1单元 101 · 🏥 就医需求（透析、孕检等）：周四 8:00 需去市一医院透析\n"
        "#1 阳光花园 1栋 1单元 101 · 🥬 食品包"
    ]
    list_message = volunteer.last()
    replies = await volunteer.press("领取 #1")
    assert [m.content for m in replies] == [
        "📦 已领取 #1：🥬 食品包\n送至：阳光花园 1栋 1单元 101\n"
        "送到后请按“已送达”；无法送达请按“有问题”。"
    ]
    # Taking it twice (a second volunteer, or a double tap) is refused.
    await volunteer.press_data(SupplyCb(action="take", id=1).pack(), list_message)
    assert volunteer.answer_of_last_press() == "这条需求已被其他志愿者领取。"
    replies = await volunteer.press("✅ 已送达")
    assert [m.content for m in replies] == [
        "✅ #1 已送达（阳光花园 1栋 1单元 101）。已请住户确认收到。谢谢！\n"
        "如需留存，可以现在发一张送达照片。"
    ]
    mark = double.mark()
    await double.wait_processed(double.send_photo(volunteer.user), timeout=10)
    assert [m.content for m in volunteer.replies_since(mark, volunteer.id)] == [
        "📷 已保存 #1 的送达照片。"
    ]
    await running_bot.drain()
    notice = chen.last()
    assert notice.content == (
        "📦 您的需求 #1（食品包）志愿者已送到门口。\n收到后请按下面的按钮确认。"
    )
    # Another household cannot confirm it.
    await liu.send("/help")
    await liu.press_data(SupplyCb(action="ok", id=1).pack(), liu.last(), strict=False)
    assert liu.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"
    async with sessionmaker() as session:
        first = await session.get(SupplyRequest, 1)
        assert first is not None and first.delivery_photo_file_id
    replies = await chen.press("✅ 已收到", notice)
    assert replies[-1].content == "谢谢！需求 #1 已确认收到。"
    # Residents cannot take requests or see the list.
    replies = await chen.send("/deliveries")
    assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"]
    await chen.press_data(SupplyCb(action="take", id=2).pack(), notice, strict=False)
    assert chen.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"

    # Four hours later, the two undelivered requests already have urgent cases; a new
    # food request that waits too long becomes an overdue case once.
    await chen.send("/supply")
    await chen.press("💧 饮用水")
    clock.advance(timedelta(minutes=241))
    await tick(running_bot.application.job_context())
    await tick(running_bot.application.job_context())
    async with sessionmaker() as session:
        kinds = [(c.kind, c.urgent) for c in await session.scalars(select(Case).order_by(Case.id))]
        assert kinds == [("medical", True), ("medical", True), ("supply_overdue", False)]
    replies = await officer.send("/supplies")
    assert [m.content for m in replies] == [
        "物资配送情况（超过 240 分钟未送达即为超时）\n"
        "阳光花园 1栋：待领取 3，配送中 0，已送达 1，⏰ 超时 3"
    ]


async def test_distribution_round_ticks_each_household(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    volunteer = ChatUser(double, double.user(VOLUNTEER_ID, "Vera", language_code="en"))
    await volunteer.send("/language")
    await volunteer.press("English")
    replies = await volunteer.send("/distribute 阳光花园 1栋 蔬菜包")
    assert [m.content for m in replies] == [
        "阳光花园 1栋 · 蔬菜包: 0/12 households served\n"
        "Press a household's button once it has its pack."
    ]
    assert [label for row in double.inline_buttons(replies[0]) for label, _ in row][:5] == [
        "1单元 101",
        "1单元 102",
        "1单元 201",
        "1单元 202",
        "1单元 301",
    ]
    replies = await volunteer.press("1单元 101")
    assert (replies[-1].content or "").startswith("阳光花园 1栋 · 蔬菜包: 1/12 households served")
    # A double tap on a stale message changes nothing; the same round is reopened.
    household_id = community.household("阳光花园/1栋/1单元/101")
    await volunteer.press_data(
        DistributionCb(round_id=1, household_id=household_id).pack(), replies[-1], strict=False
    )
    replies = await volunteer.send("/distribute 阳光花园 1栋 蔬菜包")
    assert (replies[0].content or "").startswith("阳光花园 1栋 · 蔬菜包: 1/12")
    # Residents may not run a round nor tick.
    resident = ChatUser(double, double.user(5001, "小明"))
    replies = await resident.send("/distribute 阳光花园 1栋 蔬菜包")
    assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"]
