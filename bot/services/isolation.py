"""Home isolations (R-ISO): the record, its dates and its end.

Day 1 is the arrival date; `end_date` is the last day (`start + days - 1`), which
still gets its check-in; release happens at the end of that day in the community's
time zone (the scheduler decides that moment).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Isolation, IsolationStatus, Person
from bot.services import audit


def isolation_end(start: date, days: int) -> date:
    """The last day of an isolation of `days` days starting (day 1) on `start`."""
    if days < 1:
        raise ValueError("an isolation lasts at least one day")
    return start + timedelta(days=days - 1)


async def active_isolation(session: AsyncSession, person_id: int) -> Isolation | None:
    return await session.scalar(
        select(Isolation).where(
            Isolation.person_id == person_id, Isolation.status == IsolationStatus.ACTIVE
        )
    )


async def start_isolation(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    person: Person,
    start_date: date,
    report_id: int | None = None,
    actor: Person | None = None,
) -> tuple[Isolation, bool]:
    """Start a home isolation of the community's length, or extend the person's
    active one when the new end is later. Returns the isolation and whether it is new."""
    end = isolation_end(start_date, community.isolation_days)
    current = await active_isolation(session, person.id)
    now = clock.now()
    if current is not None:
        if end > current.end_date:
            old = current.end_date
            current.end_date = end
            await audit.record(
                session,
                at=now,
                actor=actor,
                action="isolation.extend",
                entity="isolation",
                entity_id=current.id,
                details={"from": old.isoformat(), "to": end.isoformat(), "report_id": report_id},
            )
        return current, False
    isolation = Isolation(
        community_id=community.id,
        person_id=person.id,
        report_id=report_id,
        start_date=start_date,
        end_date=end,
        status=IsolationStatus.ACTIVE.value,
        created_at=now,
    )
    session.add(isolation)
    await session.flush()
    await audit.record(
        session,
        at=now,
        actor=actor,
        action="isolation.start",
        entity="isolation",
        entity_id=isolation.id,
        details={"start": start_date.isoformat(), "end": end.isoformat(), "report_id": report_id},
    )
    return isolation, True
