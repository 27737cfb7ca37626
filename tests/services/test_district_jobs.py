"""One bot per district on one database (issue 17): the scheduler's jobs of a district's
bot (its sessions carry COMMUNITIES, bot/db/session.py) touch only its communities, and
its inbox purge only its own inbox rows.

Two districts share the database: 东湖社区 (bot 1) and 西湖社区 (bot 2). Each has a care
check left unanswered, a join request the head did not answer, and handled inbox rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.core import inbox
from bot.db.models import (
    Building,
    CareCheck,
    Case,
    Compound,
    Household,
    InboxUpdate,
    JoinRequest,
    Person,
    Unit,
)
from bot.db.session import create_sessionmaker
from bot.services import care, households
from bot.services.directory import import_register
from bot.settings import Settings
from messages import Catalog
from scheduler import JobContext
from scheduler.privacy import daily_purge
from tests.support.community import register_rows


@dataclass(frozen=True)
class District:
    bot_id: int
    community_id: int
    household_id: int
    person_id: int
    sessionmaker: async_sessionmaker[AsyncSession]


async def _district(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    bot_id: int,
    name: str,
) -> District:
    async with sessionmaker.begin() as session:
        result = await import_register(
            session, clock, community_name=name, timezone="Asia/Shanghai", rows=register_rows()
        )
        community_id = result.community.id
        household_id = await session.scalar(
            select(Household.id)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
            .where(Compound.community_id == community_id)
            .order_by(Household.id)
            .limit(1)
        )
        assert household_id is not None
        person = Person(
            telegram_user_id=7000 + bot_id, household_id=household_id, name=f"{name}居民",
            is_head=True, created_at=clock.now(),
        )  # fmt: skip
        session.add(person)
        await session.flush()
        asked = clock.now() - timedelta(hours=30)
        session.add(CareCheck(person_id=person.id, day=asked.date(), asked_at=asked))
        session.add(
            JoinRequest(
                household_id=household_id, telegram_user_id=7100 + bot_id, name="申请人",
                language="zh-CN", created_at=clock.now() - timedelta(days=1),
            )
        )  # fmt: skip
        for update_id in (1, 2):  # the same update ids in both bots: ids are per bot
            session.add(
                InboxUpdate(
                    bot_id=bot_id, update_id=update_id, payload={},
                    received_at=clock.now() - timedelta(days=3),
                    done_at=clock.now() - timedelta(days=3),
                )
            )  # fmt: skip
    scoped = create_sessionmaker(engine, bot_id=bot_id, communities=frozenset({community_id}))
    return District(bot_id, community_id, household_id, person.id, scoped)


async def _state(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[dict[int, str], set[int], dict[int, int], list[tuple[int, int]]]:
    """(care check status by person, households whose request was escalated, care-check
    cases by community, inbox rows left (bot, update))."""
    async with sessionmaker() as session:
        checks = {c.person_id: c.status for c in await session.scalars(select(CareCheck))}
        escalated = {
            r.household_id
            for r in await session.scalars(select(JoinRequest))
            if r.escalated_at is not None
        }
        cases: dict[int, int] = {}
        for case in await session.scalars(select(Case).where(Case.kind == "care_check")):
            cases[case.community_id] = cases.get(case.community_id, 0) + 1
        rows = sorted((r.bot_id, r.update_id) for r in await session.scalars(select(InboxUpdate)))
        return checks, escalated, cases, rows


async def test_each_district_bots_jobs_touch_only_its_own_communities(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    east = await _district(engine, sessionmaker, clock, 1, "东湖社区")
    west = await _district(engine, sessionmaker, clock, 2, "西湖社区")

    # district A's leader runs its jobs: the care check and the request of B are left
    async with east.sessionmaker.begin() as session:
        assert await care.missed_checks(session, clock, catalog, 24) == 1
        assert await households.escalate_due(session, clock, catalog) == 1
    assert await inbox.purge(east.sessionmaker, clock) == 2
    checks, escalated, cases, rows = await _state(sessionmaker)
    assert checks == {east.person_id: "missed", west.person_id: "pending"}
    assert escalated == {east.household_id}
    assert cases == {east.community_id: 1}
    assert rows == [(2, 1), (2, 2)]

    # then district B's: its own only; A's are not done twice
    async with west.sessionmaker.begin() as session:
        assert await care.missed_checks(session, clock, catalog, 24) == 1
        assert await households.escalate_due(session, clock, catalog) == 1
    assert await inbox.purge(west.sessionmaker, clock) == 2
    checks, escalated, cases, rows = await _state(sessionmaker)
    assert checks == {east.person_id: "missed", west.person_id: "missed"}
    assert escalated == {east.household_id, west.household_id}
    assert cases == {east.community_id: 1, west.community_id: 1}
    assert rows == []

    # nothing is left to do for either
    for district in (east, west):
        async with district.sessionmaker.begin() as session:
            assert await care.missed_checks(session, clock, catalog, 24) == 0
            assert await households.escalate_due(session, clock, catalog) == 0
        assert await inbox.purge(district.sessionmaker, clock) == 0


async def test_a_single_bot_serving_every_community_does_all(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """COMMUNITIES empty (one bot for all): every community's work, as before."""
    east = await _district(engine, sessionmaker, clock, 1, "东湖社区")
    west = await _district(engine, sessionmaker, clock, 2, "西湖社区")
    async with sessionmaker.begin() as session:
        assert await care.missed_checks(session, clock, catalog, 24) == 2
        assert await households.escalate_due(session, clock, catalog) == 2
    checks, escalated, cases, _rows = await _state(sessionmaker)
    assert checks == {east.person_id: "missed", west.person_id: "missed"}
    assert escalated == {east.household_id, west.household_id}
    assert cases == {east.community_id: 1, west.community_id: 1}


async def test_the_retention_purge_is_the_databases_whichever_district_runs_it(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """The purge's day is recorded once for the database, so the first district leader
    to run it purges every community, and the other districts' leaders find the day
    done. (Before, a district's sessions saw only its own cases, isolations and reports,
    and the other districts' waited for a day that never came.)"""
    east = await _district(engine, sessionmaker, clock, 1, "东湖社区")
    west = await _district(engine, sessionmaker, clock, 2, "西湖社区")
    settings = Settings(_env_file=None, bot_token=SecretStr("1:x"), purge_hour=3)  # type: ignore[call-arg]
    long_ago = clock.now() - timedelta(days=settings.retention_days + 10)
    async with sessionmaker.begin() as session:
        for district in (east, west):
            session.add(
                Case(
                    community_id=district.community_id, kind="symptom", status="resolved",
                    household_id=district.household_id, details={}, created_at=long_ago,
                    resolved_at=long_ago,
                )
            )  # fmt: skip
    clock.set(clock.now().replace(hour=4))
    context = JobContext(
        sessionmaker=east.sessionmaker, clock=clock, settings=settings, catalog=catalog
    )
    result = await daily_purge(context)
    assert result is not None and result.finished and result.counts["cases"] == 2
    async with sessionmaker() as session:
        assert list(await session.scalars(select(Case.id).where(Case.kind == "symptom"))) == []
    west_context = JobContext(
        sessionmaker=west.sessionmaker, clock=clock, settings=settings, catalog=catalog
    )
    assert await daily_purge(west_context) is None  # done for today, for every district
