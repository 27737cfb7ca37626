"""Where personal data may appear (R-WHERE), through the Bot API double: group chats
get no names, phones, rooms or health details; the officers' chat is not an owners'
group; "details" answers privately after a role check; officer and personal commands
answer only in private chats. Also: the group guard of the suite really catches a leak."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Case, Community, Person, Role, ScopeType
from bot.double import BotApiDouble, RateLimits
from bot.services import outbox
from bot.services.identity import grant_role
from messages import Catalog
from tests.conversations.test_reports_flow import register
from tests.support.chat import TOKEN, ChatUser, RunningBot, settings_for, texts
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity
from tests.support.privacy import check_groups

OWNERS = -100700
OFFICERS = -100701
USE_PRIVATE = "请在与本助手的私聊中使用这个功能（群聊里不显示个人信息）。"
USE_PRIVATE_EN = (
    "Please use this in a private chat with the bot (personal data is never shown in groups)."
)


async def _symptom(resident: ChatUser) -> None:
    await resident.send("/report")
    await resident.press("症状报告")
    await resident.press("张三")
    await resident.press("发热")
    await resident.press("选好了")
    await resident.send("38.5")
    await resident.send("今天")
    await resident.press("确认提交")


async def test_officers_chat_and_owners_group_are_kept_apart(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
) -> None:
    owners = double.group(OWNERS, "阳光花园业主群")
    officers = double.group(OFFICERS, "社区工作群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await officer.send("/bind 阳光花园", chat=owners)
    replies = await officer.send("/officers_here", chat=owners)
    assert texts(replies) == (
        "这个群已绑定为业主群，不能同时作为社区工作群（工作群里不应有居民）。"
        "请新建一个只有工作人员的群，再发送 /officers_here。"
    )
    replies = await officer.send("/officers_here", chat=officers)
    assert texts(replies).startswith("✅ 本群已设为 东湖社区 的工作群")
    replies = await officer.send("/bind 阳光花园", chat=officers)
    assert texts(replies) == "这个群是社区工作群，不能绑定为业主群。请在业主群里发送 /bind。"
    replies = await officer.send("/bind", chat=officers)
    assert texts(replies) == "这个群是社区工作群，不能绑定为业主群。请在业主群里发送 /bind。"


async def test_officer_and_personal_commands_answer_only_in_private(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await register(sessionmaker, running_bot.clock, community, resident)
    owners = double.group(OWNERS, "阳光花园业主群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    link = f"https://t.me/{running_bot.application.bot_username}?start=menu"
    for command in (
        "/cases", "/roles", "/compounds", "/profile", "/me", "/ledger", "/household",
        "/invite", "/audit", "/isolations", "/checkins", "/coverage", "/notice", "/settings",
        "/cases@community_guard_bot 阳光花园",
    ):  # fmt: skip
        for user in (officer, resident):
            replies = await user.send(command, chat=owners)
            assert texts(replies) == USE_PRIVATE, command
            assert double.inline_buttons(replies[-1]) == [[("👉 打开私聊", link)]]
    # a command for another bot is not ours to answer
    assert await resident.send("/cases@other_bot", chat=owners) == []
    replies = await english_resident.send("/profile", chat=owners)
    assert texts(replies) == USE_PRIVATE_EN
    # a private flow's button pressed in a group (forged onto a group message)
    message = replies[-1]
    await resident.press_data("pf:remove", message, strict=False, chat_id=OWNERS)
    assert resident.answer_of_last_press() == USE_PRIVATE
    await resident.press_data("hh:leave_yes", message, strict=False, chat_id=OWNERS)
    assert resident.answer_of_last_press() == USE_PRIVATE
    # group commands still work in groups
    replies = await resident.send("/help", chat=owners)
    assert texts(replies) != USE_PRIVATE


async def test_case_card_anonymised_details_privately_after_role_check(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    officers = double.group(OFFICERS, "社区工作群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    await grid.send("/help")  # the grid worker has a private chat with the bot
    await officer.send("/officers_here", chat=officers)
    await _symptom(resident)
    await running_bot.drain()
    card = double.messages(OFFICERS)[-1]
    assert card.content == (
        "🚨 紧急 #1 症状报告\n状态：待处理\n时间：2022-03-10 09:00\n位置：阳光花园 1栋\n"
        "网格员：李网格\n人员和详细情况不在群里显示，请点“详情”在私聊中查看。"
    )
    # routing to the grid worker reaches them privately, with the whole card
    private = grid.last()
    assert "人员：张三 +8613800138000" in (private.content or "")
    assert "住址：阳光花园 1栋 1单元 101" in (private.content or "")
    assert "详情" not in str(private.reply_markup)
    # a resident presses "details": refused, nothing sent, nothing audited as a read
    mark = double.mark()
    await resident.press("详情", card, chat_id=OFFICERS)
    assert resident.answer_of_last_press() == (
        "抱歉，只有社区工作人员、该楼栋的网格员（物资求助还有志愿者）可以处理这个事件。"
    )
    assert resident.replies_since(mark, resident.id) == []
    # an officer who never opened a private chat is told how to
    await officer.press("详情", card, chat_id=OFFICERS)
    assert officer.answer_of_last_press() == (
        "请先打开与本助手的私聊（点机器人头像，发送 /start），再点“详情”。"
    )
    await officer.send("/help")
    mark = double.mark()
    await officer.press("详情", card, chat_id=OFFICERS)
    assert officer.answer_of_last_press() == "详情已私聊发给您。"
    details = officer.replies_since(mark, OFFICER_ID)
    assert len(details) == 1
    assert "人员：张三 +8613800138000" in (details[0].content or "")
    assert "情况：张三：发热，体温 38.5℃" in (details[0].content or "")
    # nothing new in the group
    assert officer.replies_since(mark, OFFICERS) == []
    async with sessionmaker() as session:
        reads = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "case.read"))
        )
        case = await session.scalar(select(Case))
        assert case is not None
        assert [(r.entity_id, r.actor_telegram_id, r.community_id) for r in reads] == [
            (case.id, OFFICER_ID, community.community_id),
            (case.id, OFFICER_ID, community.community_id),
        ]
    # the grid worker acts on the private card: it stays whole there
    replies = await grid.press("已知悉", private)
    assert "人员：张三" in texts(replies) and "状态：已知悉" in texts(replies)


async def test_the_group_guard_catches_a_leak(
    database_url: str,
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The suite-wide guard is real: a resident's name, phone, room or temperature sent
    to a group is found. (A double of its own, so the guard of this test stays clean.)"""
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    bot = RunningBot(double, settings_for(double, database_url), clock, catalog)
    await bot.start()
    try:
        resident = ChatUser(double, double.user(5001, "小明"))
        await register(sessionmaker, clock, community, resident)
        double.group(OWNERS, "业主群")
        for i, text in enumerate(
            ["张三", "电话 138 0013 8000", "1单元 101 有人发热", "今日一切正常"]
        ):
            async with sessionmaker.begin() as session:
                await outbox.enqueue(
                    session, clock, kind="test", chat_id=OWNERS, is_group=True,
                    dedup_key=f"leak:{i}", payload=outbox.message_payload(text),
                )  # fmt: skip
        await bot.drain()
        found = await check_groups(double, database_url, "leak-test")
        assert sorted(hit.split(": ")[1].split(" got ")[1] for hit in found) == [
            "name 张三",
            "phone 13800138000",
            "room 1单元 101",
        ]
    finally:
        await bot.stop()
        await double.stop()


async def test_staff_of_two_communities_pick_one_per_chat(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        other = Community(name="西湖社区", created_at=clock.now())
        session.add(other)
        await session.flush()
        officer_row = await session.scalar(
            select(Person).where(Person.telegram_user_id == OFFICER_ID)
        )
        assert officer_row is not None
        await grant_role(
            session, clock, person=officer_row, role=Role.OFFICER,
            scope_type=ScopeType.COMMUNITY, scope_id=other.id, by=None,
        )  # fmt: skip
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await officer.send("/cases")
    assert texts(replies) == (
        "您在多个社区有职务。请选择现在要办理哪个社区的事务（本聊天会记住您的选择，"
        "发送 /community 可更换）："
    )
    assert [[text for text, _ in row] for row in double.inline_buttons(replies[-1])] == [
        ["东湖社区"],
        ["西湖社区"],
    ]
    # a forged choice of a community the officer has no role in
    await officer.press_data("cmm:999999", replies[-1], strict=False)
    assert officer.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"
    replies = await officer.press("西湖社区", replies[-1])
    assert texts(replies) == "✅ 本聊天中您现在办理 西湖社区 的事务。请重新发送刚才的命令。"
    replies = await officer.send("/settings")
    assert texts(replies).startswith("西湖社区 社区设置")
    replies = await officer.send("/community")
    await officer.press("东湖社区", replies[-1])
    replies = await officer.send("/settings")
    assert texts(replies).startswith("东湖社区 社区设置")
