"""The daily public posting (R-PUB): anonymised counts per compound, in its groups.

Rule (see the README, "The anonymisation rule"): per compound only (no building, unit or room),
four counts for the community's local day — new returns, visitor registrations, people
in isolation, people released — and any count from 1 to ``min_public_count - 1`` is
shown as "fewer than N". In a compound of a few hundred households, "1 return today"
next to a neighbour's suitcase names a person; suppression keeps that from happening.
Zero is shown as 0 (it identifies nobody). No names, rooms or buildings, ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_days_utc, local_now
from bot.db.models import (
    Building,
    Community,
    Compound,
    GateEntry,
    GroupChat,
    Household,
    Isolation,
    IsolationStatus,
    Person,
    Report,
    ReportKind,
    Unit,
)
from bot.services import outbox
from messages import Catalog

KIND = "public_post"


@dataclass(frozen=True)
class CompoundCounts:
    returns: int
    visitors: int
    in_isolation: int
    released: int


def shown(count: int, minimum: int) -> int | None:
    """The count as published: None means "fewer than `minimum`" (suppressed)."""
    if 0 < count < minimum:
        return None
    return count


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """One local day in UTC (bot.clock.local_days_utc: right on the days clocks change)."""
    return local_days_utc(day, day, tz)


def _in_compound_household(compound_id: int) -> Any:
    return (
        select(Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .where(Building.compound_id == compound_id)
    )


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(query) or 0)


async def compound_counts(
    session: AsyncSession, community: Community, compound_id: int, day: date
) -> CompoundCounts:
    """The four counts for one compound and one local day."""
    start, end = day_bounds(day, community.timezone)
    households = _in_compound_household(compound_id)

    def reports(kind: ReportKind) -> Select[Any]:
        return select(func.count(Report.id)).where(
            Report.kind == kind.value,
            Report.household_id.in_(households),
            Report.created_at >= start,
            Report.created_at < end,
        )

    gate_visitors = select(func.count(GateEntry.id)).where(
        GateEntry.compound_id == compound_id,
        GateEntry.subject_kind == "visitor",
        GateEntry.direction == "in",
        GateEntry.at >= start,
        GateEntry.at < end,
    )
    isolated_people = select(Person.id).where(Person.household_id.in_(households))
    in_isolation = select(func.count(Isolation.id)).where(
        Isolation.status == IsolationStatus.ACTIVE.value,
        Isolation.person_id.in_(isolated_people),
        Isolation.start_date <= day,
    )
    released = select(func.count(Isolation.id)).where(
        Isolation.status == IsolationStatus.RELEASED.value,
        Isolation.person_id.in_(isolated_people),
        or_(
            Isolation.end_date == day,
            (Isolation.ended_at >= start) & (Isolation.ended_at < end),
        ),
    )
    return CompoundCounts(
        returns=await _count(session, reports(ReportKind.RETURN)),
        visitors=await _count(session, reports(ReportKind.VISIT))
        + await _count(session, gate_visitors),
        in_isolation=await _count(session, in_isolation),
        released=await _count(session, released),
    )


def render_post(
    catalog: Catalog, locale: str, *, compound: str, day: date, counts: CompoundCounts, minimum: int
) -> str:
    """The group text: compound name, date and the four counts after suppression."""
    values = {
        name: shown(getattr(counts, name), minimum)
        for name in ("returns", "visitors", "in_isolation", "released")
    }
    return catalog.render(
        locale, "public.daily", compound=compound, day=day, minimum=minimum, **values
    )


async def queue_daily_posts(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """For every community whose local time has reached `public_post_time`, queue
    today's post to each active group of each compound (idempotent by dedup key
    `post:{compound_id}:{date}:{group_id}`). Returns how many rows were added."""
    added = 0
    communities = (await session.scalars(select(Community))).all()
    for community in communities:
        now = local_now(clock, community.timezone)
        if now.time() < community.public_post_time:
            continue
        day = now.date()
        groups = (
            await session.execute(
                select(GroupChat, Compound)
                .join(Compound, GroupChat.compound_id == Compound.id)
                .where(Compound.community_id == community.id, GroupChat.active.is_(True))
                .order_by(Compound.id, GroupChat.id)
            )
        ).all()
        cache: dict[int, str] = {}
        for group, compound in groups:
            text = cache.get(compound.id)
            if text is None:
                counts = await compound_counts(session, community, compound.id, day)
                text = render_post(
                    catalog,
                    community.locale,
                    compound=compound.name,
                    day=day,
                    counts=counts,
                    minimum=community.min_public_count,
                )
                cache[compound.id] = text
            added += int(
                await outbox.enqueue(
                    session,
                    clock,
                    kind=KIND,
                    chat_id=group.chat_id,
                    is_group=True,
                    dedup_key=f"post:{compound.id}:{day.isoformat()}:{group.id}",
                    payload=outbox.message_payload(text, disable_notification=True),
                )
            )
    return added
