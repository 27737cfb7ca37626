"""Household screening coverage (R-COV, R-SCREEN): "not one household, not one person missed".

A household is **screened** when, within the community's `screening_period_days`
(counted back from now):
  - it is registered with its members (at least one person lives in it in our register),
    or a door visit recorded the people found there (a household with no Telegram user,
    even one not in the register yet, is screened by the visit itself), and
  - its health status was confirmed: a door visit with outcome `done` (ScreeningVisit), or a
    self-report by a member: a report about the household, an answered isolation check-in
    of a member, or a member's registration / profile update.
A household whose latest door visit in the period found it **vacant** is counted apart
(not missing, not screened). Every other household is **not screened** ("missing").
People are counted too: the register's members of each household (or, for a household
not in the register, the people its latest visit found).

A door visit records the household's people (present / away / moved out / new), their
temperatures or a fever found (→ an urgent case); new occupants and people who moved out
are pending changes to the register until staff confirm them. "Refused", and a second
"no answer" within the period, become cases for the officer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.db.models import (
    Building,
    Case,
    CaseKind,
    CaseStatus,
    CheckIn,
    Community,
    Compound,
    Grid,
    Household,
    Isolation,
    Person,
    Report,
    Role,
    RoleGrant,
    ScopeType,
    ScreeningOutcome,
    ScreeningVisit,
    ScreeningVisitPerson,
    Unit,
    VisitPersonStatus,
)
from bot.services import audit, case_text, outbox
from bot.services.directory import natural_key
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import own_locales
from messages import Catalog


@dataclass(frozen=True)
class HouseholdStatus:
    household_id: int
    compound: str
    building_id: int
    building: str
    unit: str
    room: str
    grid_id: int | None
    grid: str
    status: str  # "screened" | "vacant" | "missing"
    people: int = 0

    @property
    def address(self) -> str:
        return f"{self.compound} {self.building} {self.unit} {self.room}"


@dataclass
class Tally:
    name: str
    screened: int = 0
    vacant: int = 0
    missing: int = 0
    people: int = 0
    people_screened: int = 0

    @property
    def total(self) -> int:
        return self.screened + self.vacant + self.missing

    @property
    def percent(self) -> int:
        """Share of screened households (vacant ones are left out of the base)."""
        base = self.screened + self.missing
        return round(100 * self.screened / base) if base else 100


@dataclass
class Coverage:
    households: list[HouseholdStatus]
    total: Tally = field(default_factory=lambda: Tally(""))
    compounds: dict[str, Tally] = field(default_factory=dict)
    grids: dict[str, Tally] = field(default_factory=dict)
    buildings: dict[str, Tally] = field(default_factory=dict)

    @property
    def missing(self) -> list[HouseholdStatus]:
        return [h for h in self.households if h.status == "missing"]


@dataclass(frozen=True)
class Scope:
    """What part of the community to look at; all ids None means the whole community."""

    compound_id: int | None = None
    grid_ids: frozenset[int] | None = None
    building_id: int | None = None


def within_grids(scope: Scope, grids: frozenset[int]) -> Scope:
    """A grid worker's view: `scope` narrowed to their grids; another grid is NotAllowed."""
    if scope.grid_ids is None:
        return Scope(scope.compound_id, grids, scope.building_id)
    if not scope.grid_ids <= grids:
        raise NotAllowed()
    return scope


async def resolve_scope(session: AsyncSession, community_id: int, name: str) -> Scope:
    """A compound, grid or building named by the user ("阳光花园", "第一网格", "1栋",
    "阳光花园 1栋"). Raises DomainError coverage.unknown_place."""
    text = " ".join(name.replace("/", " ").split())
    if not text:
        return Scope()
    compound = await session.scalar(
        select(Compound).where(Compound.community_id == community_id, Compound.name == text)
    )
    if compound is not None:
        return Scope(compound_id=compound.id)
    grid = await session.scalar(
        select(Grid).where(Grid.community_id == community_id, Grid.name == text)
    )
    if grid is not None:
        return Scope(grid_ids=frozenset({grid.id}))
    compound_name, _, building_name = text.rpartition(" ")
    stmt = (
        select(Building)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Compound.community_id == community_id, Building.name == building_name)
    )
    if compound_name:
        stmt = stmt.where(Compound.name == compound_name)
    buildings = list(await session.scalars(stmt))
    if len(buildings) == 1:
        return Scope(building_id=buildings[0].id)
    raise DomainError("coverage.unknown_place", name=text)


async def _seen_at_door(session: AsyncSession, since: datetime) -> dict[int, int]:
    """Households → people found (present or new) at their latest `done` visit since."""
    rows = await session.execute(
        select(ScreeningVisit.household_id, ScreeningVisit.id, ScreeningVisitPerson.status)
        .outerjoin(ScreeningVisitPerson, ScreeningVisitPerson.visit_id == ScreeningVisit.id)
        .where(ScreeningVisit.at >= since, ScreeningVisit.outcome == ScreeningOutcome.DONE)
        .order_by(ScreeningVisit.at, ScreeningVisit.id)
    )
    latest: dict[int, int] = {}
    counts: dict[int, int] = {}
    for household_id, visit_id, status in rows:
        if latest.get(household_id) != visit_id:
            latest[household_id] = visit_id
            counts[household_id] = 0
        if status in (VisitPersonStatus.PRESENT, VisitPersonStatus.NEW):
            counts[household_id] += 1
    return {h: n for h, n in counts.items() if n}


async def _confirmed(
    session: AsyncSession, since: datetime, ids: set[int]
) -> tuple[set[int], set[int]]:
    """(households with a confirmed health status since `since`, vacant households)."""
    confirmed: set[int] = set()
    latest_visit: dict[int, tuple[datetime, str]] = {}
    visits = await session.execute(
        select(ScreeningVisit.household_id, ScreeningVisit.at, ScreeningVisit.outcome).where(
            ScreeningVisit.at >= since
        )
    )
    for household_id, at, outcome in visits:
        if outcome == ScreeningOutcome.DONE:
            confirmed.add(household_id)
        if household_id not in latest_visit or latest_visit[household_id][0] < at:
            latest_visit[household_id] = (at, outcome)
    reports = await session.scalars(
        select(Report.household_id).where(
            Report.created_at >= since, Report.household_id.is_not(None)
        )
    )
    confirmed.update(h for h in reports if h is not None)
    checkins = await session.scalars(
        select(Person.household_id)
        .join(Isolation, Isolation.person_id == Person.id)
        .join(CheckIn, CheckIn.isolation_id == Isolation.id)
        .where(CheckIn.answered_at >= since, Person.household_id.is_not(None))
    )
    confirmed.update(h for h in checkins if h is not None)
    registered = await session.scalars(
        select(Person.household_id).where(
            Person.household_id.is_not(None),
            or_(Person.created_at >= since, Person.updated_at >= since),
        )
    )
    confirmed.update(h for h in registered if h is not None)
    vacant = {h for h, (_, outcome) in latest_visit.items() if outcome == ScreeningOutcome.VACANT}
    return confirmed & ids, (vacant - confirmed) & ids


async def coverage(
    session: AsyncSession, clock: Clock, community: Community, scope: Scope = Scope()
) -> Coverage:
    """Screened / vacant / missing households of `community` within `scope`."""
    stmt = (
        select(Household, Unit, Building, Compound, Grid)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .outerjoin(Grid, Building.grid_id == Grid.id)
        .where(Compound.community_id == community.id)
    )
    if scope.compound_id is not None:
        stmt = stmt.where(Compound.id == scope.compound_id)
    if scope.grid_ids is not None:
        stmt = stmt.where(Building.grid_id.in_(scope.grid_ids))
    if scope.building_id is not None:
        stmt = stmt.where(Building.id == scope.building_id)
    rows = (await session.execute(stmt)).all()
    ids = {h.id for h, *_ in rows}
    members: dict[int, int] = {
        hid: count
        for hid, count in await session.execute(
            select(Person.household_id, func.count())
            .where(Person.household_id.in_(ids))
            .group_by(Person.household_id)
        )
        if hid is not None
    }
    since = clock.now() - timedelta(days=community.screening_period_days)
    seen = await _seen_at_door(session, since)
    people = {hid: members.get(hid) or seen.get(hid, 0) for hid in ids}
    registered = {hid for hid, n in people.items() if n}
    confirmed, vacant = await _confirmed(session, since, ids)
    result = Coverage(households=[])
    for household, unit, building, compound, grid in rows:
        if household.id in vacant:
            status = "vacant"
        elif household.id in confirmed and household.id in registered:
            status = "screened"
        else:
            status = "missing"
        result.households.append(
            HouseholdStatus(
                household.id,
                compound.name,
                building.id,
                building.name,
                unit.name,
                household.room,
                grid.id if grid else None,
                grid.name if grid else "",
                status,
                people[household.id],
            )
        )
    result.households.sort(
        key=lambda h: (
            natural_key(h.compound),
            natural_key(h.building),
            natural_key(h.unit),
            natural_key(h.room),
        )
    )
    for h in result.households:
        for tally in (
            result.total,
            result.compounds.setdefault(h.compound, Tally(h.compound)),
            result.grids.setdefault(h.grid, Tally(h.grid)),
            result.buildings.setdefault(f"{h.compound} {h.building}", Tally(h.building)),
        ):
            setattr(tally, h.status, getattr(tally, h.status) + 1)
            tally.people += h.people
            if h.status == "screened":
                tally.people_screened += h.people
    # Compounds and buildings come in the households' order; grids by name, naturally.
    result.grids = dict(sorted(result.grids.items(), key=lambda g: natural_key(g[0])))
    return result


async def household_in_scope(
    session: AsyncSession, household_id: int, community_id: int, grid_ids: Iterable[int] | None
) -> Household:
    """The household, if it lies in the community (and, for grid workers, in their grids).
    Raises NotAllowed otherwise (a forged button names someone else's household)."""
    row = (
        await session.execute(
            select(Household, Building.grid_id, Compound.community_id)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
            .where(Household.id == household_id)
        )
    ).one_or_none()
    if row is None or row[2] != community_id:
        raise NotAllowed()
    if grid_ids is not None and row[1] not in set(grid_ids):
        raise NotAllowed()
    household: Household = row[0]
    return household


@dataclass
class SeenPerson:
    """One person at a door visit, as the screener records them."""

    person_id: int | None
    name: str
    status: str = VisitPersonStatus.PRESENT.value
    temperature: Decimal | None = None
    fever: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.person_id, "name": self.name, "status": self.status,
                "temp": str(self.temperature) if self.temperature is not None else None,
                "fever": self.fever}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeenPerson:
        temp = data.get("temp")
        return cls(
            data.get("id"), str(data.get("name", "")), str(data.get("status", "present")),
            Decimal(temp) if temp is not None else None, bool(data.get("fever")),
        )  # fmt: skip


async def people_at_door(session: AsyncSession, household_id: int) -> list[SeenPerson]:
    """The register's members of a household, all present until the screener says not."""
    members = await session.scalars(
        select(Person)
        .where(Person.household_id == household_id)
        .order_by(Person.is_head.desc(), Person.id)
    )
    return [SeenPerson(p.id, p.name) for p in members]


async def record_visit(
    session: AsyncSession,
    clock: Clock,
    *,
    household: Household,
    outcome: ScreeningOutcome,
    by: Person | None,
    note: str | None = None,
    people: Sequence[SeenPerson] = (),
) -> ScreeningVisit:
    """A door visit by a grid worker (R-COV, R-SCREEN) with the people found, audited.
    Only people of this household are recorded against register records."""
    member_ids = set(
        await session.scalars(select(Person.id).where(Person.household_id == household.id))
    )
    visit = ScreeningVisit(
        household_id=household.id, outcome=outcome.value, note=note,
        by_id=by.id if by else None, self_reported=False, at=clock.now(),
        fever_found=any(p.fever for p in people),
    )  # fmt: skip
    session.add(visit)
    await session.flush()
    for p in people:
        if p.person_id is not None and p.person_id not in member_ids:
            raise NotAllowed()
        session.add(
            ScreeningVisitPerson(
                visit_id=visit.id, person_id=p.person_id, name=p.name, status=p.status,
                temperature=p.temperature, fever=p.fever,
            )
        )  # fmt: skip
    await audit.record(
        session, at=clock.now(), actor=by, action="screening.visit", entity="household",
        entity_id=household.id, details={"outcome": outcome.value, "visit_id": visit.id},
    )  # fmt: skip
    return visit


async def escalate(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, community: Community,
    visit: ScreeningVisit, by: Person | None,
) -> Case | None:  # fmt: skip
    """A fever found → urgent case; "refused" → case; the second "no answer" within the
    screening period → case (one open case per household and kind). No names on cards."""
    from bot.services.cases import open_case

    outcome = visit.outcome
    kind: CaseKind | None = None
    urgent = False
    if visit.fever_found:
        kind, urgent = CaseKind.SCREEN_FEVER, True
    elif outcome == ScreeningOutcome.REFUSED:
        kind = CaseKind.SCREEN_REFUSED
    elif outcome == ScreeningOutcome.NO_ANSWER:
        since = clock.now() - timedelta(days=community.screening_period_days)
        misses = await session.scalar(
            select(func.count())
            .select_from(ScreeningVisit)
            .where(
                ScreeningVisit.household_id == visit.household_id,
                ScreeningVisit.outcome == ScreeningOutcome.NO_ANSWER,
                ScreeningVisit.at >= since,
            )
        )
        if (misses or 0) >= NO_ANSWERS_FOR_CASE:
            kind = CaseKind.SCREEN_NO_ANSWER
    if kind is None:
        return None
    if not urgent:
        existing = await session.scalar(
            select(Case).where(
                Case.household_id == visit.household_id, Case.kind == kind,
                Case.status != CaseStatus.RESOLVED,
            )
        )  # fmt: skip
        if existing is not None:
            return existing
    fevers = sum(1 for _ in await session.scalars(
        select(ScreeningVisitPerson.id).where(
            ScreeningVisitPerson.visit_id == visit.id, ScreeningVisitPerson.fever.is_(True)
        )
    ))  # fmt: skip
    summary = case_text.summary_details(
        catalog, community.locale, f"coverage.case_{kind.value}", {"fevers": fevers}
    )
    return await open_case(
        session, clock, catalog, community_id=community.id, kind=kind, urgent=urgent,
        household_id=visit.household_id, reporter_id=by.id if by else None,
        details={"visit_id": visit.id, **summary},
        dedup_key=f"screen:{visit.id}:{kind.value}", actor=by,
    )  # fmt: skip


NO_ANSWERS_FOR_CASE = 2


@dataclass(frozen=True)
class PendingChange:
    """A register change found at a door (a new occupant, someone who moved out)."""

    id: int
    household_id: int
    address: str
    name: str
    status: str


async def pending_changes(
    session: AsyncSession, community_id: int, grid_ids: Iterable[int] | None
) -> list[PendingChange]:
    stmt = (
        select(ScreeningVisitPerson, ScreeningVisit.household_id, Compound.name, Building.name,
               Unit.name, Household.room)
        .join(ScreeningVisit, ScreeningVisitPerson.visit_id == ScreeningVisit.id)
        .join(Household, ScreeningVisit.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(
            Compound.community_id == community_id,
            ScreeningVisitPerson.confirmed_at.is_(None),
            ScreeningVisitPerson.status.in_(
                [VisitPersonStatus.NEW.value, VisitPersonStatus.MOVED_OUT.value]
            ),
        )
        .order_by(ScreeningVisitPerson.id)
    )  # fmt: skip
    if grid_ids is not None:
        stmt = stmt.where(Building.grid_id.in_(set(grid_ids)))
    return [
        PendingChange(vp.id, hid, f"{c} {b} {u} {r}", vp.name, vp.status)
        for vp, hid, c, b, u, r in await session.execute(stmt)
    ]


async def change_household(session: AsyncSession, change_id: int) -> int | None:
    """The household a pending register change was found in (None: no such change)."""
    return await session.scalar(
        select(ScreeningVisit.household_id)
        .join(ScreeningVisitPerson, ScreeningVisitPerson.visit_id == ScreeningVisit.id)
        .where(ScreeningVisitPerson.id == change_id)
    )


async def settle_change(
    session: AsyncSession, clock: Clock, *, change_id: int, accept: bool, community_id: int,
    grid_ids: Iterable[int] | None, by: Person | None,
) -> ScreeningVisitPerson:  # fmt: skip
    """Confirm (or dismiss) a register change found at a door: a new occupant becomes a
    member of the household; someone who moved out leaves it. Scope-checked."""
    row = await session.get(ScreeningVisitPerson, change_id)
    if row is None or row.confirmed_at is not None:
        raise DomainError("coverage.change_gone")
    visit = await session.get(ScreeningVisit, row.visit_id)
    assert visit is not None
    household = await household_in_scope(session, visit.household_id, community_id, grid_ids)
    if accept and row.status == VisitPersonStatus.MOVED_OUT and grid_ids is not None:
        raise NotAllowed()  # only an officer removes a member from the register (R-HH)
    now = clock.now()
    row.confirmed_at = now
    if not accept:
        row.status = "dismissed"
    elif row.status == VisitPersonStatus.NEW:
        person = Person(
            name=row.name, household_id=household.id, reported_by_id=visit.by_id,
            created_at=now,
        )  # fmt: skip
        session.add(person)
        await session.flush()
        row.person_id = person.id
    elif row.person_id is not None:
        person_gone = await session.get(Person, row.person_id)
        if person_gone is not None and person_gone.household_id == household.id:
            person_gone.household_id = None
            person_gone.is_head = False
            person_gone.updated_at = now
    await audit.record(
        session, at=now, actor=by, action="screening.register_change", entity="household",
        entity_id=household.id,
        details={"change_id": row.id, "status": row.status, "accepted": accept,
                 "person_id": row.person_id},
    )  # fmt: skip
    return row


async def add_note(
    session: AsyncSession, clock: Clock, *, visit_id: int, note: str, by: Person | None
) -> ScreeningVisit:
    """Attach a note to one's own door visit."""
    visit = await session.get(ScreeningVisit, visit_id)
    if visit is None or (by is not None and visit.by_id != by.id):
        raise NotAllowed()
    visit.note = note
    await audit.record(
        session, at=clock.now(), actor=by, action="screening.note", entity="household",
        entity_id=visit.household_id, details={"visit_id": visit.id},
    )  # fmt: skip
    return visit


async def buildings_in_scope(
    session: AsyncSession, community_id: int, grid_ids: Iterable[int] | None
) -> list[tuple[int, str]]:
    """Buildings a screener may pick: (id, "compound building"), in natural order."""
    stmt = (
        select(Building.id, Compound.name, Building.name)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Compound.community_id == community_id)
    )
    if grid_ids is not None:
        stmt = stmt.where(Building.grid_id.in_(set(grid_ids)))
    rows = sorted(
        (await session.execute(stmt)).all(), key=lambda r: (natural_key(r[1]), natural_key(r[2]))
    )
    return [(bid, f"{compound} {name}") for bid, compound, name in rows]


async def units_in_scope(
    session: AsyncSession, building_id: int, community_id: int, grid_ids: Iterable[int] | None
) -> list[tuple[int, str]]:
    """Units of a building the screener may visit; NotAllowed for a building outside."""
    allowed = {bid for bid, _ in await buildings_in_scope(session, community_id, grid_ids)}
    if building_id not in allowed:
        raise NotAllowed()
    units = await session.scalars(select(Unit).where(Unit.building_id == building_id))
    return sorted(((u.id, u.name) for u in units), key=lambda u: natural_key(u[1]))


async def rooms_in_scope(
    session: AsyncSession, unit_id: int, community_id: int, grid_ids: Iterable[int] | None
) -> list[tuple[int, str]]:
    """Rooms of a unit the screener may visit; NotAllowed for a unit outside."""
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise NotAllowed()
    await units_in_scope(session, unit.building_id, community_id, grid_ids)
    rooms = await session.scalars(select(Household).where(Household.unit_id == unit_id))
    return sorted(((h.id, h.room) for h in rooms), key=lambda r: natural_key(r[1]))


REMINDER_SHOWN = 60


async def queue_daily_reminders(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """Each grid worker's private list of unscreened households, once a local day from
    the community's `coverage_list_time` (08:00 unless /set) on, through the outbox
    (dedup key per worker, grid and day). Returns how many were queued now."""
    queued = 0
    for community in await session.scalars(select(Community)):
        now_local = local_now(clock, community.timezone)
        if now_local.time() < community.coverage_list_time:
            continue
        day = now_local.date().isoformat()
        grants = await session.execute(
            select(RoleGrant, Person, Grid)
            .join(Person, RoleGrant.person_id == Person.id)
            .join(Grid, Grid.id == RoleGrant.scope_id)
            .where(
                RoleGrant.role == Role.GRID_WORKER,
                RoleGrant.scope_type == ScopeType.GRID,
                RoleGrant.revoked_at.is_(None),
                Grid.community_id == community.id,
                Person.telegram_user_id.is_not(None),
            )
        )
        rows = list(grants)
        locales = await own_locales(session, [p for _, p, _ in rows], community.locale)
        for _grant, person, grid in rows:
            key = f"coverage:{day}:{grid.id}:{person.id}"
            if await outbox.find(session, key) is not None:
                continue
            scope = Scope(grid_ids=frozenset({grid.id}))
            missing = (await coverage(session, clock, community, scope)).missing
            if not missing:
                continue
            text = catalog.render(
                locales[person.id],
                "coverage.daily_missing",
                grid=grid.name,
                count=len(missing),
                missing=[h.address for h in missing[:REMINDER_SHOWN]],
                more=max(0, len(missing) - REMINDER_SHOWN),
            )
            assert person.telegram_user_id is not None
            if await outbox.enqueue(
                session, clock, kind="coverage_reminder", chat_id=person.telegram_user_id,
                dedup_key=key, payload=outbox.message_payload(text), person_id=person.id,
            ):  # fmt: skip
                queued += 1
    return queued
