"""A resident as the outside scenarios act (helper walk): while today's check-in waits,
whatever is typed that is not a temperature ("🤒", "正常", a blank, a page of text) is
answered with how to answer the check-in, in the resident's language; nothing is saved
until a temperature or a button comes."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CheckInStatus
from bot.double import BotApiDouble
from messages import Catalog
from tests.conversations.test_checkin_answers import checkin_of, isolated_and_prompted
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import SeededCommunity


@pytest.mark.parametrize("typed", ["🤒", "正常", "fine", "　", "体温" * 3000])
async def test_while_the_check_in_waits_other_text_says_how_to_answer(
    typed: str,
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    replies = await resident.send(typed)
    assert texts(replies) == catalog.render("zh-CN", "checkin.pending_hint")
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING
    replies = await resident.send("36,5")
    assert "已记录" in texts(replies) and "36.5" in texts(replies)
    # Answered: the same text now opens the main menu, as for anyone registered.
    replies = await resident.send(typed)
    assert "请选择要办理的事项" in texts(replies)


async def test_the_hint_in_english(
    running_bot: RunningBot,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(
        running_bot, english_resident, community, sessionmaker, clock, language="en"
    )
    replies = await english_resident.send("😷")
    assert texts(replies) == (
        "Today's health check-in is still waiting: press a button under the check-in "
        "message, or type the temperature, e.g. 36.5. For anything else, send /start."
    )
    replies = await english_resident.send("98.6F")
    assert "37.0" in texts(replies)
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.ANSWERED


async def test_a_command_at_the_name_step_is_not_taken_for_a_name(
    running_bot: RunningBot, english_resident: ChatUser, community: SeededCommunity
) -> None:
    await english_resident.send("/start")
    for label in ("I agree", "阳光花园", "1栋", "1单元", "101"):
        await english_resident.press(label)
    # The command leaves the registration (bot/core/forms.py), says so, and runs.
    replies = await english_resident.send("/me")
    assert texts(replies) == (
        "Please register your household first (send /start), then report.\n"
        "The registration you were doing was set aside; nothing of it was saved. "
        "Send /start to register again."
    )
    replies = await english_resident.send("Alice Wang")
    assert "Step 6" not in texts(replies)


async def test_a_command_inside_a_report_is_not_taken_for_an_answer(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("返乡报备")
    replies = await resident.send("/nonsense")
    assert texts(replies) == catalog.render("zh-CN", "common.unexpected_input")
    replies = await resident.send("深圳南山")
    assert "广东省深圳市南山区" in texts(replies) and "第 2/4 步" in texts(replies)
    # A known command is that command (it leaves the report, as every command does),
    # not a date or a place to look up.
    replies = await resident.send("/me")
    assert texts(replies).startswith("我的报备") and "没能识别" not in texts(replies)


async def test_an_edited_message_is_answered_privately_and_ignored_in_groups(
    running_bot: RunningBot,
    resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    await resident.send("38.5")
    group = double.group(-100777, "阳光花园业主群")
    await resident.send("大家好", group)
    for chat_id, corrected in ((resident.id, "36.5"), (group.id, "大家早")):
        original = next(
            u["message"]
            for u in reversed(double.updates)
            if "message" in u and u["message"]["chat"]["id"] == chat_id
        )
        edited = {**original, "text": corrected, "edit_date": original["date"] + 30}
        mark = double.mark()
        await double.wait_processed(double.enqueue("edited_message", edited), timeout=10)
        replies = resident.replies_since(mark, chat_id)
        if chat_id == resident.id:
            assert texts(replies) == catalog.render("zh-CN", "common.edit_not_read")
        else:
            assert replies == []
    # The answer stays the one sent: a fever, not the edited 36.5.
    checkin = await checkin_of(sessionmaker, iso.isolation_id)
    assert checkin.temperature is not None and str(checkin.temperature) == "38.5"


async def test_a_wrong_visitor_phone_does_not_point_to_a_share_button(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("来访报备")
    await resident.send("王五")
    replies = await resident.send("武汉")
    assert texts(replies) == (
        "这个电话号码好像不对，请输入 11 位手机号码，例如 13800138000；不知道的话请点“跳过”。"
    )
    replies = await resident.press("跳过")
    assert "第 3/5 步" in texts(replies)
    await register(
        sessionmaker, clock, community, english_resident, name="Alice",
        room="阳光花园/1栋/1单元/102", member=None,
    )  # fmt: skip
    await english_resident.send("/report")
    await english_resident.press("Tenants")
    await english_resident.press("Tenants")
    await english_resident.send("Li Si")
    await english_resident.send("Wuhan")
    await english_resident.send("yesterday")
    replies = await english_resident.send("call me")
    assert texts(replies) == (
        "That phone number does not look right. Please type it, e.g. 13800138000."
    )
