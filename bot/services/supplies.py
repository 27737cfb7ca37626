"""Supplies and medicine under a seal (R-SUPPLY).

A household whose place is 管控 or 封控 asks for supplies (food packs, water, cooking
gas, sanitary items), medicine (name and dose, optional prescription photo, urgency) or
a medical need (dialysis appointment, pregnancy). Urgent medicine and every medical need
become an urgent case at once. Volunteers see the open requests of the buildings their
role grants cover, batched per building, take one, mark it delivered or report a
problem; the household confirms receipt. A request not delivered in time is overdue and
becomes a case (`supply_overdue_minutes`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import (
    Building,
    CaseKind,
    Community,
    Compound,
    DistributionRound,
    Household,
    Person,
    Role,
    RoundTick,
    SupplyRequest,
    Unit,
)
from bot.presentation.callbacks import SupplyCb
from bot.presentation.keyboards import buttons
from bot.services import audit, case_text, cases, outbox, sealing
from bot.services.directory import address_key
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import OFFICER_ROLES, Identity
from messages import Catalog

SUPPLY_KINDS: tuple[str, ...] = ("food", "water", "gas", "sanitary")
KINDS: tuple[str, ...] = (*SUPPLY_KINDS, "medicine", "medical")
OPEN, TAKEN, DELIVERED, CONFIRMED, PROBLEM = "open", "taken", "delivered", "confirmed", "problem"
#: Who may deliver: volunteers, and officers / grid workers covering the building.
DELIVERY_ROLES = OFFICER_ROLES | {Role.VOLUNTEER, Role.GRID_WORKER}
DETAIL_MAX = 300


@dataclass(frozen=True)
class Located:
    request: SupplyRequest
    compound: str
    building: str
    unit: str
    room: str

    @property
    def address(self) -> str:
        return f"{self.compound} {self.building} {self.unit} {self.room}"


async def household_level(session: AsyncSession, person: Person | None) -> str:
    if person is None or person.household_id is None:
        raise DomainError("supply.register_first")
    return await sealing.level_of_household(session, person.household_id)


async def create(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    person: Person | None,
    kind: str,
    detail: str | None = None,
    urgent: bool = False,
    prescription_file_id: str | None = None,
) -> SupplyRequest:
    """A household's request; only while its place is controlled or sealed. Urgent
    medicine and medical needs open an urgent case at once."""
    if kind not in KINDS:
        raise DomainError("common.button_expired")
    level = await household_level(session, person)
    if level not in sealing.CONTROLLED:
        raise DomainError("supply.not_controlled")
    assert person is not None and person.household_id is not None
    building_id = await session.scalar(
        select(Unit.building_id)
        .join(Household, Household.unit_id == Unit.id)
        .where(Household.id == person.household_id)
    )
    community_id = await session.scalar(
        select(Compound.community_id)
        .join(Building, Building.compound_id == Compound.id)
        .where(Building.id == building_id)
    )
    assert building_id is not None and community_id is not None
    urgent = urgent or kind == "medical"
    now = clock.now()
    request = SupplyRequest(
        community_id=community_id, household_id=person.household_id, building_id=building_id,
        requester_id=person.id, kind=kind, detail=detail, urgent=urgent,
        prescription_file_id=prescription_file_id, status=OPEN, created_at=now,
    )  # fmt: skip
    session.add(request)
    await session.flush()
    await audit.record(
        session, at=now, actor=person, action="supply.request", entity="supply_request",
        entity_id=request.id, details={"kind": kind, "urgent": urgent},
    )  # fmt: skip
    if urgent:
        community = await session.get(Community, community_id)
        assert community is not None
        case = await cases.open_case(
            session, clock, catalog, community_id=community_id, kind=CaseKind.MEDICAL,
            urgent=True, household_id=person.household_id, subject_id=person.id,
            reporter_id=person.id,
            details=case_summary(catalog, community.locale, request),
            dedup_key=f"supply_urgent:{request.id}", actor=person,
        )  # fmt: skip
        request.case_id = case.id
    return request


def summary(catalog: Catalog, locale: str, request: SupplyRequest) -> str:
    """One line for a case card (plain text; the card escapes it)."""
    import html

    return html.unescape(
        catalog.render(
            locale, "supply.case_summary", id=request.id, kind=request.kind,
            detail=request.detail or "", urgent=request.urgent,
        )
    )  # fmt: skip


def case_summary(catalog: Catalog, locale: str, request: SupplyRequest) -> dict[str, Any]:
    """The case's summary as its key and parameters (each reader's language, see
    bot.services.case_text), with the text in `locale`."""
    return case_text.summary_details(
        catalog, locale, "supply.case_summary",
        {"id": request.id, "kind": request.kind, "detail": request.detail or "",
         "urgent": request.urgent},
    )  # fmt: skip


async def _located(session: AsyncSession, stmt: Any) -> list[Located]:
    rows = await session.execute(
        stmt.add_columns(Compound.name, Building.name, Unit.name, Household.room)
        .join(Household, SupplyRequest.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
    )
    return [Located(r, c, b, u, room) for r, c, b, u, room in rows]


async def covered_buildings(
    session: AsyncSession, identity: Identity, roles: frozenset[Role] = DELIVERY_ROLES
) -> list[int]:
    """Buildings whose compound or grid a grant of `roles` covers (checked in the DB)."""
    rows = await session.execute(
        select(Building.id, Building.grid_id, Compound.id, Compound.community_id).join(
            Compound, Building.compound_id == Compound.id
        )
    )
    return [
        b
        for b, grid, compound, community in rows
        if identity.allows(roles, community_id=community, compound_id=compound, grid_id=grid)
    ]


async def open_for(session: AsyncSession, identity: Identity) -> list[Located]:
    """Open requests of the buildings the volunteer covers, urgent first, per building."""
    buildings = await covered_buildings(session, identity)
    if not buildings:
        raise NotAllowed()
    stmt = select(SupplyRequest).where(
        SupplyRequest.building_id.in_(buildings), SupplyRequest.status == OPEN
    )
    found = await _located(session, stmt)
    return sorted(
        found,
        key=lambda x: (not x.request.urgent, address_key(x.compound, x.building), x.request.id),
    )


async def located(session: AsyncSession, request_id: int) -> Located:
    found = await _located(session, select(SupplyRequest).where(SupplyRequest.id == request_id))
    if not found:
        raise NotFound("supply.not_found")
    return found[0]


async def _for_deliverer(session: AsyncSession, identity: Identity, request_id: int) -> Located:
    item = await located(session, request_id)
    if item.request.building_id not in await covered_buildings(session, identity):
        raise NotAllowed()
    return item


async def take(
    session: AsyncSession, clock: Clock, *, identity: Identity, request_id: int
) -> Located:
    """Take an open request; two volunteers pressing at once: only one gets it."""
    item = await _for_deliverer(session, identity, request_id)
    assert identity.person is not None
    now = clock.now()
    result = await session.execute(
        update(SupplyRequest)
        .where(SupplyRequest.id == request_id, SupplyRequest.status == OPEN)
        .values(status=TAKEN, volunteer_id=identity.person.id, taken_at=now)
    )
    if not getattr(result, "rowcount", 0):
        raise DomainError("supply.already_taken")
    await session.refresh(item.request)
    await audit.record(
        session, at=now, actor=identity.person, action="supply.take",
        entity="supply_request", entity_id=request_id,
    )  # fmt: skip
    return item


async def deliver(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    identity: Identity,
    request_id: int,
    photo_file_id: str | None = None,
) -> Located:
    """The volunteer who took it marks it delivered; the household is asked to confirm."""
    item = await _for_deliverer(session, identity, request_id)
    request = item.request
    assert identity.person is not None
    if request.status != TAKEN or request.volunteer_id != identity.person.id:
        raise DomainError("supply.not_yours")
    now = clock.now()
    request.status = DELIVERED
    request.delivered_at = now
    request.delivery_photo_file_id = photo_file_id
    await audit.record(
        session, at=now, actor=identity.person, action="supply.deliver",
        entity="supply_request", entity_id=request.id,
    )  # fmt: skip
    requester = await session.get(Person, request.requester_id) if request.requester_id else None
    if requester is not None and requester.telegram_user_id is not None:
        community = await session.get(Community, request.community_id)
        assert community is not None
        locale = requester.language or community.locale
        t = catalog.translator(locale)
        await outbox.enqueue(
            session, clock, kind="supply_delivered", chat_id=requester.telegram_user_id,
            dedup_key=f"supply:{request.id}:delivered", person_id=requester.id,
            payload=outbox.message_payload(
                t("supply.delivered_to_household", id=request.id, kind=request.kind,
                  detail=request.detail or ""),
                reply_markup=buttons([[(t("supply.confirm_button"),
                                        SupplyCb(action="ok", id=request.id))]]),
            ),
        )  # fmt: skip
    return item


async def attach_photo(
    session: AsyncSession, *, identity: Identity, request_id: int, file_id: str
) -> SupplyRequest:
    """A photo of the delivery, by the volunteer who delivered it."""
    request = await session.get(SupplyRequest, request_id)
    if (
        request is None
        or identity.person is None
        or request.volunteer_id != identity.person.id
        or request.status not in (DELIVERED, CONFIRMED)
    ):
        raise NotAllowed()
    request.delivery_photo_file_id = file_id
    return request


async def report_problem(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, identity: Identity, request_id: int
) -> Located:
    """The volunteer cannot deliver: the request becomes a case for the officers."""
    item = await _for_deliverer(session, identity, request_id)
    request = item.request
    if request.status not in (OPEN, TAKEN):
        raise DomainError("supply.not_yours")
    now = clock.now()
    request.status = PROBLEM
    community = await session.get(Community, request.community_id)
    assert community is not None
    case = await cases.open_case(
        session, clock, catalog, community_id=request.community_id, kind=CaseKind.SUPPLIES,
        urgent=request.urgent, household_id=request.household_id,
        subject_id=request.requester_id,
        reporter_id=identity.person.id if identity.person else None,
        details=case_summary(catalog, community.locale, request),
        dedup_key=f"supply_problem:{request.id}", actor=identity.person,
    )  # fmt: skip
    request.case_id = request.case_id or case.id
    await audit.record(
        session, at=now, actor=identity.person, action="supply.problem",
        entity="supply_request", entity_id=request.id,
    )  # fmt: skip
    return item


async def confirm(
    session: AsyncSession, clock: Clock, *, person: Person | None, request_id: int
) -> SupplyRequest:
    """A member of the household confirms receipt."""
    request = await session.get(SupplyRequest, request_id)
    if request is None or person is None or person.household_id != request.household_id:
        raise NotAllowed()
    if request.status == CONFIRMED:
        raise DomainError("supply.already_confirmed")
    if request.status != DELIVERED:
        raise DomainError("common.button_expired")
    request.status = CONFIRMED
    request.confirmed_at = clock.now()
    await audit.record(
        session, at=clock.now(), actor=person, action="supply.confirm",
        entity="supply_request", entity_id=request.id,
    )  # fmt: skip
    return request


def is_overdue(request: SupplyRequest, now: datetime, minutes: int) -> bool:
    return request.status in (OPEN, TAKEN) and request.created_at <= now - timedelta(
        minutes=minutes
    )


@dataclass
class BuildingCounts:
    compound: str
    building: str
    counts: Counter[str]


async def per_building(
    session: AsyncSession, identity: Identity, clock: Clock, overdue_minutes: int
) -> list[BuildingCounts]:
    """Officers' view: per building open / in delivery / delivered / overdue."""
    buildings = await covered_buildings(session, identity, OFFICER_ROLES | {Role.GRID_WORKER})
    if not buildings:
        raise NotAllowed()
    rows = await session.execute(
        select(SupplyRequest, Compound.name, Building.name)
        .join(Building, SupplyRequest.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(SupplyRequest.building_id.in_(buildings))
    )
    now = clock.now()
    out: dict[tuple[str, str], BuildingCounts] = {}
    for request, compound, building in rows:
        entry = out.setdefault((compound, building), BuildingCounts(compound, building, Counter()))
        status = request.status
        if status in (DELIVERED, CONFIRMED):
            entry.counts["delivered"] += 1
        elif status == TAKEN:
            entry.counts["taken"] += 1
        elif status == OPEN:
            entry.counts["open"] += 1
        else:
            entry.counts["problem"] += 1
        if is_overdue(request, now, overdue_minutes):
            entry.counts["overdue"] += 1
    return [out[k] for k in sorted(out, key=lambda k: address_key(*k))]


async def raise_overdue(session: AsyncSession, clock: Clock, catalog: Catalog, minutes: int) -> int:
    """Every overdue request without a case gets one (idempotent: dedup per request)."""
    cutoff = clock.now() - timedelta(minutes=minutes)
    due = list(
        await session.scalars(
            select(SupplyRequest).where(
                SupplyRequest.status.in_((OPEN, TAKEN)),
                SupplyRequest.created_at <= cutoff,
                SupplyRequest.case_id.is_(None),
            )
        )
    )
    for request in due:
        community = await session.get(Community, request.community_id)
        assert community is not None
        case = await cases.open_case(
            session, clock, catalog, community_id=request.community_id,
            kind=CaseKind.SUPPLY_OVERDUE, urgent=False, household_id=request.household_id,
            subject_id=request.requester_id,
            details=case_summary(catalog, community.locale, request),
            dedup_key=f"supply_overdue:{request.id}",
        )  # fmt: skip
        request.case_id = case.id
    return len(due)


# ---------------------------------------------------------------- distribution rounds


@dataclass(frozen=True)
class RoundState:
    round: DistributionRound
    place: str
    pending: list[tuple[int, str]]  # (household id, "1单元 101")
    total: int


async def open_round(
    session: AsyncSession, clock: Clock, *, identity: Identity, text: str
) -> RoundState:
    """ "阳光花园 9栋 蔬菜包" → today's round of that item for every household of the
    building (the same item twice a day is the same round)."""
    words = text.split()
    if len(words) < 3:
        raise DomainError("supply.round_usage")
    row = (
        await session.execute(
            select(Building, Compound)
            .join(Compound, Building.compound_id == Compound.id)
            .where(Compound.name == words[0], Building.name == words[1])
        )
    ).first()
    if row is None:
        raise DomainError("seal.unknown_place", place=" ".join(words[:2]))
    building, compound = row
    if building.id not in await covered_buildings(session, identity):
        raise NotAllowed()
    community = await session.get(Community, compound.community_id)
    assert community is not None
    item = " ".join(words[2:])[:80]
    day = local_today(clock, community.timezone)
    found = await session.scalar(
        select(DistributionRound).where(
            DistributionRound.building_id == building.id,
            DistributionRound.day == day,
            DistributionRound.item == item,
        )
    )
    if found is None:
        found = DistributionRound(
            community_id=community.id, building_id=building.id, item=item, day=day,
            created_by_id=identity.person.id if identity.person else None, created_at=clock.now(),
        )  # fmt: skip
        session.add(found)
        await session.flush()
        await audit.record(
            session, at=clock.now(), actor=identity.person, action="supply.round",
            entity="distribution_round", entity_id=found.id, details={"item": item},
        )  # fmt: skip
    return await round_state(session, found.id)


async def round_state(session: AsyncSession, round_id: int) -> RoundState:
    rnd = await session.get(DistributionRound, round_id)
    if rnd is None:
        raise DomainError("common.button_expired")
    building = await session.get(Building, rnd.building_id)
    compound = await session.get(Compound, building.compound_id) if building else None
    assert building is not None and compound is not None
    ticked = set(
        await session.scalars(select(RoundTick.household_id).where(RoundTick.round_id == rnd.id))
    )
    rows = list(
        await session.execute(
            select(Household.id, Unit.name, Household.room)
            .join(Unit, Household.unit_id == Unit.id)
            .where(Unit.building_id == building.id)
        )
    )
    rows.sort(key=lambda r: address_key(r[1], r[2]))
    pending = [(hid, f"{u} {room}") for hid, u, room in rows if hid not in ticked]
    return RoundState(rnd, f"{compound.name} {building.name}", pending, len(rows))


async def tick_household(
    session: AsyncSession, clock: Clock, *, identity: Identity, round_id: int, household_id: int
) -> RoundState:
    state = await round_state(session, round_id)
    if state.round.building_id not in await covered_buildings(session, identity):
        raise NotAllowed()
    if household_id not in {h for h, _ in state.pending}:
        # Ticked already (a double tap), or not a household of this building.
        return state
    session.add(
        RoundTick(
            round_id=round_id, household_id=household_id,
            by_id=identity.person.id if identity.person else None, at=clock.now(),
        )
    )  # fmt: skip
    await session.flush()
    return await round_state(session, round_id)
