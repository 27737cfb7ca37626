"""Defects found by walking the sandbox as staff (QA round 2): each test shows a whole
screen as the person reads it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Community, Person
from bot.double import BotApiDouble
from scheduler import tick
from tests.conftest import SHANGHAI
from tests.conversations.test_cases_flow import OFFICER_GROUP, _card, _officer_chat, _symptom
from tests.conversations.test_notices_flow import GROUP, admin_en, setup_world
from tests.conversations.test_reports_flow import add_risk, register
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import ADMIN_ID, OFFICER_ID, SeededCommunity


async def test_notice_card_keeps_the_authors_language_when_its_progress_is_updated(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    """An officer whose Telegram is in English (no /language chosen, so nothing on their
    record) composes in English; the periodic edit of the card used to switch it to the
    community's Chinese ("📢 通知 #1（已发送，立即发送）… 已送达 1")."""
    await setup_world(double, sessionmaker, clock, community)
    me = admin_en(double)
    await me.send("/notice")
    await me.send("Water off tonight <b>8pm</b>")
    await me.press("阳光花园 owners' group")
    await me.press("Next")
    replies = await me.press("Send now")
    assert replies[-1].text == (
        "📢 Notice #1 (sending, sent now)\nWater off tonight <b>8pm</b>\n"
        "Delivered 0 · failed 0 · pending 1"
    )
    await running_bot.drain()
    assert double.messages(GROUP)[-1].text == (
        "📢 Community notice\n\nWater off tonight <b>8pm</b>"
    )

    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert me.last().text == (
        "📢 Notice #1 (sent, sent now)\nWater off tonight <b>8pm</b>\n"
        "Delivered 1 · failed 0 · pending 0"
    )


async def test_round_door_line_takes_a_name_of_several_words_as_in_the_usage_example(
    running_bot: RunningBot, double: BotApiDouble, community: SeededCommunity
) -> None:
    """The English usage of /round_new ends with "door 阳光花园 1栋 1单元 101 Grandma
    Zhang"; typed as shown, it was refused: 'No address "阳光花园 1栋 1单元 101 Grandma".'"""
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send(
        "/round_new 2022-03-12 everyone\n"
        "阳光花园 1栋 08:00-09:00 East gate site\n"
        "door 阳光花园 1栋 1单元 101 Grandma Zhang\n"
        "door 1栋 1单元 102 Grandpa Li"
    )
    assert [m.content for m in replies] == [
        "📝 Testing round #1 (draft)\n"
        "Date: 2022-03-12　Who: everyone\n"
        "阳光花园 1栋: 08:00-09:00 East gate site\n"
        "Tested at the door: 2 households\n"
        'When it is right, press "Announce": the owners\' groups and every household are told.'
    ]


async def test_resolve_prompt_says_the_resident_reads_the_note_only_when_they_do(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """The note typed after ✅ is sent word for word to the resident who reported
    symptoms or asked for help, but the prompt did not say so: an officer writing an
    internal remark ("claims a fever, probably lying") would send it to the resident."""
    await register(sessionmaker, clock, community, resident)
    officer, _, _ = await _officer_chat(double)
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    await _symptom(resident)
    await running_bot.drain()
    card = _card(double, 1)
    _, resolve_data = officer.button_data("办结", card)
    replies = await officer.press_data(resolve_data, card, chat_id=OFFICER_GROUP)
    assert [m.content for m in replies] == [
        "王干事，请回复一句事件 #1 的办结说明（报告的住户会收到这句说明，请写给住户看）"
        "（发送 /cancel 放弃）："
    ]
    await officer.send("已电话联系，明天陪同就诊", chat=double.chats[OFFICER_GROUP])
    await running_bot.drain()
    assert resident.last().content == "您报告的症状报告已由社区办结。说明：已电话联系，明天陪同就诊"

    # A tip-off's reporter is never told: no such line.
    await resident.send("/report")
    await resident.press("线索举报")
    await resident.press("返乡未报备")
    await resident.send("2栋 1单元 302")
    await resident.send("昨天从外地回来没有报备")
    await resident.press("确认提交")
    await running_bot.drain()
    english = ChatUser(double, double.user(ADMIN_ID, "Admin", language_code="en"))
    card = _card(double, 2)
    _, resolve_data = english.button_data("办结", card)
    replies = await english.press_data(resolve_data, card, chat_id=OFFICER_GROUP)
    assert [m.content for m in replies] == [
        "Admin, please reply with a short resolution note for case #2 (/cancel to stop):"
    ]


async def test_monitoring_record_of_an_isolation_started_by_a_return_report(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """An isolation started by a return report has no monitoring events, so its record
    said only "Monitoring #1 (monitored)": no category, no dates."""
    user = english_resident
    await register(sessionmaker, clock, community, user, name="Alice", member=None)
    await add_risk(sessionmaker, clock, community, "深圳 high 3-1")
    await user.send("/report")
    await user.press("I came back")
    await user.send("shenzhen nanshan")
    await user.send("yesterday")
    await user.press("Plane")
    await user.press("Alice")
    await user.press("Done")
    await user.press("Submit")
    async with sessionmaker() as session:
        alice = await session.scalar(select(Person.id).where(Person.name == "Alice"))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send("/monitor history Alice")
    assert [m.content for m in replies] == [
        f"Monitoring record of #{alice} Alice\n"
        "Monitoring #1: home isolation, 2022-03-09 to 2022-03-22 (monitored)"
    ]
    # Events are dated in the community's time zone (07:00 in Shanghai is still the
    # previous day in UTC).
    clock.set(datetime(2022, 3, 10, 7, 0, tzinfo=SHANGHAI))
    officer_zh = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="zh-hans"))
    await officer_zh.send("/monitor extend Alice 3 复查")
    replies = await officer_zh.send("/monitor history Alice")
    assert [m.content for m in replies] == [
        f"#{alice} Alice 的监测记录\n监测 #1：居家隔离，2022-03-09 至 2022-03-25（监测中）\n"
        "• 2022-03-10 延长 居家隔离 至 2022-03-25：复查"
    ]


async def _report_then_resolve(
    running_bot: RunningBot,
    double: BotApiDouble,
    user: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    note: str,
    between: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Alice (English) reports symptoms; the officer resolves the case with `note` in the
    officers' chat (after `between`, if given)."""
    await register(sessionmaker, clock, community, user, name="Alice", member=None)
    officer, _, _ = await _officer_chat(double)
    await officer.send("/officers_here", chat=double.chats[OFFICER_GROUP])
    await user.send("/report")
    await user.press("Symptoms")
    await user.press("Alice")
    await user.press("Cough")
    await user.press("Done")
    await user.press("Skip")
    await user.send("today")
    await user.press("Submit")
    await running_bot.drain()
    if between is not None:
        await between()
    card = _card(double, 1)
    _, resolve_data = officer.button_data("办结", card)
    await officer.press_data(resolve_data, card, chat_id=OFFICER_GROUP)
    await officer.send(note, chat=double.chats[OFFICER_GROUP])
    await running_bot.drain()


async def test_resident_told_of_a_resolved_help_request_in_plain_english(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """The resident read "The community has resolved your Symptoms." (the case kind's
    label dropped into a sentence); the report is now named as such."""
    await _report_then_resolve(
        running_bot, double, english_resident, community, sessionmaker, clock,
        "已电话联系 / we called you",
    )  # fmt: skip
    assert english_resident.last().content == (
        "Your report “Symptoms” has been resolved by the community. "
        "Note: 已电话联系 / we called you"
    )


async def test_resolved_note_reaches_a_resident_without_a_language_in_the_communitys(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """A reporter with no language on record (a record made before languages were kept)
    was told in Chinese whatever their community spoke: the note now follows the rule of
    every message the bot sends on its own (their record, else /language, else the
    community's)."""

    async def forget_language() -> None:
        async with sessionmaker.begin() as session:
            person = await session.scalar(
                select(Person).where(Person.telegram_user_id == english_resident.id)
            )
            assert person is not None
            person.language = None
            found = await session.get(Community, community.community_id)
            assert found is not None
            found.locale = "en"

    await _report_then_resolve(
        running_bot, double, english_resident, community, sessionmaker, clock,
        "We called you.", between=forget_language,
    )  # fmt: skip
    assert english_resident.last().content == (
        "Your report “Symptoms” has been resolved by the community. Note: We called you."
    )
