"""Which community and places a staff member acts on, from their role grants (R-RBAC)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_days_utc, local_today
from bot.db.models import Community, Compound, Grid, Role, ScopeType
from bot.parsing import ParseError, is_month_day, parse_date
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import Identity

MAX_RANGE_DAYS = 92
#: Errors of a text that is a day range, but a wrong one (anything else may be a name).
RANGE_ERRORS = frozenset({"date.future", "date.range_reversed"})


async def acting_community(
    session: AsyncSession, identity: Identity, roles: Iterable[Role]
) -> Community:
    """The community a staff member acts in: the one chosen in this chat (/community)
    when a grant of `roles` lies in it, else the first one any grant of `roles` lies in.

    Raises NotAllowed when no grant of `roles` exists.
    """
    wanted = set(roles)
    if identity.chosen_community_id is not None:
        from bot.services.scope import communities_for

        for chosen in await communities_for(session, identity, wanted):
            if chosen.id == identity.chosen_community_id:
                return chosen
    for grant in identity.grants:
        if grant.role not in wanted:
            continue
        community_id: int | None
        if grant.scope_type is ScopeType.COMMUNITY:
            community_id = grant.scope_id
        elif grant.scope_type is ScopeType.GRID:
            community_id = await session.scalar(
                select(Grid.community_id).where(Grid.id == grant.scope_id)
            )
        else:
            community_id = await session.scalar(
                select(Compound.community_id).where(Compound.id == grant.scope_id)
            )
        if community_id is not None:
            community = await session.get(Community, community_id)
            if community is not None:
                return community
    raise NotAllowed()


def grid_ids(identity: Identity, roles: Iterable[Role]) -> set[int]:
    """Grids a staff member holds a grid-scoped grant of `roles` for."""
    wanted = set(roles)
    return {
        g.scope_id for g in identity.grants if g.role in wanted and g.scope_type is ScopeType.GRID
    }


def parse_day_range(text: str, today: date) -> tuple[date, date]:
    """ "2022-03-05", "3/1..3/9", "12/20..1/5", "今天" → (first, last) day, both inclusive.

    The end is read as a single date is (a month/day without a year is the most recent
    one, see `parse_date`); a start without a year is then read relative to the end, so
    a range across the New Year ("12/20..1/5" in March: 2021-12-20..2022-01-05) is the
    most recent such range. An end before the start is refused, never swapped.

    Raises ParseError date.invalid / date.future / date.range_reversed, or DomainError
    ledger.range_too_long (with the range understood).
    """
    first_text, sep, last_text = (part.strip() for part in text.partition(".."))
    last = parse_date(last_text if sep else first_text, today)
    if last > today:
        raise ParseError("date.future", date=last.isoformat(), today=today.isoformat())
    first = parse_date(first_text, today)
    if first > last and is_month_day(first_text):
        first = parse_date(first_text, last)
    if first > last:
        raise ParseError("date.range_reversed", first=first.isoformat(), last=last.isoformat())
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise DomainError(
            "ledger.range_too_long", days=MAX_RANGE_DAYS, first=first.isoformat(),
            last=last.isoformat(), span=(last - first).days + 1,
        )  # fmt: skip
    return first, last


def split_range_and_name(args: str, clock: Clock, tz: str) -> tuple[date, date, str]:
    """Command arguments "[date | date..date] [name]": the day range (default today) and
    the rest of the text (a compound name, or empty)."""
    today = local_today(clock, tz)
    text = args.strip()
    if not text:
        return today, today, ""
    head, _, rest = text.partition(" ")
    try:
        first, last = parse_day_range(head, today)
    except ParseError as exc:
        if exc.code in RANGE_ERRORS:
            raise
        return today, today, text
    return first, last, rest.strip()


#: Kept for callers of the old name: see bot.clock.local_days_utc.
utc_bounds = local_days_utc


async def compound_by_name(session: AsyncSession, community_id: int, name: str) -> Compound:
    """A compound of the community by its exact name; raises DomainError otherwise."""
    compound = await session.scalar(
        select(Compound).where(Compound.community_id == community_id, Compound.name == name)
    )
    if compound is None:
        raise DomainError("ledger.unknown_compound", name=name)
    return compound
