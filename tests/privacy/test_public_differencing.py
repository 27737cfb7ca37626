"""Public postings cannot be differenced (R-PUB, issue 11).

Sixty random days of arrivals (each a return report and a 14-day isolation; some end
early in hospital) in one compound; every day's posting is made by the real code. A
differencing attacker reads consecutive postings:

- two consecutive days of one week post the same figures, so no arrival or release is
  dated to a day;
- every figure is 0, "fewer than k" or a band of k, and combining consecutive weeks
  (in isolation now = before + returns - releases) never pins a count of 1..k-1;
- moving one person's arrival to another day of the same week (release in the same week)
  changes no posting at all.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Community, Isolation, IsolationStatus, Person, Report, ReportKind
from bot.services.public_posts import compound_counts, published_week, render_post, shown
from messages import Catalog
from tests.conftest import SHANGHAI
from tests.support.community import SeededCommunity

FIRST = date(2022, 1, 3)  # a Monday
DAYS = 60
K = 3


@dataclass
class Arrival:
    person_id: int
    report_id: int
    isolation_id: int
    day: date


async def _seed(
    sm: async_sessionmaker[AsyncSession], community: SeededCommunity, rng: random.Random
) -> list[Arrival]:
    rooms = [k for k in community.households if k.startswith("阳光花园/")]
    arrivals = []
    async with sm.begin() as session:
        for offset in range(DAYS):
            day = FIRST + timedelta(days=offset)
            for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
                household = community.household(rng.choice(rooms))
                at = datetime.combine(day, time(rng.randrange(7, 22)), SHANGHAI)
                person = Person(name=f"返乡{offset}", household_id=household, created_at=at)
                session.add(person)
                await session.flush()
                report = Report(
                    community_id=community.community_id, kind=ReportKind.RETURN,
                    household_id=household, subject_id=person.id, created_at=at,
                )  # fmt: skip
                session.add(report)
                await session.flush()
                end = day + timedelta(days=13)
                isolation = Isolation(
                    community_id=community.community_id, person_id=person.id,
                    report_id=report.id, start_date=day, end_date=end, created_at=at,
                )  # fmt: skip
                if rng.random() < 0.1:  # to hospital after a few days
                    isolation.status = IsolationStatus.HOSPITAL
                    isolation.ended_at = at + timedelta(days=rng.randrange(1, 10))
                elif end < FIRST + timedelta(days=DAYS):
                    isolation.status = IsolationStatus.RELEASED
                    isolation.ended_at = datetime.combine(end + timedelta(1), time(0, 5), SHANGHAI)
                session.add(isolation)
                await session.flush()
                arrivals.append(Arrival(person.id, report.id, isolation.id, day))
    return arrivals


async def _postings(
    sm: async_sessionmaker[AsyncSession], community: SeededCommunity, catalog: Catalog
) -> dict[date, tuple[str, tuple[int | None, ...]]]:
    """The figures part of each day's posting (without its date line) and its values."""
    out = {}
    async with sm() as session:
        row = await session.get(Community, community.community_id)
        assert row is not None
        compound = community.compound_ids["阳光花园"]
        for offset in range(7, DAYS + 7):
            day = FIRST + timedelta(days=offset)
            counts = await compound_counts(session, row, compound, day)
            text = render_post(
                catalog, "zh-CN", compound="阳光花园", day=day, counts=counts, minimum=K
            )
            values = tuple(
                shown(getattr(counts, f), K)
                for f in ("returns", "visitors", "in_isolation", "released")
            )
            out[day] = (text.split("\n", 1)[1], values)
    return out


def _interval(value: int | None) -> tuple[int, int]:
    if value is None:
        return 1, K - 1
    if value == 0:
        return 0, 0
    return value, value + K - 1


async def test_sixty_random_days_cannot_be_differenced(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    rng = random.Random(11)
    arrivals = await _seed(sessionmaker, community, rng)
    assert len(arrivals) > 50
    postings = await _postings(sessionmaker, community, catalog)
    days = sorted(postings)
    weeks_seen = set()
    for before, after in itertools.pairwise(days):
        if published_week(before) == published_week(after):
            # Consecutive days of one week: identical figures, nothing to difference.
            assert postings[before][0] == postings[after][0]
        else:
            weeks_seen.add(published_week(after))
    assert len(weeks_seen) >= 8
    # Every published figure is 0, "fewer than k" or the bottom of a band of k.
    for _, values in postings.values():
        assert all(v is None or v % K == 0 for v in values)
    # Week to week, in isolation now = before + returns - departures: the attacker's
    # interval for the departures (or the arrivals) is never one exact small count.
    mondays = [d for d in days if d.weekday() == 0]
    for prev, now in itertools.pairwise(mondays):
        p_lo, p_hi = _interval(postings[prev][1][2])
        n_lo, n_hi = _interval(postings[now][1][2])
        r_lo, r_hi = _interval(postings[now][1][0])
        gone = (p_lo + r_lo - n_hi, p_hi + r_hi - n_lo)
        rel_lo, rel_hi = _interval(postings[now][1][3])
        came = (n_lo - p_hi + rel_lo, n_hi - p_lo + rel_hi)
        for lo, hi in (gone, came):
            assert not (lo == hi and 1 <= lo < K), (prev, now, lo)

    # A neighbouring world: one person's arrival moved to another day of its week whose
    # release falls in the same week. The attacker sees exactly the same postings.
    movable = [a for a in arrivals if a.day.weekday() >= 1 and a.day < FIRST + timedelta(40)]
    for arrival in rng.sample(movable, 3):
        other = rng.choice([d for d in range(1, 7) if d != arrival.day.weekday()])
        shift = timedelta(days=other - arrival.day.weekday())
        async with sessionmaker.begin() as session:
            report = await session.get(Report, arrival.report_id)
            isolation = await session.get(Isolation, arrival.isolation_id)
            assert report is not None and isolation is not None
            if isolation.status == IsolationStatus.HOSPITAL:
                continue
            report.created_at += shift
            isolation.start_date += shift
            isolation.end_date += shift
            if isolation.ended_at is not None:
                isolation.ended_at += shift
        moved = await _postings(sessionmaker, community, catalog)
        assert moved == postings, arrival
        async with sessionmaker.begin() as session:  # and back
            report = await session.get(Report, arrival.report_id)
            isolation = await session.get(Isolation, arrival.isolation_id)
            assert report is not None and isolation is not None
            report.created_at -= shift
            isolation.start_date -= shift
            isolation.end_date -= shift
            if isolation.ended_at is not None:
                isolation.ended_at -= shift
    async with sessionmaker() as session:
        assert await session.scalar(select(Person.id).where(Person.name == "返乡0")) is not None
