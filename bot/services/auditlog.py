"""Reading the audit log (R-AUD): admins look up the latest entries by person or day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, Person
from bot.parsing import ParseError, parse_id
from bot.services.staffscope import RANGE_ERRORS, parse_day_range, utc_bounds

PAGE_SIZE = 10


@dataclass(frozen=True)
class AuditFilter:
    person: str = ""
    first: date | None = None
    last: date | None = None


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None


def parse_filter(args: str, today: date) -> AuditFilter:
    """ "[person id|name] [date|date..date]" in any order: a token that reads as a day
    range is the period, the rest is the person."""
    person: list[str] = []
    first = last = None
    for token in args.split():
        if first is None:
            try:
                first, last = parse_day_range(token, today)
                continue
            except ParseError as exc:
                if exc.code in RANGE_ERRORS:
                    raise
        if token.isdigit():
            parse_id(token)  # an id that cannot exist is said so, not sent to the database
        person.append(token)
    return AuditFilter(" ".join(person), first, last)


async def latest(
    session: AsyncSession, tz: str, filt: AuditFilter, page: int, community_id: int | None = None
) -> tuple[list[AuditLine], int]:
    """One page of matching entries of one community, newest first, and the number of
    pages. An admin sees only their own community's entries (R-AUD)."""
    conditions = []
    if community_id is not None:
        conditions.append(AuditEntry.community_id == community_id)
    if filt.person:
        people = select(Person.id).where(
            or_(Person.id == int(filt.person), Person.telegram_user_id == int(filt.person))
            if filt.person.isdigit()
            else Person.name.contains(filt.person)
        )
        conditions.append(
            or_(
                AuditEntry.actor_id.in_(people),
                and_(AuditEntry.entity == "person", AuditEntry.entity_id.in_(people)),
            )
        )
    if filt.first is not None and filt.last is not None:
        start, end = utc_bounds(filt.first, filt.last, tz)
        conditions.extend([AuditEntry.at >= start, AuditEntry.at < end])
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    pages = max(1, -(-(total or 0) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = await session.execute(
        select(AuditEntry, Person.name)
        .outerjoin(Person, AuditEntry.actor_id == Person.id)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .offset(page * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    lines = [
        AuditLine(e.at, name or (str(e.actor_telegram_id) if e.actor_telegram_id else ""),
                  e.action, e.entity, e.entity_id)
        for e, name in rows
    ]  # fmt: skip
    return lines, pages
