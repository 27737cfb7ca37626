"""Coverage arithmetic (R-COV) on the seeded community of 26 households."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Community, Report, ScreeningOutcome, ScreeningVisit
from bot.services import coverage
from bot.services.errors import DomainError, NotAllowed
from tests.support.community import SeededCommunity
from tests.support.ledger_rows import add_person

A = "阳光花园/1栋/1单元/"


async def _seed(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, c: SeededCommunity
) -> None:
    now = clock.now()
    old = now - timedelta(days=20)
    async with sessionmaker.begin() as session:
        # 101: registered long ago + door visit done yesterday → screened
        await add_person(session, "甲", c.household(A + "101"), old)
        session.add(ScreeningVisit(household_id=c.household(A + "101"), outcome="done",
                                   at=now - timedelta(days=1)))  # fmt: skip
        # 102: registered long ago, visit done 8 days ago (expired) → missing
        await add_person(session, "乙", c.household(A + "102"), old)
        session.add(ScreeningVisit(household_id=c.household(A + "102"), outcome="done",
                                   at=now - timedelta(days=8)))  # fmt: skip
        # 201: registered 2 days ago (self-report) → screened
        await add_person(session, "丙", c.household(A + "201"), now - timedelta(days=2))
        # 202: visit done but nobody registered → missing (not registered with members)
        session.add(ScreeningVisit(household_id=c.household(A + "202"), outcome="done", at=now))
        # 301: vacant → counted apart
        session.add(ScreeningVisit(household_id=c.household(A + "301"), outcome="vacant", at=now))
        # 302: registered long ago, refused at the door, but reported a return today → screened
        await add_person(session, "丁", c.household(A + "302"), old)
        session.add(ScreeningVisit(household_id=c.household(A + "302"), outcome="refused", at=now))
        session.add(Report(community_id=c.community_id, kind="return",
                           household_id=c.household(A + "302"), details={}, created_at=now,
                           arrival_date=date(2022, 3, 9)))  # fmt: skip
        # 幸福里 101 (第三网格): registered today → screened
        await add_person(session, "戊", c.household("幸福里/A座/1单元/101"), now)


async def test_counts_per_building_grid_and_compound(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    await _seed(sessionmaker, clock, community)
    async with sessionmaker() as session:
        row = await session.get(Community, community.community_id)
        assert row is not None
        cov = await coverage.coverage(session, clock, row)
    assert (cov.total.screened, cov.total.vacant, cov.total.missing, cov.total.total) == (
        4,
        1,
        21,
        26,
    )
    assert cov.total.percent == round(100 * 4 / 25)
    sun = cov.compounds["阳光花园"]
    assert (sun.screened, sun.vacant, sun.missing, sun.total) == (3, 1, 20, 24)
    assert cov.compounds["幸福里"].screened == 1 and cov.compounds["幸福里"].total == 2
    assert cov.grids["第一网格"].total == 12 and cov.grids["第一网格"].screened == 3
    assert cov.buildings["阳光花园 2栋"].screened == 0 and cov.buildings["阳光花园 2栋"].total == 12
    missing = [h.address for h in cov.missing]
    assert "阳光花园 1栋 1单元 102" in missing and "阳光花园 1栋 1单元 202" in missing
    assert "阳光花园 1栋 1单元 101" not in missing and "阳光花园 1栋 1单元 301" not in missing
    # Time passes: a week later only the 幸福里 registration (today + 7 days) has expired too.
    clock.advance(timedelta(days=7, minutes=1))
    async with sessionmaker() as session:
        row = await session.get(Community, community.community_id)
        assert row is not None
        later = await coverage.coverage(session, clock, row)
    assert later.total.screened == 0 and later.total.vacant == 0 and later.total.missing == 26


async def test_scopes_and_grid_worker_household_check(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    await _seed(sessionmaker, clock, community)
    cid = community.community_id
    async with sessionmaker.begin() as session:
        row = await session.get(Community, cid)
        assert row is not None
        grid = await coverage.resolve_scope(session, cid, "第一网格")
        assert grid.grid_ids == frozenset({community.grid_ids["第一网格"]})
        cov = await coverage.coverage(session, clock, row, grid)
        assert cov.total.total == 12 and set(cov.compounds) == {"阳光花园"}
        building = await coverage.resolve_scope(session, cid, "阳光花园/2栋")
        assert (await coverage.coverage(session, clock, row, building)).total.total == 12
        compound = await coverage.resolve_scope(session, cid, "幸福里")
        assert (await coverage.coverage(session, clock, row, compound)).total.total == 2
        with pytest.raises(DomainError):
            await coverage.resolve_scope(session, cid, "月亮湾")
        mine = [community.grid_ids["第一网格"]]
        hh = await coverage.household_in_scope(session, community.household(A + "101"), cid, mine)
        with pytest.raises(NotAllowed):
            await coverage.household_in_scope(
                session, community.household("阳光花园/2栋/1单元/101"), cid, mine
            )
        with pytest.raises(NotAllowed):
            await coverage.household_in_scope(session, hh.id, cid + 1, None)
        visit = await coverage.record_visit(
            session, clock, household=hh, outcome=ScreeningOutcome.NO_ANSWER, by=None
        )
        await coverage.add_note(session, clock, visit_id=visit.id, note="敲门无人", by=None)
        assert visit.note == "敲门无人"


def test_grid_worker_scope_is_narrowed_to_their_grids() -> None:
    mine = frozenset({1})
    assert coverage.within_grids(coverage.Scope(), mine).grid_ids == mine
    narrowed = coverage.within_grids(coverage.Scope(compound_id=2), mine)
    assert narrowed.compound_id == 2 and narrowed.grid_ids == mine
    assert coverage.within_grids(coverage.Scope(grid_ids=mine), mine).grid_ids == mine
    with pytest.raises(NotAllowed):
        coverage.within_grids(coverage.Scope(grid_ids=frozenset({2})), mine)
