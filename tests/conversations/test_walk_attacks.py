"""Attackers and careless users, as an outside scenario would act (helper walk):
forged buttons with ids no database column can hold, staff commands with such ids,
arguments far longer than a Telegram message. Each gets a polite answer, never the
generic apology, and nothing is saved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Invitation, Person
from bot.double import BotApiDouble
from messages import Catalog
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity

HUGE = "9" * 25


@pytest.mark.parametrize(
    "data",
    [
        f"case:ack:{HUGE}",
        f"case:resolve:-{HUGE}",
        f"ci:normal:{HUGE}",
        f"iso:extend:{HUGE}:7",
        f"iso:extend:1:{HUGE}",
        f"ntc:cancel:{HUGE}",
        f"pf:remove:{HUGE}",
    ],
)
async def test_forged_button_with_a_huge_number_has_expired(
    data: str,
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await register(sessionmaker, clock, community, resident)
    menu = (await resident.send("/start"))[-1]
    replies = await resident.press_data(data, menu, strict=False)
    assert replies == []
    assert resident.answer_of_last_press() == catalog.render("zh-CN", "common.button_expired")


async def test_staff_commands_with_a_huge_person_number_show_their_usage(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    catalog: Catalog,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await officer.send(f"/invite_member {HUGE}")
    assert texts(replies) == catalog.render("zh-CN", "households.invite_member_usage")
    replies = await officer.send(f"/move_member {HUGE} 阳光花园/1栋/1单元/101")
    assert texts(replies) == catalog.render("zh-CN", "households.move_usage")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Invitation)) == 0


@pytest.mark.parametrize("command", ["/ledger", "/gate_poster", "/coverage"])
async def test_a_five_thousand_character_argument_is_answered_shortened(
    command: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    async with sessionmaker() as session:
        audited = await session.scalar(select(func.count()).select_from(AuditEntry))
    replies = await officer.send(f"{command} " + "长" * 5000)
    (reply,) = replies
    assert "长" * 40 in (reply.content or "") and "…" in (reply.content or "")
    assert len(reply.content or "") < 1000
    assert "出了点问题" not in (reply.content or "")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == audited


async def test_another_households_invitation_is_refused_at_once_when_moving_would_strand(
    running_bot: RunningBot,
    resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """Bob heads 102 with a child without Telegram; a link to 101 cannot take him away
    from the child: he is told so at once, before any name or phone is asked."""
    await register(sessionmaker, clock, community, resident)
    bob = ChatUser(double, double.user(5003, "Bob"))
    bob_id = await register(
        sessionmaker, clock, community, bob, name="Bob", room="阳光花园/1栋/1单元/102", member="Kid"
    )
    await resident.send("/invite")
    async with sessionmaker() as session:
        invitation = await session.scalar(select(Invitation))
        assert invitation is not None
    replies = await bob.send(f"/start join_{invitation.token}")
    assert texts(replies) == catalog.render("zh-CN", "households.last_reporter")
    async with sessionmaker() as session:
        bob_row = await session.get(Person, bob_id)
        assert bob_row is not None
        assert bob_row.household_id == community.household("阳光花园/1栋/1单元/102")
        invitation = await session.get(Invitation, invitation.id)
        assert invitation is not None and invitation.used_at is None


async def test_a_user_who_blocked_the_bot_is_no_error(
    running_bot: RunningBot,
    resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The reply to someone who blocked the bot meanwhile is refused (403): a fact of
    life, not a fault to log as an error with a traceback."""
    await register(sessionmaker, clock, community, resident)
    double.block_user(resident.user, notify=False)
    with caplog.at_level("INFO", logger="community_guard.errors"):
        replies = await resident.send("/me")
    assert replies == []
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    assert any("blocked" in r.getMessage() for r in caplog.records)
    double.unblock_user(resident.user)
    replies = await resident.send("/me")
    assert texts(replies).startswith("我的报备")
