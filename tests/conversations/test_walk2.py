"""Follow-ups of the walkthrough (helper walk2): forwarded messages are not the
forwarder's input; two temperatures in one message; a command that interrupts a form
says so; English place names."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CheckInStatus
from bot.double import BotApiDouble
from bot.parsing import several_temperatures
from messages import Catalog
from tests.conversations.test_checkin_answers import checkin_of, isolated_and_prompted
from tests.conversations.test_monitoring_import import _rows, _xlsx
from tests.conversations.test_notices_flow import officer, setup_world
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity


async def test_a_forwarded_temperature_does_not_answer_the_check_in(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    replies = await resident.forward("36.5", origin=english_resident.user)
    assert texts(replies) == catalog.render("zh-CN", "common.forward_not_read")
    assert "转发的消息" in texts(replies)
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING
    # Typed by the resident, the same text is the answer.
    replies = await resident.send("36.5")
    assert "已记录" in texts(replies) and "36.5" in texts(replies)


async def test_a_forwarded_command_runs_nothing_in_both_languages_and_groups(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await register(sessionmaker, clock, community, resident)
    replies = await resident.forward("/invite")
    assert texts(replies) == catalog.render("zh-CN", "common.forward_not_read")
    assert "t.me/" not in texts(replies)
    replies = await english_resident.forward("/start", origin=resident.user)
    assert texts(replies) == (
        "Forwarded messages are not read as answers or commands. "
        "Please type it yourself as a new message."
    )
    group = double.group(-100778, "阳光花园业主群")
    assert await resident.forward("/register", chat=group) == []
    assert await resident.forward("36.5", chat=group) == []
    # Typed, the command is a command.
    replies = await resident.send("/invite")
    assert "t.me/" in texts(replies)


async def test_a_notice_can_still_be_composed_from_a_forwarded_text(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    await setup_world(double, sessionmaker, clock, community)
    me = officer(double)
    await me.send("/notice")
    # A command at the content step is that command, not the notice's text; it leaves
    # the form (nothing was entered: no note).
    replies = await me.send("/chart")
    assert "发给谁" not in texts(replies) and "通知已放下" not in texts(replies)
    await me.send("/notice")
    replies = await me.forward("街道通知：明日全员核酸", origin=double.user(7777, "街道办"))
    assert "发给谁" in texts(replies)
    await me.press("阳光花园业主群")
    replies = await me.press("下一步")
    assert "街道通知：明日全员核酸" in texts(replies)


async def test_two_temperatures_in_one_message_record_nothing_and_say_so(
    running_bot: RunningBot,
    resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(
        running_bot, resident, community, sessionmaker, clock, members=("张奶奶",)
    )
    replies = await resident.send("36.5 37.2")
    assert texts(replies) == (
        "一条消息请只写一个人的体温。您发来的 36.5、37.2 都还没有记录。\n"
        "请先点选是谁，再输入他/她的体温："
    )
    assert [label for row in double.inline_buttons(replies[-1]) for label, _ in row] == [
        "张三",
        "张奶奶",
    ]
    for isolation_id in (iso.isolation_id, iso.member_isolation_ids[0]):
        checkin = await checkin_of(sessionmaker, isolation_id)
        assert checkin.status == CheckInStatus.PENDING
    replies = await resident.press("张奶奶")
    assert "张奶奶" in texts(replies)
    replies = await resident.send("37.2")
    assert "张奶奶" in texts(replies) and "37.2" in texts(replies)
    grandma = await checkin_of(sessionmaker, iso.member_isolation_ids[0])
    assert grandma.temperature == Decimal("37.2")
    # One pending (the resident's own): the same answer, nothing recorded, asked again.
    replies = await resident.send("36.5、36.8")
    assert texts(replies) == (
        "一条消息请只写一个人的体温。您发来的 36.5、36.8 都还没有记录。\n请重新输入体温，一次一个。"
    )
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING
    replies = await resident.send("36.5")
    assert (await checkin_of(sessionmaker, iso.isolation_id)).temperature == Decimal("36.5")


async def test_two_temperatures_in_english(
    running_bot: RunningBot,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(
        running_bot, english_resident, community, sessionmaker, clock, language="en"
    )
    replies = await english_resident.send("36.5 37.2")
    assert texts(replies) == (
        "Please send one temperature per message. Nothing was recorded from 36.5, 37.2.\n"
        "Please type the temperature again, one at a time."
    )
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING


async def test_a_command_that_leaves_a_report_says_so(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await register(sessionmaker, clock, community, resident)
    # Nothing entered yet: leaving says nothing more than the command's own answer.
    await resident.send("/report")
    await resident.press("返乡报备")
    replies = await resident.send("/household")
    assert catalog.render("zh-CN", "core.form_left_report") not in texts(replies)
    # Something entered: the command answers, then says the report was set aside.
    await resident.send("/report")
    await resident.press("返乡报备")
    replies = await resident.send("深圳南山")
    assert "第 2/4 步" in texts(replies)
    replies = await resident.send("/household")
    assert len(replies) == 2
    assert texts([replies[-1]]) == (
        "您正在填写的报备已放下，填过的内容没有保存。需要时请发送 /report 重新开始。"
    )
    # /report itself and /cancel say enough on their own.
    await resident.send("/report")
    await resident.press("返乡报备")
    await resident.send("深圳南山")
    replies = await resident.send("/cancel")
    assert texts(replies) == catalog.render("zh-CN", "common.cancelled")


async def test_leaving_a_report_in_english(
    running_bot: RunningBot,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, english_resident)
    await english_resident.send("/report")
    await english_resident.press("I came back")
    await english_resident.send("Shenzhen Nanshan")
    replies = await english_resident.send("/me")
    assert texts([replies[-1]]) == (
        "The report you were writing was set aside; nothing of it was saved. "
        "Send /report to start again."
    )


async def test_a_command_that_leaves_the_registration_says_so(
    running_bot: RunningBot, english_resident: ChatUser, community: SeededCommunity
) -> None:
    await english_resident.send("/start")
    for label in ("I agree", "阳光花园", "1栋"):
        await english_resident.press(label)
    replies = await english_resident.send("/report")
    assert texts([replies[-1]]) == (
        "The registration you were doing was set aside; nothing of it was saved. "
        "Send /start to register again."
    )


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("36.5 37.2", ["36.5", "37.2"]),
        ("36,5 37,2", ["36.5", "37.2"]),
        ("36.5、37.2 36.8", ["36.5", "37.2", "36.8"]),
        ("37度 2", []),
        ("36.5 度", []),
        ("36.5", []),
    ],
)
def test_several_temperatures(typed: str, found: list[str]) -> None:
    assert several_temperatures(typed) == found


async def test_english_place_names_of_new_areas_and_non_han_names(
    running_bot: RunningBot,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, english_resident)
    await english_resident.send("/report")
    await english_resident.press("I came back")
    replies = await english_resident.send("上海浦东")
    assert texts(replies).startswith("Place: Pudong New Area, Shanghai\nStep 2/4")
    # The English name is also what can be typed.
    for typed, shown in (("Qiqihar", "Qiqihar, Heilongjiang"), ("齐齐哈尔", "Qiqihar"),
                         ("Pudong New Area", "Pudong New Area, Shanghai")):  # fmt: skip
        await english_resident.send("/report")
        await english_resident.press("I came back")
        replies = await english_resident.send(typed)
        assert texts(replies).startswith(f"Place: {shown}")
        assert "'" not in texts(replies) and "Pudongxin" not in texts(replies)


def test_the_steps_that_read_forwards_exist() -> None:
    from aiogram.fsm.state import StatesGroup

    from handlers import ACCEPTS_FORWARDED, monitoring, notices, rounds, supplies

    states = {
        s.state
        for module in (monitoring, notices, rounds, supplies)
        for group in vars(module).values()
        if isinstance(group, type) and issubclass(group, StatesGroup) and group is not StatesGroup
        for s in group.__states__
    }
    assert set(ACCEPTS_FORWARDED) <= states


async def test_a_list_file_forwarded_from_a_work_chat_is_imported(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="zh-hans"))
    assert "请发送协查名单文件" in texts(await officer.send("/monitor import"))
    mark = double.mark()
    update = double.send_document(
        officer.user, "协查名单.xlsx", _xlsx(_rows()), forward_from=double.user(7777, "街道办")
    )
    await double.wait_processed(update, timeout=30)
    replies = officer.replies_since(mark, officer.id)
    assert texts(replies[:1]).startswith("名单核对：协查名单.xlsx（共 200 人）")
    # Outside that step, a forwarded file is not read either.
    mark = double.mark()
    update = double.send_document(
        resident.user, "a.xlsx", _xlsx(_rows()), forward_from=double.user(7777, "街道办")
    )
    await double.wait_processed(update, timeout=30)
    assert "转发的消息" in texts(resident.replies_since(mark, resident.id))
