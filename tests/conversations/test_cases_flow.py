"""Cases end to end (R-ESC, R-RBAC, R-TIP): the officers' chat, card buttons, re-alerts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Case, CaseEvent
from bot.double import BotApiDouble, SentMessage
from scheduler import tick
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, GRID_WORKER_ID, OFFICER_ID, SeededCommunity

OFFICER_GROUP = -1001234


async def _officer_chat(double: BotApiDouble) -> tuple[ChatUser, ChatUser, ChatUser]:
    double.group(OFFICER_GROUP, "东湖社区工作群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员"))
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    return officer, admin, grid


async def _symptom(resident: ChatUser) -> None:
    await resident.send("/report")
    await resident.press("症状报告")
    await resident.press("张三")
    await resident.press("发热")
    await resident.press("选好了")
    await resident.send("38.5")
    await resident.send("今天")
    await resident.press("确认提交")


def _card(double: BotApiDouble, case_id: int) -> SentMessage:
    cards = [
        m
        for m in double.messages(OFFICER_GROUP)
        if f"#{case_id} " in (m.content or "")
        and ("网格员" in (m.content or "") or "Grid worker" in (m.content or ""))
    ]
    assert cards, texts(double.messages(OFFICER_GROUP))
    return cards[-1]


async def test_symptom_card_buttons_resolve_and_resident_told(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    officer, _, grid = await _officer_chat(double)
    # A resident cannot bind the officers' chat
    replies = await resident.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    assert "只有社区干部" in texts(replies)
    await _symptom(resident)  # before binding: the case waits
    replies = await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    assert "工作群" in texts(replies) and "补发 1" in texts(replies)
    await running_bot.drain()
    async with sessionmaker() as session:
        case = await session.scalar(select(Case))
        assert case is not None
    card = _card(double, case.id)
    # the officers' chat is a group: kind, urgency, place and number only (R-WHERE)
    assert card.content == (
        "🚨 紧急 #1 症状报告\n状态：待处理\n时间：2022-03-10 09:00\n位置：阳光花园 1栋\n"
        "网格员：李网格\n人员和详细情况不在群里显示，请点“详情”在私聊中查看。"
    )
    assert "张三" not in card.content
    # A resident presses the officer's button (the real one, and a forged one)
    _, ack_data = resident.button_data("已知悉", card)
    await resident.press_data(ack_data, card, chat_id=OFFICER_GROUP)
    assert "只有社区工作人员" in (resident.answer_of_last_press() or "")
    await resident.press_data(f"case:resolve:{case.id}", card, strict=False, chat_id=OFFICER_GROUP)
    assert "只有社区工作人员" in (resident.answer_of_last_press() or "")
    await resident.press_data("case:ack:999999", card, strict=False, chat_id=OFFICER_GROUP)
    assert "没有找到" in (resident.answer_of_last_press() or "")
    await officer.press_data(f"case:explode:{case.id}", card, strict=False, chat_id=OFFICER_GROUP)
    assert "已失效" in (officer.answer_of_last_press() or "")
    await officer.press_data("case:ack:notanumber", card, strict=False, chat_id=OFFICER_GROUP)
    assert officer.answer_of_last_press()
    # The grid worker of the building acknowledges: the card is edited in place
    await grid.press_data(ack_data, card, chat_id=OFFICER_GROUP)
    card = _card(double, case.id)
    assert card.content == (
        "🚨 紧急 #1 症状报告\n"
        "状态：已知悉\n"
        "时间：2022-03-10 09:00\n"
        "位置：阳光花园 1栋\n"
        "网格员：李网格\n"
        "人员和详细情况不在群里显示，请点“详情”在私聊中查看。"
    )
    _, take_data = officer.button_data("我来处理", card)
    await officer.press_data(take_data, card, chat_id=OFFICER_GROUP)
    card = _card(double, case.id)
    assert "处理人：王干事" in card.content
    _, resolve_data = officer.button_data("办结", card)
    replies = await officer.press_data(resolve_data, card, chat_id=OFFICER_GROUP)
    assert "办结说明" in texts(replies)
    # other commands still work while the note is awaited; an empty-ish note is refused
    # /cases answers in the officers' chat: place and number only (R-WHERE)
    replies = await officer.send("/cases", chat=double.chats[OFFICER_GROUP])
    assert texts(replies) == (
        "未办结事件（共 1 个）\n"
        "🚨 #1 症状报告 · 处理中 · 2022-03-10 09:00 · 阳光花园 1栋 · 王干事\n"
        "点下方按钮查看事件卡片。"
    )
    replies = await officer.send("x" * 501, chat=double.chats[OFFICER_GROUP])
    assert "500" in texts(replies)
    replies = await officer.send("已陪同前往<b>发热门诊</b>", chat=double.chats[OFFICER_GROUP])
    assert "已办结" in texts(replies)
    card = _card(double, case.id)
    assert "状态：已办结" in card.content and "发热门诊" not in card.content
    # only "details" is left; in the officer's private chat the note is shown as typed
    # (escaped, not interpreted as HTML)
    assert [[text for text, _ in row] for row in double.inline_buttons(card)] == [
        ["🔒 详情（私聊）"]
    ]
    await officer.send("/help")
    await officer.press("详情", card, chat_id=OFFICER_ID)
    assert "<b>发热门诊</b>" in (officer.last().content or "")
    await running_bot.drain()
    assert resident.last().content == (
        "您报告的症状报告已由社区办结。说明：已陪同前往<b>发热门诊</b>"
    )
    async with sessionmaker() as session:
        events = list(await session.scalars(select(CaseEvent.action).order_by(CaseEvent.id)))
        assert events == ["opened", "ack", "take", "resolve"]
        audited = set(await session.scalars(select(AuditEntry.action)))
        assert {"case.ack", "case.take", "case.resolve", "officer_chat.bind"} <= audited
    # /cases for officers only
    replies = await officer.send("/cases")
    assert "没有未办结" in texts(replies)
    replies = await resident.send("/cases")
    assert "没有执行此操作的权限" in texts(replies)


async def test_unacknowledged_urgent_case_is_raised_again_once_per_period(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    officer, _, _ = await _officer_chat(double)
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    await _symptom(resident)
    await running_bot.drain()
    ctx = running_bot.application.job_context()
    clock.advance(timedelta(minutes=29))
    await tick(ctx)
    await running_bot.drain()
    assert len(double.messages(OFFICER_GROUP)) == 2  # bind reply + one card
    clock.advance(timedelta(minutes=2))
    await tick(ctx)
    await tick(ctx)
    await running_bot.drain()
    assert "第 1 次提醒（共 3 次）" in double.messages(OFFICER_GROUP)[-1].content
    assert len(double.messages(OFFICER_GROUP)) == 3
    replies = await officer.send("/cases 症状报告")  # officer commands: private chat only
    assert "症状报告" in texts(replies) and "共 1 个" in texts(replies)
    # once acknowledged, no more re-alerts
    card = _card(double, 1)
    _, ack = officer.button_data("已知悉", card)
    await officer.press_data(ack, card, chat_id=OFFICER_GROUP)
    clock.advance(timedelta(hours=2))
    await tick(ctx)
    await running_bot.drain()
    assert len(double.messages(OFFICER_GROUP)) == 3  # no new card


async def test_reminders_are_capped_then_officers_are_told_privately_once(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """QA: an unacknowledged urgent case was re-alerted every period with no end (seen up
    to the 25th). Now: `case_realert_max` (3) reminders, each saying which one it is and
    what comes next, then one private message to the officers and admins, then silence."""
    await register(sessionmaker, clock, community, resident)
    officer, _, _ = await _officer_chat(double)
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="en"))
    await admin.send("/language")
    await admin.press("English")
    await officer.send("/help")
    await _symptom(resident)
    await running_bot.drain()
    ctx = running_bot.application.job_context()
    assert ctx.settings.case_realert_max == 3
    card = double.messages(OFFICER_GROUP)[-1].content or ""
    body = card
    for _ in range(6):
        clock.advance(timedelta(minutes=31))
        await tick(ctx)
        await running_bot.drain()
    group = [m.content for m in double.messages(OFFICER_GROUP)]
    assert len(group) == 2 + 3  # bind reply, the card, 3 reminders; nothing after
    assert group[2] == (
        "⏰ 第 1 次提醒（共 3 次）：紧急事件仍未确认\n30 分钟后仍未确认将再次提醒。\n" + body
    )
    assert group[3] == (
        "⏰ 第 2 次提醒（共 3 次）：紧急事件仍未确认\n30 分钟后仍未确认将再次提醒。\n" + body
    )
    assert group[4] == (
        "⏰ 第 3 次提醒（共 3 次）：紧急事件仍未确认\n这是最后一次提醒：30 分钟内仍未确认，"
        "将私信告知社区干部和管理员，之后不再提醒。\n" + body
    )
    officer_dm = double.messages(OFFICER_ID)[-1].content or ""
    assert officer_dm.startswith(
        "🔺 紧急事件 #1 仍未确认：工作群已提醒 3 次。请确认处理，或安排专人跟进。"
        "\n\n🚨 紧急 #1 症状报告\n"
    )
    admin_dm = [m.content or "" for m in double.messages(ADMIN_ID)]
    # whole message, in the admin's language (the case summary too: QA finding 1)
    assert [m for m in admin_dm if m.startswith("🔺")] == [
        "🔺 Urgent case #1 is still not acknowledged after 3 reminders in the officers' chat. "
        "Please acknowledge it, or see that someone does.\n\n"
        "🚨 URGENT #1 Symptoms\nStatus: Open\nTime: 2022-03-10 09:00\n"
        "Address: 阳光花园, building 1栋, unit 1单元, room 101\nPerson: 张三 +8613800138000\n"
        "Grid worker: 李网格\nDetails: 张三: Fever, temperature 38.5 °C, since 2022-03-10."
    ]
    assert sum(1 for m in double.messages(OFFICER_ID) if (m.content or "").startswith("🔺")) == 1
    async with sessionmaker() as session:
        events = list(await session.scalars(select(CaseEvent.action).order_by(CaseEvent.id)))
        assert events == ["opened", "realert", "realert", "realert", "escalate"]


async def test_tipoff_never_reveals_the_reporter(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(
        sessionmaker, clock, community, english_resident, name="Alice Reporter", member=None
    )
    officer, _, _ = await _officer_chat(double)
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    await english_resident.send("/report")
    await english_resident.press("Tip-off")
    await english_resident.press("Unreported tenant")
    await english_resident.send("building 2 unit 1 302")
    replies = await english_resident.send("x" * 400)
    assert "too long" in texts(replies)
    await english_resident.send("New tenants from out of town, <i>not registered</i>")
    summary = texts(await english_resident.press("Submit"))
    assert "Nobody will learn who you are" in summary
    await running_bot.drain()
    card = _card(double, 1)
    assert "not registered" not in card.content
    await officer.send("/help")
    await officer.press("详情", card, chat_id=OFFICER_ID)
    assert "not registered" in (officer.last().content or "")
    for chat_id in double.chats:
        if chat_id == english_resident.id:
            continue
        for message in double.messages(chat_id):
            content = message.content or ""
            assert "Alice" not in content and "13800138000" not in content
            assert str(english_resident.id) not in content and "1栋" not in content


async def test_a_case_reaches_each_grid_worker_in_their_own_language(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """QA: a grid worker who chose English with /language before being given the role
    (so only user_preferences knew it) got case cards in the community's Chinese. Each
    worker now reads the card in their own language; the others in the community's."""
    newcomer = ChatUser(double, double.user(9010, "Tom", language_code="en"))
    await newcomer.send("/language")
    await newcomer.press("English")
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员"))
    assert texts(await admin.send("/grant 9010 grid_worker grid 第一网格")) == (
        "✅ 已授予用户 9010：网格员（第一网格）。"
    )
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    await grid.send("/help")
    await register(sessionmaker, clock, community, resident)
    await _symptom(resident)
    await running_bot.drain()
    [english] = double.messages(9010)[-1:]
    assert english.content == (
        "🚨 URGENT #1 Symptoms\nStatus: Open\nTime: 2022-03-10 09:00\n"
        "Address: 阳光花园, building 1栋, unit 1单元, room 101\nPerson: 张三 +8613800138000\n"
        "Grid worker: 李网格, #9010\nDetails: 张三: Fever, temperature 38.5 °C, since 2022-03-10."
    )
    [chinese] = double.messages(GRID_WORKER_ID)[-1:]
    assert chinese.content == (
        "🚨 紧急 #1 症状报告\n状态：待处理\n时间：2022-03-10 09:00\n住址：阳光花园 1栋 1单元 101\n"
        "人员：张三 +8613800138000\n网格员：李网格、#9010\n"
        "情况：张三：发热，体温 38.5℃，自 2022-03-10 起。"
    )
