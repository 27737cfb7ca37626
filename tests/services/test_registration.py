from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Consent, Household, Person
from bot.services import households, registration
from bot.services.errors import DomainError
from bot.services.identity import Identity
from bot.services.registration import MemberDraft, RegistrationDraft
from tests.support.community import SeededCommunity

ROOM = "阳光花园/1栋/1单元/101"


async def _register(
    session: AsyncSession,
    clock: FakeClock,
    user_id: int,
    household_id: int,
    name: str,
    members: list[MemberDraft] | None = None,
) -> registration.RegistrationResult:
    await registration.record_consent(
        session, clock, telegram_user_id=user_id, locale="zh-CN", granted=True
    )
    return await registration.register_household(
        session,
        clock,
        telegram_user_id=user_id,
        language="zh-CN",
        draft=RegistrationDraft(household_id, name, "+8613800138000", members or []),
    )


async def test_registration_requires_consent(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(DomainError) as err:
            await registration.register_household(
                session,
                clock,
                telegram_user_id=1,
                language="zh-CN",
                draft=RegistrationDraft(community.household(ROOM), "张三", "+8613800138000"),
            )
        assert err.value.key == "registration.consent_required"
        assert (
            await session.scalar(
                select(func.count()).select_from(Person).where(Person.telegram_user_id == 1)
            )
            == 0
        )


async def test_declined_then_granted_consent_uses_latest(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessionmaker() as session:
        await registration.record_consent(
            session, clock, telegram_user_id=5, locale="en", granted=True
        )
        clock.advance(__import__("datetime").timedelta(minutes=1))
        await registration.record_consent(
            session, clock, telegram_user_id=5, locale="en", granted=False
        )
        assert not await registration.has_consent(session, 5)
        rows = (await session.scalars(select(Consent).where(Consent.telegram_user_id == 5))).all()
        # A grant per purpose (personal data, health data), each with its version; a
        # decline is stored once.
        assert [(r.purpose, r.granted) for r in rows] == [
            ("personal", True),
            ("health", True),
            ("personal", False),
        ]
        assert all(r.text_version == registration.CONSENT_VERSION for r in rows)


async def test_head_registers_with_members_and_second_member_joins(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    household_id = community.household(ROOM)
    async with sessionmaker.begin() as session:
        first = await _register(
            session,
            clock,
            1,
            household_id,
            "张三",
            [MemberDraft("张奶奶", "grandparent"), MemberDraft("李四", "spouse")],
        )
        assert first.person.is_head and not first.joined_existing
        assert {m.name for m in first.added_members} == {"张奶奶", "李四"}
    async with sessionmaker.begin() as session:
        # Someone typing the name 李四 gets no claim on her record, and joins nothing:
        # a pending request waits for the head (R-HH).
        second = await _register(session, clock, 2, household_id, "李四")
        assert second.pending is not None and second.person is None
        assert not second.joined_existing and not second.claimed_member
    async with sessionmaker() as session:
        members = (
            await session.scalars(select(Person).where(Person.household_id == household_id))
        ).all()
        assert sorted((m.name, m.telegram_user_id) for m in members) == [
            ("张三", 1),
            ("张奶奶", None),
            ("李四", None),
        ]
        assert await session.scalar(select(func.count()).select_from(Household)) == 26
        actions = (await session.scalars(select(AuditEntry.action))).all()
        assert actions.count("registration.saved") == 1
        assert actions.count("household.join_request") == 1


async def test_registering_again_updates_instead_of_duplicating(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        await _register(session, clock, 1, community.household(ROOM), "张三")
    async with sessionmaker.begin() as session:
        moved = await _register(
            session, clock, 1, community.household("阳光花园/2栋/1单元/202"), "张三丰"
        )
        assert moved.person.name == "张三丰"
    async with sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Person).where(Person.telegram_user_id == 1)
            )
            == 1
        )


async def test_unknown_household_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(DomainError) as err:
            await _register(session, clock, 1, 999_999, "张三")
        assert err.value.key == "registration.room_unknown"


async def test_members_added_and_removed_only_within_own_household(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        a = (await _register(session, clock, 1, community.household(ROOM), "张三")).person
        b = (
            await _register(session, clock, 2, community.household("幸福里/A座/1单元/101"), "王五")
        ).person
        kid = await registration.add_member(
            session, clock, reporter=a, member=MemberDraft("张小", "child")
        )
        with pytest.raises(DomainError):
            await registration.add_member(
                session, clock, reporter=a, member=MemberDraft("张小", "child")
            )
        as_a, as_b = Identity(1, a), Identity(2, b)
        with pytest.raises(DomainError):  # another household's head
            await households.remove_member(session, clock, identity=as_b, member_id=kid.id)
        with pytest.raises(DomainError):  # someone of another household
            await households.remove_member(session, clock, identity=as_a, member_id=b.id)
        removed = await households.remove_member(session, clock, identity=as_a, member_id=kid.id)
        assert removed.household_id is None
