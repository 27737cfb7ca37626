"""Building status (R-SEAL): officers put a compound, a building or a unit under
防范 (precaution), 管控 (controlled: nobody leaves the compound) or 封控 (sealed: nobody
leaves home), with a start and a planned end. Residents are told privately, the owners'
groups get an anonymised notice, the gate refuses what the status forbids, and every
status stays in the history (ended, never deleted) for the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import (
    Building,
    Community,
    Compound,
    GroupChat,
    Household,
    Person,
    PlaceLevel,
    PlaceStatus,
    Unit,
)
from bot.parsing import ParseError, parse_date
from bot.services import audit, outbox
from bot.services.errors import DomainError
from messages import Catalog

SEVERITY: dict[str, int] = {
    PlaceLevel.NORMAL: 0,
    PlaceLevel.PRECAUTION: 1,
    PlaceLevel.CONTROLLED: 2,
    PlaceLevel.SEALED: 3,
}
LEVEL_WORDS: dict[str, PlaceLevel] = {
    "normal": PlaceLevel.NORMAL, "正常": PlaceLevel.NORMAL, "解除": PlaceLevel.NORMAL,
    "precaution": PlaceLevel.PRECAUTION, "防范": PlaceLevel.PRECAUTION,
    "防范区": PlaceLevel.PRECAUTION,
    "controlled": PlaceLevel.CONTROLLED, "管控": PlaceLevel.CONTROLLED,
    "管控区": PlaceLevel.CONTROLLED,
    "sealed": PlaceLevel.SEALED, "封控": PlaceLevel.SEALED, "封控区": PlaceLevel.SEALED,
}  # fmt: skip
#: Statuses under which households may ask for supplies and care checks run.
CONTROLLED = frozenset({PlaceLevel.CONTROLLED.value, PlaceLevel.SEALED.value})


@dataclass(frozen=True)
class Place:
    compound: Compound
    building: Building | None = None
    unit: Unit | None = None

    @property
    def label(self) -> str:
        parts = [self.compound.name]
        if self.building is not None:
            parts.append(self.building.name)
        if self.unit is not None:
            parts.append(self.unit.name)
        return " ".join(parts)


@dataclass(frozen=True)
class SealCommand:
    place: Place
    level: PlaceLevel
    planned_end: date | None


async def parse_command(
    session: AsyncSession, clock: Clock, community: Community, text: str
) -> SealCommand:
    """ "阳光花园 1栋 [1单元] 封控 [2022-04-10]" → place, level, planned end.
    Raises DomainError seal.usage / seal.unknown_place / errors.date.*."""
    words = text.split()
    planned_end: date | None = None
    if len(words) > 2 and words[-1].lower() not in LEVEL_WORDS and words[-2].lower() in LEVEL_WORDS:
        try:
            planned_end = parse_date(words[-1], local_today(clock, community.timezone), ahead=True)
        except ParseError as exc:
            raise DomainError(f"errors.{exc.code}", **exc.params) from exc
        words = words[:-1]
    if len(words) < 2 or words[-1].lower() not in LEVEL_WORDS:
        raise DomainError("seal.usage")
    level = LEVEL_WORDS[words[-1].lower()]
    place = await find_place(session, community.id, words[:-1])
    return SealCommand(place, level, planned_end)


async def find_place(session: AsyncSession, community_id: int, words: list[str]) -> Place:
    label = " ".join(words)
    if not 1 <= len(words) <= 3:
        raise DomainError("seal.unknown_place", place=label)
    compound = await session.scalar(
        select(Compound).where(Compound.community_id == community_id, Compound.name == words[0])
    )
    if compound is None:
        raise DomainError("seal.unknown_place", place=label)
    building = unit = None
    if len(words) >= 2:
        building = await session.scalar(
            select(Building).where(Building.compound_id == compound.id, Building.name == words[1])
        )
        if building is None:
            raise DomainError("seal.unknown_place", place=label)
    if len(words) == 3 and building is not None:
        unit = await session.scalar(
            select(Unit).where(Unit.building_id == building.id, Unit.name == words[2])
        )
        if unit is None:
            raise DomainError("seal.unknown_place", place=label)
    return Place(compound, building, unit)


async def place_of(session: AsyncSession, status: PlaceStatus) -> Place:
    compound = await session.get(Compound, status.compound_id)
    assert compound is not None
    building = await session.get(Building, status.building_id) if status.building_id else None
    unit = await session.get(Unit, status.unit_id) if status.unit_id else None
    return Place(compound, building, unit)


def _exact(place: Place) -> list[object]:
    b = place.building.id if place.building else None
    u = place.unit.id if place.unit else None
    return [
        PlaceStatus.compound_id == place.compound.id,
        PlaceStatus.building_id.is_(None) if b is None else PlaceStatus.building_id == b,
        PlaceStatus.unit_id.is_(None) if u is None else PlaceStatus.unit_id == u,
        PlaceStatus.ended_at.is_(None),
    ]


async def residents(session: AsyncSession, place: Place) -> list[Person]:
    """People with Telegram living in the place."""
    stmt = (
        select(Person)
        .join(Household, Person.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .where(Building.compound_id == place.compound.id, Person.telegram_user_id.is_not(None))
    )
    if place.building is not None:
        stmt = stmt.where(Building.id == place.building.id)
    if place.unit is not None:
        stmt = stmt.where(Unit.id == place.unit.id)
    return list(await session.scalars(stmt.order_by(Person.id)))


async def set_status(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    community: Community,
    command: SealCommand,
    by: Person | None,
) -> tuple[PlaceStatus | None, PlaceStatus | None]:
    """End the place's current status (if any) and start the new one (unless normal).
    Residents and the compound's groups are told through the outbox. Returns
    (ended, started)."""
    now = clock.now()
    place = command.place
    ended = await session.scalar(select(PlaceStatus).where(*_exact(place)))  # type: ignore[arg-type]
    if ended is None and command.level is PlaceLevel.NORMAL:
        raise DomainError("seal.nothing_to_end", place=place.label)
    if ended is not None:
        ended.ended_at = now
        ended.ended_by_id = by.id if by else None
        await audit.record(
            session, at=now, actor=by, action="seal.end", entity="place_status",
            entity_id=ended.id, details={"place": place.label, "level": ended.level},
        )  # fmt: skip
    started = None
    if command.level is not PlaceLevel.NORMAL:
        started = PlaceStatus(
            community_id=community.id, compound_id=place.compound.id,
            building_id=place.building.id if place.building else None,
            unit_id=place.unit.id if place.unit else None, level=command.level.value,
            starts_at=now, planned_end=command.planned_end, set_by_id=by.id if by else None,
            created_at=now,
        )  # fmt: skip
        session.add(started)
        await session.flush()
        await audit.record(
            session, at=now, actor=by, action="seal.start", entity="place_status",
            entity_id=started.id,
            details={"place": place.label, "level": started.level,
                     "planned_end": command.planned_end.isoformat()
                     if command.planned_end else None},
        )  # fmt: skip
    await _tell(session, clock, catalog, community, place, ended, started)
    if started is not None and started.level in CONTROLLED:
        from bot.services import care

        await care.queue_care_first(session, clock, catalog, status=started, place=place)
    return ended, started


def notice_text(
    catalog: Catalog,
    locale: str,
    community: Community,
    place: Place,
    started: PlaceStatus | None,
    ended: PlaceStatus | None,
) -> str:
    """The notice of a status change (no person, no room: fit for a group)."""
    if started is not None:
        start = started.starts_at.astimezone(zone_of(community)).strftime("%Y-%m-%d %H:%M")
        return catalog.render(
            locale, "seal.notice_start", place=place.label,
            level=catalog.render(locale, f"seal.level_{started.level}"), level_key=started.level,
            start=start, until=started.planned_end.isoformat() if started.planned_end else "",
        )  # fmt: skip
    assert ended is not None
    return catalog.render(
        locale, "seal.notice_end", place=place.label,
        level=catalog.render(locale, f"seal.level_{ended.level}"),
    )  # fmt: skip


def zone_of(community: Community) -> ZoneInfo:
    return ZoneInfo(community.timezone)


async def _tell(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    community: Community,
    place: Place,
    ended: PlaceStatus | None,
    started: PlaceStatus | None,
) -> None:
    change = f"s{started.id}" if started is not None else f"e{ended.id if ended else 0}"
    for person in await residents(session, place):
        assert person.telegram_user_id is not None
        locale = person.language or community.locale
        await outbox.enqueue(
            session, clock, kind="seal_notice", chat_id=person.telegram_user_id,
            dedup_key=f"seal:{change}:person:{person.id}", person_id=person.id,
            payload=outbox.message_payload(
                notice_text(catalog, locale, community, place, started, ended)
            ),
        )  # fmt: skip
    groups = await session.scalars(
        select(GroupChat).where(
            GroupChat.compound_id == place.compound.id, GroupChat.active.is_(True)
        )
    )
    text = notice_text(catalog, community.locale, community, place, started, ended)
    for group in groups:
        await outbox.enqueue(
            session, clock, kind="seal_group", chat_id=group.chat_id, is_group=True,
            dedup_key=f"seal:{change}:group:{group.chat_id}",
            payload=outbox.message_payload(text),
        )  # fmt: skip


async def active(session: AsyncSession, community_id: int) -> list[tuple[PlaceStatus, Place]]:
    rows = await session.scalars(
        select(PlaceStatus)
        .where(PlaceStatus.community_id == community_id, PlaceStatus.ended_at.is_(None))
        .order_by(PlaceStatus.starts_at, PlaceStatus.id)
    )
    return [(s, await place_of(session, s)) for s in rows]


async def level_of_household(session: AsyncSession, household_id: int) -> str:
    """The most severe active status covering the household (its compound, building or
    unit); "normal" when none."""
    row = (
        await session.execute(
            select(Unit.id, Building.id, Building.compound_id)
            .select_from(Household)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .where(Household.id == household_id)
        )
    ).one_or_none()
    if row is None:
        return PlaceLevel.NORMAL.value
    unit_id, building_id, compound_id = row
    levels = await session.scalars(
        select(PlaceStatus.level).where(
            PlaceStatus.compound_id == compound_id,
            PlaceStatus.ended_at.is_(None),
            or_(PlaceStatus.building_id.is_(None), PlaceStatus.building_id == building_id),
            or_(PlaceStatus.unit_id.is_(None), PlaceStatus.unit_id == unit_id),
        )
    )
    return max(levels, key=lambda lv: SEVERITY.get(lv, 0), default=PlaceLevel.NORMAL.value)


async def level_of_compound(session: AsyncSession, compound_id: int) -> str:
    """The active status of the compound as a whole."""
    levels = await session.scalars(
        select(PlaceStatus.level).where(
            PlaceStatus.compound_id == compound_id,
            PlaceStatus.ended_at.is_(None),
            PlaceStatus.building_id.is_(None),
        )
    )
    return max(levels, key=lambda lv: SEVERITY.get(lv, 0), default=PlaceLevel.NORMAL.value)


async def gate_verdict(
    session: AsyncSession,
    *,
    compound_id: int,
    direction: str,
    subject_kind: str,
    household_id: int | None,
) -> tuple[str, str]:
    """("refuse" | "warn" | "ok", level) for one passage at a compound's gate.

    A resident of a controlled or sealed place may not leave; nobody but residents
    enters a controlled or sealed compound; a precaution only warns."""
    if subject_kind == "resident" and household_id is not None:
        level = await level_of_household(session, household_id)
        forbidden = direction == "out" and level in CONTROLLED
    else:
        level = await level_of_compound(session, compound_id)
        forbidden = direction == "in" and level in CONTROLLED
    if forbidden:
        return "refuse", level
    if level != PlaceLevel.NORMAL.value:
        return "warn", level
    return "ok", level
