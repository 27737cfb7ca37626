"""Registration end to end over HTTP (R-REG, R-I18N)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Consent, Person
from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import SeededCommunity


async def walk_to_name(user: ChatUser, building: str = "1栋", room: str = "101") -> None:
    await user.send("/start")
    await user.press("同意")
    await user.press("阳光花园")
    await user.press(building)
    await user.press("1单元")
    await user.press(room)


async def test_full_registration_in_chinese(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
) -> None:
    replies = await resident.send("/start")
    assert "个人信息与健康信息处理告知" in texts(replies)
    await resident.press("同意")
    assert "小区" in resident.last().content
    await resident.press("阳光花园")
    await resident.press("1栋")
    await resident.press("1单元")
    replies = await resident.press("101")
    assert "姓名" in texts(replies)
    replies = await resident.send("张三")
    assert double.reply_keyboard(resident.id) is not None
    assert double.reply_keyboard(resident.id)["keyboard"][0][0]["request_contact"] is True
    await resident.share_contact("8613800138000")
    await resident.press("添加家庭成员")
    await resident.send("张奶奶")
    await resident.press("祖父母")
    replies = await resident.press("没有了")
    summary = texts(replies)
    assert "阳光花园 1栋 1单元 101" in summary and "张奶奶" in summary and "+8613800138000" in summary
    replies = await resident.press("确认提交")
    assert "登记成功" in texts(replies)

    async with sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        assert person is not None and person.name == "张三" and person.is_head
        assert person.household_id == community.household("阳光花园/1栋/1单元/101")
        members = await session.scalar(
            select(func.count()).select_from(Person).where(Person.household_id == person.household_id)
        )
        assert members == 2
    # Registered: /start now opens the main menu
    replies = await resident.send("/start")
    assert "请选择要办理的事项" in texts(replies)
