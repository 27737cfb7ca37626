"""The gate register (R-GATE): gates with a QR token, passages with temperature, and the
cases a passage raises (a fever: urgent `gate_fever`; a visitor from an active risk
area: `gate_risk`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import (
    Building,
    CaseKind,
    Community,
    Compound,
    Gate,
    GateEntry,
    Household,
    Person,
    Unit,
)
from bot.places import Gazetteer
from bot.services import audit, case_text, cases, monitoring, risk_areas, sealing
from bot.services.directory import address_key
from bot.services.errors import DomainError, NotAllowed, NotFound, RecordedRefusal
from messages import Catalog

DIRECTIONS = ("in", "out")
SUBJECTS = ("resident", "visitor", "vehicle")
# Province abbreviation, a letter, then 5 (ordinary) or 6 (new energy) letters/digits;
# the last may be 挂/学/警/港/澳. A middle dot or space is allowed and dropped.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_PLATE = re.compile(f"[{_PROVINCES}][A-Z][A-HJ-NP-Z0-9]{{4,5}}[A-HJ-NP-Z0-9挂学警港澳]")


def parse_plate(text: str) -> str:
    """A Chinese licence plate, normalised ("粤b·12345" → "粤B12345"). Raises
    DomainError gate.bad_plate."""
    plate = re.sub(r"[\s·.\-•]", "", text).upper()
    if not _PLATE.fullmatch(plate):
        raise DomainError("gate.bad_plate")
    return plate


def new_token() -> str:
    """A secret for a gate's deep link: 16 URL-safe letters and digits."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


async def add_gate(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    compound_name: str,
    name: str,
    by: Person | None,
) -> Gate:
    """A new gate of a compound (officers), with a fresh deep-link token; audited."""
    compound = await session.scalar(
        select(Compound).where(
            Compound.community_id == community.id, Compound.name == compound_name
        )
    )
    if compound is None:
        raise DomainError("gate.unknown_compound", name=compound_name)
    if await session.scalar(select(Gate).where(Gate.compound_id == compound.id, Gate.name == name)):
        raise DomainError("gate.exists", name=name)
    gate = Gate(compound_id=compound.id, name=name, token=new_token())
    session.add(gate)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=by, action="gate.add", entity="gate",
        entity_id=gate.id, details={"compound_id": compound.id, "name": name},
    )  # fmt: skip
    return gate


@dataclass(frozen=True)
class GateInfo:
    gate: Gate
    compound: Compound


async def gates(session: AsyncSession, community_id: int) -> list[GateInfo]:
    rows = await session.execute(
        select(Gate, Compound)
        .join(Compound, Gate.compound_id == Compound.id)
        .where(Compound.community_id == community_id)
    )
    found = [GateInfo(g, c) for g, c in rows]
    return sorted(found, key=lambda i: (address_key(i.compound.name, i.gate.name), i.gate.id))


async def gate_info(session: AsyncSession, gate_id: int, community_id: int) -> GateInfo:
    for info in await gates(session, community_id):
        if info.gate.id == gate_id:
            return info
    raise NotFound("gate.unknown_gate")


async def find_gate(session: AsyncSession, community_id: int, text: str) -> GateInfo:
    """A gate by "name" or "compound name"; raises NotFound gate.unknown_gate."""
    text = " ".join(text.split())
    found = [
        i
        for i in await gates(session, community_id)
        if text in (i.gate.name, f"{i.compound.name} {i.gate.name}")
    ]
    if len(found) != 1:
        raise NotFound("gate.unknown_gate", name=text)
    return found[0]


async def gate_by_token(session: AsyncSession, token: str) -> GateInfo:
    """The gate of a QR deep link; a forged or retired token raises NotFound."""
    row = (
        await session.execute(
            select(Gate, Compound)
            .join(Compound, Gate.compound_id == Compound.id)
            .where(Gate.token == token)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("gate.bad_token")
    return GateInfo(row[0], row[1])


async def find_residents(
    session: AsyncSession, compound_id: int, text: str, limit: int = 8
) -> list[tuple[Person, str]]:
    """Residents of a compound whose name contains `text` or whose room is `text`."""
    rows = await session.execute(
        select(Person, Building.name, Unit.name, Household.room)
        .join(Household, Person.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .where(
            Building.compound_id == compound_id,
            or_(Person.name.contains(text), Household.room == text),
        )
        .order_by(Person.name)
        .limit(limit)
    )
    return [(p, f"{p.name} {b} {u} {r}") for p, b, u, r in rows]


async def resident_of_compound(session: AsyncSession, compound_id: int, person_id: int) -> Person:
    """A resident living in the compound; NotAllowed otherwise (forged button)."""
    row = (
        await session.execute(
            select(Person, Building.compound_id)
            .join(Household, Person.household_id == Household.id)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .where(Person.id == person_id)
        )
    ).one_or_none()
    if row is None or row[1] != compound_id:
        raise NotAllowed()
    person: Person = row[0]
    return person


@dataclass(frozen=True)
class Passage:
    direction: str
    subject_kind: str
    person: Person | None = None
    name: str | None = None
    origin_code: str | None = None
    plate: str | None = None
    temperature: Decimal | None = None


async def record_passage(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    info: GateInfo,
    passage: Passage,
    by: Person | None,
    self_recorded: bool = False,
) -> tuple[GateEntry, list[CaseKind]]:
    """Save one passage; a fever (≥ the community's threshold) opens an urgent
    `gate_fever` case, a visitor from an active risk area a `gate_risk` case."""
    if passage.direction not in DIRECTIONS or passage.subject_kind not in SUBJECTS:
        raise DomainError("common.button_expired")
    community = await session.get(Community, info.compound.community_id)
    assert community is not None
    person = passage.person
    verdict, level = await sealing.gate_verdict(
        session, compound_id=info.compound.id, direction=passage.direction,
        subject_kind=passage.subject_kind, household_id=person.household_id if person else None,
    )  # fmt: skip
    if verdict == "refuse":
        # The status forbids this passage (R-SEAL): nothing is recorded as passed.
        await audit.record(
            session, at=clock.now(), actor=by, action="gate.refused", entity="gate",
            entity_id=info.gate.id,
            details={"direction": passage.direction, "subject": passage.subject_kind,
                     "level": level, "person_id": person.id if person else None},
        )  # fmt: skip
        raise RecordedRefusal("seal.gate_refused", level=level)
    entry = GateEntry(
        compound_id=info.compound.id, gate_id=info.gate.id, direction=passage.direction,
        subject_kind=passage.subject_kind, person_id=person.id if person else None,
        household_id=person.household_id if person else None,
        name=passage.name or (person.name if person else None),
        origin_code=passage.origin_code, plate=passage.plate,
        temperature=passage.temperature, recorded_by_id=by.id if by else None,
        self_recorded=self_recorded, at=clock.now(),
    )  # fmt: skip
    session.add(entry)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=by, action="gate.passage", entity="gate_entry",
        entity_id=entry.id,
        details={"gate_id": info.gate.id, "direction": passage.direction,
                 "subject": passage.subject_kind, "self": self_recorded},
    )  # fmt: skip
    opened: list[CaseKind] = []
    who = entry.name or entry.plate or ""
    where = f"{info.compound.name} {info.gate.name}"
    # Every gate case belongs to the gate's compound; a resident of that compound is
    # routed to their building's grid, anyone else to the compound's grid workers.
    home = entry.household_id if person is not None and await _lives_in(
        session, person, info.compound.id) else None  # fmt: skip
    if passage.temperature is not None and passage.temperature >= community.fever_threshold:
        await cases.open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.GATE_FEVER,
            urgent=True, household_id=home, compound_id=info.compound.id,
            subject_id=entry.person_id, reporter_id=by.id if by else None,
            details=case_text.summary_details(
                catalog, community.locale, "gate.case_fever_summary",
                {"who": who, "temperature": str(passage.temperature), "where": where},
            ),
            dedup_key=f"gate_fever:{entry.id}", actor=by,
        )  # fmt: skip
        opened.append(CaseKind.GATE_FEVER)
    if passage.subject_kind == "visitor" and passage.origin_code:
        area = await risk_areas.containing_area(
            session, community.id, passage.origin_code, local_today(clock, community.timezone)
        )
        if area is not None:
            await cases.open_case(
                session, clock, catalog, community_id=community.id, kind=CaseKind.GATE_RISK,
                urgent=False, reporter_id=by.id if by else None, compound_id=info.compound.id,
                subject_id=entry.person_id,
                details=_risk_summary(catalog, community, area, who, where),
                dedup_key=f"gate_risk:{entry.id}", actor=by,
            )  # fmt: skip
            opened.append(CaseKind.GATE_RISK)
    if person is not None:
        status = await monitoring.gate_status(session, community, person)
        if status is not None and status.forbidden:
            summary = case_text.summary_details(
                catalog, community.locale, "monitoring.case_gate",
                {"who": who, "where": where,
                 "direction": case_text.label(f"gate.direction_{passage.direction}"),
                 "category": case_text.label(f"monitoring.category_{status.category}"),
                 "own": status.own},
            )  # fmt: skip
            await cases.open_case(
                session, clock, catalog, community_id=community.id,
                kind=CaseKind.GATE_MONITORED, urgent=True, household_id=home,
                compound_id=info.compound.id, subject_id=person.id,
                reporter_id=by.id if by else None, details=summary,
                dedup_key=f"gate_monitored:{entry.id}", actor=by,
            )  # fmt: skip
            opened.append(CaseKind.GATE_MONITORED)
        if status is not None:
            await audit.record(
                session, at=clock.now(), actor=by, action="gate.monitored",
                entity="gate_entry", entity_id=entry.id,
                details={"category": status.category, "forbidden": status.forbidden},
            )  # fmt: skip
    return entry, opened


async def _lives_in(session: AsyncSession, person: Person, compound_id: int) -> bool:
    if person.household_id is None:
        return False
    found = await session.scalar(
        select(Building.compound_id)
        .join(Unit, Unit.building_id == Building.id)
        .join(Household, Household.unit_id == Unit.id)
        .where(Household.id == person.household_id)
    )
    return found == compound_id


def _risk_summary(
    catalog: Catalog, community: Community, area: Any, who: str, where: str
) -> dict[str, Any]:
    """The gate-risk case's summary, shown in the reader's language: the area by its
    place code when the gazetteer knows it, else by the name it was listed with."""
    known = area.place_code and Gazetteer.load().full_name(area.place_code, community.locale)
    return case_text.summary_details(
        catalog, community.locale, "gate.case_risk_summary",
        {"who": who, "where": where,
         "place": case_text.place(area.place_code) if known else area.place_name,
         "level": case_text.label(f"reports.level_{area.level}")},
    )  # fmt: skip
