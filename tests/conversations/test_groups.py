"""The bot in owners' groups (R-GRP, R-RBAC): binding, deep links, welcomes, menus."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry, GroupChat
from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity

GROUP_ID = -100500


async def test_only_an_officer_in_the_database_can_bind_a_group(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    group = double.group(GROUP_ID, "阳光花园业主群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    # The resident is even a group administrator: chat rights do not count, roles do.
    double.add_member(group, resident.user, status="administrator")
    double.add_member(group, officer.user)

    replies = await resident.send("/bind", chat=group)
    assert "只有社区工作人员" in texts(replies)
    replies = await officer.send("/bind", chat=group)
    assert "请选择本群所属的小区" in texts(replies)
    keyboard = replies[-1]
    # the resident presses the officer's button: refused, nothing bound
    _, data = officer.button_data("阳光花园", keyboard)
    await resident.press_data(data, keyboard)
    assert "只有社区工作人员" in (resident.answer_of_last_press() or "")
    async with sessionmaker() as session:
        assert (await session.scalars(select(GroupChat))).all() == []
    # a forged compound id, pressed by the officer
    await officer.press_data("bind:999999", keyboard, strict=False)
    assert "没有找到这个小区" in (officer.answer_of_last_press() or "")
    replies = await officer.press_data(data, keyboard)
    assert "已绑定到小区：阳光花园" in texts(replies)
    async with sessionmaker() as session:
        bound = (await session.scalars(select(GroupChat))).all()
        assert [(g.chat_id, g.compound_id) for g in bound] == [
            (GROUP_ID, community.compound_ids["阳光花园"])
        ]
        actions = (await session.scalars(select(AuditEntry.action))).all()
        assert "group.bind" in actions
    # by name, and unbinding
    replies = await officer.send("/unbind", chat=group)
    assert "解除绑定" in texts(replies)
    replies = await officer.send("/bind 幸福里", chat=group)
    assert "幸福里" in texts(replies)
    replies = await resident.send("/unbind", chat=group)
    assert "只有社区工作人员" in texts(replies)


async def test_group_commands_link_to_the_private_chat_and_welcome_new_members(
    running_bot: RunningBot, double: BotApiDouble, resident: ChatUser, community: SeededCommunity
) -> None:
    group = double.group(GROUP_ID, "业主群")
    updates = double.add_bot_to_group(group, resident.user)
    for update in updates:
        await double.wait_processed(update)
    assert "/bind" in (double.last_message(GROUP_ID).content or "")  # type: ignore[union-attr]

    replies = await resident.send("/report", chat=group)
    buttons = double.inline_buttons(replies[-1])
    assert buttons == [[("👉 打开私聊", "https://t.me/community_guard_bot?start=report")]]
    replies = await resident.send("/register@community_guard_bot", chat=group)
    assert double.inline_buttons(replies[-1])[0][0][1].endswith("?start=register")

    newcomer = double.user(6006, "赵六", last_name="Zhao", username="zhaoliu")
    mark = double.mark()
    for update in double.join(newcomer, group):
        await double.wait_processed(update)
    welcome = [m for c in double.calls[mark:] for m in c.messages if m.chat_id == GROUP_ID]
    assert len(welcome) == 1
    text = welcome[0].content or ""
    assert "欢迎新邻居" in text
    assert "赵六" not in text and "zhaoliu" not in text and "6006" not in text


async def test_deep_link_start_register_opens_registration(
    running_bot: RunningBot, resident: ChatUser, community: SeededCommunity
) -> None:
    replies = await resident.send("/start register")
    assert "个人信息与健康信息处理告知" in texts(replies)


async def test_command_menus_are_installed_per_scope_and_language(
    running_bot: RunningBot, double: BotApiDouble
) -> None:
    private_zh = double.commands({"type": "all_private_chats"})
    private_en = double.commands({"type": "all_private_chats"}, language_code="en")
    groups = double.commands({"type": "all_group_chats"})
    assert {c["command"] for c in private_zh} >= {"start", "profile", "language", "cancel"}
    assert (
        next(c for c in private_en if c["command"] == "profile")["description"] == "My registration"
    )
    assert {c["command"] for c in groups} >= {"report", "register"}


async def test_group_upgraded_to_supergroup_keeps_its_binding(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    old_id, new_id = -4000, -1004000
    async with sessionmaker.begin() as session:
        session.add(
            GroupChat(
                chat_id=old_id,
                compound_id=community.compound_ids["阳光花园"],
                bound_at=running_bot.clock.now(),
            )
        )
    group = double.group(old_id, "业主群", type="group")
    officer = double.user(OFFICER_ID, "王干事")
    update = double.enqueue(
        "message",
        {
            "message_id": 99,
            "date": 1646874000,
            "chat": {"id": group.id, "type": "group", "title": "业主群"},
            "from": officer.to_api(),
            "migrate_to_chat_id": new_id,
        },
    )
    await double.wait_processed(update)
    async with sessionmaker() as session:
        assert [g.chat_id for g in await session.scalars(select(GroupChat))] == [new_id]
