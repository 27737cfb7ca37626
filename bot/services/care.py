"""Residents who need care (R-CARE): care flags on people, set by their household or by
staff; visible only to staff and volunteers whose roles cover the person's compound or
grid; listed first to the grid worker when the building becomes 管控 / 封控, with a daily
contact check whose silence becomes a call task (a case) for the grid worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.db.models import (
    Building,
    CareCheck,
    CareFlag,
    CaseKind,
    Community,
    Compound,
    Household,
    Person,
    PlaceStatus,
    Role,
    RoleGrant,
    ScopeType,
    Unit,
)
from bot.presentation.callbacks import CareCb
from bot.presentation.keyboards import buttons
from bot.services import audit, case_text, cases, outbox, sealing
from bot.services.directory import natural_key
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity, rendered_for
from messages import Catalog

KINDS: tuple[str, ...] = (
    "elderly_alone", "pregnant", "dialysis", "chemo", "medicine", "disability", "other",
)  # fmt: skip
#: Kinds whose detail matters (due date, schedule, medicine name, what).
DETAIL_KINDS = frozenset({"pregnant", "dialysis", "chemo", "medicine", "other"})
#: Who may see and set care flags, when a grant covers the person's compound or grid.
CARE_ROLES = OFFICER_ROLES | {Role.GRID_WORKER, Role.PROPERTY_MANAGER, Role.VOLUNTEER}
DETAIL_MAX = 200


@dataclass
class CarePerson:
    person: Person
    compound: str
    building: str
    unit: str
    room: str
    level: str
    flags: list[CareFlag] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.compound} {self.building} {self.unit} {self.room}"


async def add_flag(
    session: AsyncSession,
    clock: Clock,
    *,
    person: Person,
    kind: str,
    detail: str | None,
    by: Person | None,
) -> CareFlag:
    if kind not in KINDS:
        raise DomainError("common.button_expired")
    flag = CareFlag(
        person_id=person.id, kind=kind, detail=detail, set_by_id=by.id if by else None,
        created_at=clock.now(),
    )  # fmt: skip
    session.add(flag)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=by, action="care.flag", entity="person",
        entity_id=person.id, details={"kind": kind, "flag_id": flag.id},
    )  # fmt: skip
    return flag


async def remove_flag(
    session: AsyncSession, clock: Clock, *, flag_id: int, household_id: int | None, by: Person
) -> CareFlag:
    """A member of the flagged person's household removes a flag."""
    flag = await session.get(CareFlag, flag_id)
    owner = await session.get(Person, flag.person_id) if flag else None
    if flag is None or owner is None or household_id is None or owner.household_id != household_id:
        raise NotAllowed()
    if flag.removed_at is None:
        flag.removed_at = clock.now()
        await audit.record(
            session, at=clock.now(), actor=by, action="care.unflag", entity="person",
            entity_id=owner.id, details={"kind": flag.kind, "flag_id": flag.id},
        )  # fmt: skip
    return flag


async def household_flags(
    session: AsyncSession, household_id: int
) -> list[tuple[Person, list[CareFlag]]]:
    members = list(
        await session.scalars(
            select(Person).where(Person.household_id == household_id).order_by(Person.id)
        )
    )
    flags = await _active_flags(session, [m.id for m in members])
    return [(m, flags.get(m.id, [])) for m in members]


async def _active_flags(session: AsyncSession, person_ids: list[int]) -> dict[int, list[CareFlag]]:
    out: dict[int, list[CareFlag]] = {}
    if not person_ids:
        return out
    rows = await session.scalars(
        select(CareFlag)
        .where(CareFlag.person_id.in_(person_ids), CareFlag.removed_at.is_(None))
        .order_by(CareFlag.id)
    )
    for flag in rows:
        out.setdefault(flag.person_id, []).append(flag)
    return out


def may_see(identity: Identity, community_id: int, compound_id: int, grid_id: int | None) -> bool:
    return identity.allows(
        CARE_ROLES, community_id=community_id, compound_id=compound_id, grid_id=grid_id
    )


async def staff_person(
    session: AsyncSession, identity: Identity, words: list[str]
) -> tuple[Person, list[str]]:
    """ "阳光花园 1栋 1单元 101 陈一 …": the person, if the staff member's roles cover
    them; the remaining words."""
    if len(words) < 5:
        raise DomainError("care.add_usage")
    compound, building, unit, room, name = words[:5]
    row = (
        await session.execute(
            select(Person, Compound.community_id, Compound.id, Building.grid_id)
            .join(Household, Person.household_id == Household.id)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
            .where(
                Compound.name == compound, Building.name == building, Unit.name == unit,
                Household.room == room, Person.name == name,
            )
        )
    ).first()  # fmt: skip
    if row is None:
        raise DomainError("care.unknown_person", who=" ".join(words[:5]))
    person, community_id, compound_id, grid_id = row
    if not may_see(identity, community_id, compound_id, grid_id):
        raise NotAllowed()
    return person, words[5:]


async def care_list(session: AsyncSession, identity: Identity) -> list[CarePerson]:
    """Every flagged person the staff member may see; controlled and sealed places
    first, then by address."""
    rows = await session.execute(
        select(
            Person, Compound.community_id, Compound.id, Building.grid_id, Compound.name,
            Building.name, Unit.name, Household.room,
        )
        .join(CareFlag, CareFlag.person_id == Person.id)
        .join(Household, Person.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(CareFlag.removed_at.is_(None))
        .distinct()
    )  # fmt: skip
    found: list[CarePerson] = []
    for person, community_id, compound_id, grid_id, c, b, u, r in rows:
        if not may_see(identity, community_id, compound_id, grid_id):
            continue
        assert person.household_id is not None
        level = await sealing.level_of_household(session, person.household_id)
        found.append(CarePerson(person, c, b, u, r, level))
    flags = await _active_flags(session, [p.person.id for p in found])
    for p in found:
        p.flags = flags.get(p.person.id, [])
    found.sort(
        key=lambda p: (
            -sealing.SEVERITY.get(p.level, 0),
            *(natural_key(part) for part in (p.compound, p.building, p.unit, p.room)),
        )
    )
    return found


def flag_view(flag: CareFlag) -> dict[str, str]:
    return {"kind": flag.kind, "detail": flag.detail or ""}


def person_view(p: CarePerson) -> dict[str, object]:
    return {
        "name": p.person.name, "phone": p.person.phone or "", "address": p.address,
        "level": p.level, "flags": [flag_view(f) for f in p.flags],
    }  # fmt: skip


async def queue_care_first(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    status: PlaceStatus,
    place: sealing.Place,
) -> int:
    """When a place becomes controlled or sealed, each grid worker of its buildings gets
    the people who need care there, first, and how many other households there are."""
    stmt = select(Building).where(Building.compound_id == place.compound.id)
    if place.building is not None:
        stmt = stmt.where(Building.id == place.building.id)
    community = await session.get(Community, status.community_id)
    assert community is not None
    sent = 0
    for building in sorted(await session.scalars(stmt), key=lambda b: natural_key(b.name)):
        if building.grid_id is None:
            continue
        workers = list(
            await session.scalars(
                select(Person)
                .join(RoleGrant, RoleGrant.person_id == Person.id)
                .where(
                    RoleGrant.role == Role.GRID_WORKER, RoleGrant.scope_type == ScopeType.GRID,
                    RoleGrant.scope_id == building.grid_id, RoleGrant.revoked_at.is_(None),
                    Person.telegram_user_id.is_not(None),
                )
                .order_by(Person.id)
            )
        )  # fmt: skip
        if not workers:
            continue
        people = await _flagged_in_building(session, building, place.unit)
        hh = (
            select(Household.id)
            .join(Unit, Household.unit_id == Unit.id)
            .where(Unit.building_id == building.id)
        )
        if place.unit is not None:
            hh = hh.where(Unit.id == place.unit.id)
        households = len(list(await session.scalars(hh)))
        flagged_households = len({p.person.household_id for p in people})

        view = {
            "place": f"{place.compound.name} {building.name}"
            + (f" {place.unit.name}" if place.unit else ""),
            "level": status.level,
            "people": [person_view(p) for p in people],
            "others": households - flagged_households,
        }

        async def care_first(locale: str, view: dict[str, Any] = view) -> str:
            return catalog.render(locale, "care.care_first", **view)

        texts = await rendered_for(session, workers, community.locale, care_first)
        for worker in workers:
            assert worker.telegram_user_id is not None
            text = texts[worker.id]
            await outbox.enqueue(
                session, clock, kind="care_first", chat_id=worker.telegram_user_id,
                dedup_key=f"care_first:{status.id}:{building.id}:{worker.id}",
                person_id=worker.id, payload=outbox.message_payload(text),
            )  # fmt: skip
            sent += 1
    return sent


async def _flagged_in_building(
    session: AsyncSession, building: Building, unit: Unit | None
) -> list[CarePerson]:
    compound = await session.get(Compound, building.compound_id)
    assert compound is not None
    stmt = (
        select(Person, Unit.name, Household.room)
        .join(CareFlag, CareFlag.person_id == Person.id)
        .join(Household, Person.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .where(Unit.building_id == building.id, CareFlag.removed_at.is_(None))
        .distinct()
        .order_by(Unit.name, Household.room, Person.id)
    )
    if unit is not None:
        stmt = stmt.where(Unit.id == unit.id)
    found = [
        CarePerson(person, compound.name, building.name, u, r, "")
        for person, u, r in await session.execute(stmt)
    ]
    found.sort(key=lambda p: (natural_key(p.unit), natural_key(p.room)))  # "2" before "10"
    flags = await _active_flags(session, [p.person.id for p in found])
    for p in found:
        p.flags = flags.get(p.person.id, [])
    return found


# ---------------------------------------------------------------- daily contact check


async def _insert_check(session: AsyncSession, person_id: int, day: date, now: datetime) -> bool:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(CareCheck)
        .values(person_id=person_id, day=day, status="pending", asked_at=now)
        .on_conflict_do_nothing(index_elements=["person_id", "day"])
    )
    return bool(getattr(result, "rowcount", 0))


async def daily_checks(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """From each community's check-in time, ask every flagged person with Telegram whose
    place is controlled or sealed "are you all right?" once a day."""
    asked = 0
    for community in list(await session.scalars(select(Community))):
        now_local = local_now(clock, community.timezone)
        if now_local.time() < community.checkin_time:
            continue
        day = now_local.date()
        rows = await session.execute(
            select(Person)
            .join(CareFlag, CareFlag.person_id == Person.id)
            .join(Household, Person.household_id == Household.id)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
            .where(
                Compound.community_id == community.id, CareFlag.removed_at.is_(None),
                Person.telegram_user_id.is_not(None),
            )
            .distinct()
        )  # fmt: skip
        for person in rows.scalars():
            assert person.household_id is not None and person.telegram_user_id is not None
            level = await sealing.level_of_household(session, person.household_id)
            if level not in sealing.CONTROLLED:
                continue
            if not await _insert_check(session, person.id, day, clock.now()):
                continue
            check = await session.scalar(
                select(CareCheck).where(CareCheck.person_id == person.id, CareCheck.day == day)
            )
            assert check is not None
            t = catalog.translator(person.language or community.locale)
            await outbox.enqueue(
                session, clock, kind="care_check", chat_id=person.telegram_user_id,
                dedup_key=f"care_check:{check.id}", person_id=person.id,
                payload=outbox.message_payload(
                    t("care.check_prompt", name=person.name),
                    reply_markup=buttons([[
                        (t("care.check_fine"), CareCb(action="fine", id=check.id)),
                        (t("care.check_help"), CareCb(action="help", id=check.id)),
                    ]]),
                ),
            )  # fmt: skip
            asked += 1
    return asked


async def answer_check(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    person: Person | None,
    check_id: int,
    needs_help: bool,
) -> CareCheck:
    """The person (or a member of their household) answers; "need help" opens an
    urgent case for the grid worker."""
    check = await session.get(CareCheck, check_id)
    subject = await session.get(Person, check.person_id) if check else None
    if (
        check is None
        or subject is None
        or person is None
        or person.household_id is None
        or person.household_id != subject.household_id
    ):
        raise NotAllowed()
    if check.status not in ("pending", "missed"):
        raise DomainError("care.check_already")
    check.status = "help" if needs_help else "fine"
    check.answered_at = clock.now()
    if needs_help:
        await _check_case(session, clock, catalog, check, subject, urgent=True)
    await audit.record(
        session, at=clock.now(), actor=person, action="care.check_answer", entity="care_check",
        entity_id=check.id, details={"status": check.status},
    )  # fmt: skip
    return check


async def _check_case(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    check: CareCheck,
    subject: Person,
    *,
    urgent: bool,
) -> None:
    community_id = await session.scalar(
        select(Compound.community_id)
        .join(Building, Building.compound_id == Compound.id)
        .join(Unit, Unit.building_id == Building.id)
        .join(Household, Household.unit_id == Unit.id)
        .where(Household.id == subject.household_id)
    )
    assert community_id is not None
    community = await session.get(Community, community_id)
    assert community is not None
    flags = (await _active_flags(session, [subject.id])).get(subject.id, [])
    summary = case_text.summary_details(
        catalog, community.locale, "care.case_summary",
        {"help": urgent, "flags": [flag_view(f) for f in flags]},
    )  # fmt: skip
    case = await cases.open_case(
        session, clock, catalog, community_id=community_id, kind=CaseKind.CARE_CHECK,
        urgent=urgent, household_id=subject.household_id, subject_id=subject.id,
        details=summary, dedup_key=f"care_check:{check.id}:{int(urgent)}",
    )  # fmt: skip
    check.case_id = check.case_id or case.id


async def missed_checks(session: AsyncSession, clock: Clock, catalog: Catalog, hours: int) -> int:
    """Checks unanswered after `hours` become a call task (case) for the grid worker.

    Care checks carry no community: they are read through the person's household up to
    its compound, so a district's bot (sessions scoped to its communities,
    bot/db/session.py) sees only its own and leaves another district's alone."""
    cutoff = clock.now() - timedelta(hours=hours)
    due = list(
        await session.scalars(
            select(CareCheck)
            .join(Person, Person.id == CareCheck.person_id)
            .join(Household, Household.id == Person.household_id)
            .join(Unit, Unit.id == Household.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .join(Compound, Compound.id == Building.compound_id)
            .where(CareCheck.status == "pending", CareCheck.asked_at <= cutoff)
            .order_by(CareCheck.id)
        )
    )
    for check in due:
        subject = await session.get(Person, check.person_id)
        if subject is None or subject.household_id is None:
            continue
        check.status = "missed"
        await _check_case(session, clock, catalog, check, subject, urgent=False)
    return len(due)
