"""Check-ins, officer views: isolations listed and found, ended and extended.

Split from bot/services/checkins.py (which re-exports every name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import (
    and_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.db.models import (
    Building,
    CheckIn,
    CheckInStatus,
    Community,
    Compound,
    Household,
    Isolation,
    IsolationStatus,
    Person,
    Unit,
)
from bot.parsing import parse_id
from bot.services import audit
from bot.services.checkin_common import (
    can_answer_for,
)
from bot.services.directory import address_key
from bot.services.errors import DomainError, NotFound

# --------------------------------------------------------------------------- officer views


@dataclass(frozen=True)
class IsolationLine:
    isolation: Isolation
    person: Person
    compound: str
    address: str
    today_status: str | None


async def isolations_of(
    session: AsyncSession, clock: Clock, community: Community, compound: str | None = None
) -> list[IsolationLine]:
    """People in active isolation, with their address and today's check-in status."""
    today = local_now(clock, community.timezone).date()
    statement = (
        select(
            Isolation,
            Person,
            Compound.name,
            Building.name,
            Unit.name,
            Household.room,
            CheckIn.status,
        )
        .join(Person, Person.id == Isolation.person_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Unit, Unit.id == Household.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .outerjoin(Compound, Compound.id == Building.compound_id)
        .outerjoin(CheckIn, and_(CheckIn.isolation_id == Isolation.id, CheckIn.day == today))
        .where(Isolation.community_id == community.id, Isolation.status == IsolationStatus.ACTIVE)
    )
    if compound:
        statement = statement.where(Compound.name == compound)
    rows = sorted(
        await session.execute(statement),
        key=lambda r: (address_key(r[2], r[3], r[4], r[5]), r[1].id),  # "2栋" before "10栋"
    )
    lines = []
    for isolation, person, comp, building, unit, room, status in rows:
        address = " ".join(x for x in (comp, building, unit, room) if x)
        lines.append(IsolationLine(isolation, person, comp or "", address, status))
    return lines


@dataclass
class CompoundStatus:
    compound: str
    answered: int = 0
    pending: int = 0
    missed: int = 0
    not_prepared: int = 0
    pending_names: list[str] = field(default_factory=list)


async def checkin_status(
    session: AsyncSession, clock: Clock, community: Community, compound: str | None = None
) -> list[CompoundStatus]:
    """Today's check-in status per compound (answered / pending / missed) and who is
    still pending. Before the check-in time, people are counted as not yet prompted."""
    by_compound: dict[str, CompoundStatus] = {}
    for line in await isolations_of(session, clock, community, compound):
        entry = by_compound.setdefault(line.compound, CompoundStatus(line.compound))
        if line.today_status == CheckInStatus.ANSWERED:
            entry.answered += 1
        elif line.today_status == CheckInStatus.MISSED:
            entry.missed += 1
        elif line.today_status == CheckInStatus.PENDING:
            entry.pending += 1
            entry.pending_names.append(line.person.name)
        else:
            entry.not_prepared += 1
    return list(by_compound.values())


async def find_isolations(
    session: AsyncSession, community: Community, query: str
) -> list[tuple[Isolation, Person]]:
    """Active isolations of the person with this id, or whose name matches."""
    statement = (
        select(Isolation, Person)
        .join(Person, Person.id == Isolation.person_id)
        .where(Isolation.community_id == community.id, Isolation.status == IsolationStatus.ACTIVE)
    )
    query = query.strip()
    if query.isdigit():
        statement = statement.where(Person.id == parse_id(query))
    else:
        statement = statement.where(Person.name.contains(query, autoescape=True))
    return [(i, p) for i, p in await session.execute(statement.limit(10))]


async def isolation_with_person(
    session: AsyncSession, isolation_id: int
) -> tuple[Isolation, Person]:
    row = (
        await session.execute(
            select(Isolation, Person)
            .join(Person, Person.id == Isolation.person_id)
            .where(Isolation.id == isolation_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("isolation.not_found")
    return row[0], row[1]


async def in_isolation(session: AsyncSession, actor: Person) -> bool:
    """Whether the actor, or a member they answer for, is in active isolation."""
    people = [actor.id]
    if actor.household_id is not None:
        people += [
            p.id
            for p in await session.scalars(
                select(Person).where(Person.household_id == actor.household_id)
            )
            if can_answer_for(actor, p)
        ]
    found = await session.scalar(
        select(Isolation.id)
        .where(Isolation.person_id.in_(people), Isolation.status == IsolationStatus.ACTIVE)
        .limit(1)
    )
    return found is not None


async def officer_end(
    session: AsyncSession,
    clock: Clock,
    *,
    isolation_id: int,
    actor: Person,
    status: IsolationStatus,
    reason: str,
) -> Isolation:
    """End an isolation early or record a transfer to hospital, with who and why."""
    isolation = await session.get(Isolation, isolation_id)
    if isolation is None:
        raise NotFound("isolation.not_found")
    if isolation.status != IsolationStatus.ACTIVE:
        raise DomainError("isolation.not_active")
    now = clock.now()
    before = {"status": isolation.status, "end_reason": isolation.end_reason}
    isolation.status = status.value
    isolation.ended_at = now
    isolation.ended_by_id = actor.id
    isolation.end_reason = reason
    await audit.record(
        session,
        at=now,
        actor=actor,
        action=f"isolation.{status.value}",
        entity="isolation",
        entity_id=isolation.id,
        # Old and new values of a change to health data (issue 11); "reason" as before.
        details={"reason": reason}
        | audit.changes(before, {"status": isolation.status, "end_reason": reason}),
    )
    return isolation


async def officer_extend(
    session: AsyncSession, clock: Clock, *, isolation_id: int, actor: Person, days: int
) -> Isolation:
    """Extend an active isolation by `days` (1–30), recorded with who."""
    if not 1 <= days <= 30:
        raise DomainError("isolation.bad_days")
    isolation = await session.get(Isolation, isolation_id)
    if isolation is None:
        raise NotFound("isolation.not_found")
    if isolation.status != IsolationStatus.ACTIVE:
        raise DomainError("isolation.not_active")
    old = isolation.end_date
    isolation.end_date = old + timedelta(days=days)
    await audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="isolation.extend",
        entity="isolation",
        entity_id=isolation.id,
        details={"from": old.isoformat(), "to": isolation.end_date.isoformat(), "days": days},
    )
    return isolation
