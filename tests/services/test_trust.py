"""Trust rules below the handlers (issue 10): the one scope rule, the community chosen
per chat, audit entries belonging to a community with old and new values, declines
counted without an id, households emptied by their last member."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    AuditEntry,
    Community,
    Consent,
    ConsentDecline,
    Person,
    Role,
    ScopeType,
)
from bot.services import households, registration, scope
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import ensure_staff_person, grant_role, load_identity
from tests.conftest import SHANGHAI
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity

ROOM = "阳光花园/1栋/1单元/101"


async def test_declines_are_counted_without_an_id(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        for user in (11, 12):
            stored = await registration.record_consent(
                session, clock, telegram_user_id=user, locale="zh-CN", granted=False
            )
            assert stored is None
    async with sessionmaker() as session:
        assert (await session.scalars(select(Consent))).all() == []
        rows = (await session.scalars(select(ConsentDecline))).all()
        assert [(r.day.isoformat(), r.locale, r.count) for r in rows] == [
            ("2022-03-10", "zh-CN", 2)
        ]


async def test_person_updates_record_old_and_new_values(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        person = Person(
            telegram_user_id=21, household_id=community.household(ROOM), name="张三",
            phone="+8613800138000", is_head=True, created_at=clock.now(),
        )  # fmt: skip
        session.add(person)
        await session.flush()
        await registration.update_profile(
            session, clock, person=person, name="张三丰", phone="+8613900139000"
        )
    async with sessionmaker() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "person.update"))
        assert entry is not None
        assert entry.details == {
            "name": {"old": "张三", "new": "张三丰"},
            "phone": {"old": "+8613800138000", "new": "+8613900139000"},
        }
        assert entry.community_id == community.community_id


async def test_one_scope_rule_and_the_community_chosen_per_chat(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        compound_officer = await ensure_staff_person(
            session, clock, telegram_user_id=31, name="钱干事"
        )
        await grant_role(
            session, clock, person=compound_officer, role=Role.OFFICER,
            scope_type=ScopeType.COMPOUND, scope_id=community.compound_ids["幸福里"], by=None,
        )  # fmt: skip
    async with sessionmaker.begin() as session:
        identity = await load_identity(session, 31)
        acting = await scope.resolve(session, identity, "cases")
        assert not acting.whole_community
        assert acting.reaches(compound_id=community.compound_ids["幸福里"])
        assert not acting.reaches(compound_id=community.compound_ids["阳光花园"])
        with pytest.raises(NotAllowed):
            await scope.resolve(session, identity, "audit")
        grid = await load_identity(session, GRID_WORKER_ID)
        grid_scope = await scope.resolve(session, grid, "cases")
        assert grid_scope.grid_ids == {community.grid_ids["第一网格"]}
        with pytest.raises(NotAllowed):
            await scope.resolve(session, grid, "ledger")
        # the officer becomes admin of a second community: a choice is needed per chat
        other = Community(name="西湖社区", created_at=datetime(2022, 3, 1, tzinfo=SHANGHAI))
        session.add(other)
        await session.flush()
        officer = await session.scalar(select(Person).where(Person.telegram_user_id == OFFICER_ID))
        assert officer is not None
        await grant_role(
            session, clock, person=officer, role=Role.ADMIN, scope_type=ScopeType.COMMUNITY,
            scope_id=other.id, by=None,
        )  # fmt: skip
        identity = await load_identity(session, OFFICER_ID, chat_id=OFFICER_ID)
        with pytest.raises(scope.ChooseCommunity) as choose:
            await scope.resolve(session, identity, "cases", chat_id=OFFICER_ID)
        assert [c.name for c in choose.value.communities] == ["东湖社区", "西湖社区"]
        # audit is an admin capability: only the second community carries it
        assert (await scope.resolve(session, identity, "audit")).community.id == other.id
        await scope.choose_community(
            session, clock, identity, chat_id=OFFICER_ID, community_id=other.id
        )
        identity = await load_identity(session, OFFICER_ID, chat_id=OFFICER_ID)
        assert identity.chosen_community_id == other.id
        assert (await scope.resolve(session, identity, "cases")).community.id == other.id
        # another chat remembers nothing yet
        elsewhere = await load_identity(session, OFFICER_ID, chat_id=-100)
        with pytest.raises(scope.ChooseCommunity):
            await scope.resolve(session, elsewhere, "cases", chat_id=-100)
        # one cannot choose a community one has no role in
        resident_like = await load_identity(session, GRID_WORKER_ID, chat_id=1)
        with pytest.raises(NotAllowed):
            await scope.choose_community(
                session, clock, resident_like, chat_id=1, community_id=other.id
            )


async def test_last_member_leaving_empties_the_household(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        alone = Person(
            telegram_user_id=41, household_id=community.household(ROOM), name="独居",
            is_head=True, created_at=clock.now(),
        )  # fmt: skip
        session.add(alone)
        await session.flush()
        assert await households.leave(session, clock, person=alone) == 0
        assert alone.household_id is None and not alone.is_head
        with pytest.raises(DomainError) as err:
            await households.leave(session, clock, person=alone)
        assert err.value.key == "registration.not_registered"
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Person)
                .where(Person.household_id == community.household(ROOM))
            )
            == 0
        )
