"""The daily ledger (R-LED): a period's reports, isolations and check-ins, gate entries
and cases as one XLSX workbook and a ZIP of CSV files (one per sheet).

Rows are streamed from the database in chunks (`yield_per`) and written as they come
by a small streaming XLSX writer (bot/xlsx.py) and the CSV writers, which keep only the
current chunk in memory, so a ledger of 100,000 rows does not fill memory. Formatting
and writing a chunk runs in a worker thread, so the event loop keeps answering
residents meanwhile. Every row names who entered it. `_row_formatter` is the one place
where cell values are produced (both files get the same values).
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.db.models import (
    Building,
    CareFlag,
    Case,
    CheckIn,
    Community,
    Compound,
    Gate,
    GateEntry,
    Household,
    Isolation,
    Person,
    PlaceStatus,
    Report,
    Round,
    RoundPerson,
    ScreeningVisit,
    ScreeningVisitPerson,
    SupplyRequest,
    Unit,
)
from bot.places import Gazetteer
from bot.services import audit
from bot.services.directory import address_key
from bot.services.export_safety import csv_rows
from bot.services.staffscope import utc_bounds
from bot.xlsx import Sheet, Workbook

CHUNK = 250
SHEETS: tuple[str, ...] = (
    "reports", "checkins", "gate_entries", "cases", "statuses", "supplies", "care",
    "test_rounds", "screening",
)  # fmt: skip
# Sheets whose headers and title live with their feature (a key with a dot is used as is).
SHEET_TITLES: dict[str, str] = {
    "test_rounds": "rounds.sheet_rounds",
    "screening": "rounds.sheet_screening",
}


@dataclass(frozen=True)
class Column:
    key: str
    width: int


COLUMNS: dict[str, tuple[Column, ...]] = {
    "reports": (
        Column("id", 8), Column("time", 18), Column("kind", 10), Column("compound", 14),
        Column("address", 22), Column("subject", 12), Column("origin", 10),
        Column("arrival", 12), Column("risk", 8), Column("entered_by", 14),
    ),
    "checkins": (
        Column("isolation_id", 8), Column("person", 12), Column("address", 22),
        Column("start", 12), Column("end", 12), Column("isolation_status", 12),
        Column("day", 12), Column("day_number", 6), Column("checkin_status", 10),
        Column("temperature", 8), Column("symptoms", 16), Column("entered_by", 14),
    ),
    "gate_entries": (
        Column("id", 8), Column("time", 18), Column("compound", 14), Column("gate", 12),
        Column("direction", 8), Column("subject_kind", 10), Column("name", 14),
        Column("address", 22), Column("origin", 10), Column("plate", 10),
        Column("temperature", 8), Column("entered_by", 14),
    ),
    "cases": (
        Column("id", 8), Column("time", 18), Column("kind", 14), Column("urgent", 6),
        Column("status", 10), Column("compound", 14), Column("address", 22),
        Column("subject", 12), Column("summary", 40), Column("entered_by", 14),
    ),
    "statuses": (
        Column("id", 8), Column("compound", 14), Column("place", 22), Column("level", 8),
        Column("start", 18), Column("planned_end", 12), Column("ended", 18),
        Column("entered_by", 14), Column("ended_by", 14),
    ),
    "supplies": (
        Column("id", 8), Column("time", 18), Column("compound", 14), Column("address", 22),
        Column("kind", 10), Column("detail", 30), Column("urgent", 6), Column("status", 10),
        Column("volunteer", 12), Column("delivered", 18), Column("confirmed", 18),
        Column("entered_by", 14),
    ),
    "care": (
        Column("id", 8), Column("person", 12), Column("compound", 14), Column("address", 22),
        Column("phone", 14), Column("kind", 12), Column("detail", 30), Column("start", 18),
        Column("ended", 18), Column("entered_by", 14),
    ),
    "test_rounds": (
        Column("rounds.col_round", 8), Column("rounds.col_day", 12), Column("compound", 14),
        Column("address", 22), Column("rounds.col_person", 12),
        Column("rounds.col_status", 10), Column("rounds.col_method", 10),
        Column("rounds.col_door", 6), Column("time", 18), Column("rounds.col_note", 20),
        Column("entered_by", 14),
    ),
    "screening": (
        Column("id", 8), Column("time", 18), Column("compound", 14), Column("address", 22),
        Column("rounds.col_outcome", 10), Column("rounds.col_people", 40),
        Column("rounds.col_fever", 6), Column("rounds.col_note", 20), Column("entered_by", 14),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class LedgerRequest:
    community: Community
    first: date
    last: date
    compound: Compound | None = None


@dataclass
class LedgerFiles:
    xlsx: Path
    csv_zip: Path
    counts: dict[str, int] = field(default_factory=dict)


Label = Callable[..., str]


def _address(compound: str | None, building: str | None, unit: str | None, room: str | None) -> str:
    return " ".join(p for p in (building, unit, room) if p) if room else ""


class _Rows:
    """Formats values of one community's time zone and vocabulary."""

    def __init__(self, tz: str, label: Label) -> None:
        self.zone = ZoneInfo(tz)
        self._label = label
        # Rendering a template per cell is slow; the vocabulary is small, so cache it.
        self._cache: dict[str, str] = {}
        # The people seen at each screening visit of the period (visit id -> rows).
        self.visit_people: dict[int, list[Any]] = {}
        self.locale = str(getattr(label, "locale", "zh-CN"))
        self._places: dict[str, str] = {}

    def label(self, key: str, **params: Any) -> str:
        if params:
            return self._label(key, **params)
        if key not in self._cache:
            self._cache[key] = self._label(key)
        return self._cache[key]

    def time(self, value: datetime | None) -> str:
        return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if value else ""

    def place(self, code: str | None) -> str:
        """A gazetteer code as the place's name in the reader's language."""
        if not code:
            return ""
        if code not in self._places:
            self._places[code] = Gazetteer.load().full_name(code, self.locale) or code
        return self._places[code]

    def risk(self, level: str | None) -> str:
        return self.label(f"ledger.risk_{level}") if level else ""

    @staticmethod
    def day(value: date | None) -> str:
        return value.isoformat() if value else ""


def _located(stmt: Any, household_column: Any) -> Any:
    return (
        stmt.outerjoin(Household, household_column == Household.id)
        .outerjoin(Unit, Household.unit_id == Unit.id)
        .outerjoin(Building, Unit.building_id == Building.id)
        .outerjoin(Compound, Building.compound_id == Compound.id)
    )


def _reports_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    subject, reporter = aliased(Person), aliased(Person)
    stmt: Any = select(
        Report.id, Report.created_at, Report.kind, Compound.name, Building.name, Unit.name,
        Household.room, subject.name, Report.origin_code, Report.arrival_date,
        Report.risk_level, reporter.name, Report.anonymous,
    ).select_from(Report)  # fmt: skip
    stmt = _located(stmt, Report.household_id)
    stmt = stmt.outerjoin(subject, Report.subject_id == subject.id).outerjoin(
        reporter, Report.reporter_id == reporter.id
    )
    stmt = stmt.where(
        Report.community_id == req.community.id, Report.created_at >= start, Report.created_at < end
    )
    if req.compound is not None:
        stmt = stmt.where(Building.compound_id == req.compound.id)
    return stmt.order_by(Report.created_at, Report.id)


def _checkins_query(req: LedgerRequest) -> Any:
    person, answered = aliased(Person), aliased(Person)
    stmt: Any = (
        select(
            Isolation.id,
            person.name,
            Compound.name,
            Building.name,
            Unit.name,
            Household.room,
            Isolation.start_date,
            Isolation.end_date,
            Isolation.status,
            CheckIn.day,
            CheckIn.day_number,
            CheckIn.status,
            CheckIn.temperature,
            CheckIn.symptoms,
            answered.name,
        )
        .select_from(CheckIn)
        .join(Isolation, CheckIn.isolation_id == Isolation.id)
        .join(person, Isolation.person_id == person.id)
    )
    stmt = _located(stmt, person.household_id)
    stmt = stmt.outerjoin(answered, CheckIn.answered_by_id == answered.id).where(
        Isolation.community_id == req.community.id,
        CheckIn.day >= req.first,
        CheckIn.day <= req.last,
    )
    if req.compound is not None:
        stmt = stmt.where(Building.compound_id == req.compound.id)
    return stmt.order_by(CheckIn.day, Isolation.id)


def _gate_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    recorder = aliased(Person)
    entry_compound = aliased(Compound)
    stmt: Any = select(
        GateEntry.id, GateEntry.at, entry_compound.name, Gate.name, GateEntry.direction,
        GateEntry.subject_kind, GateEntry.name, Building.name, Unit.name, Household.room,
        GateEntry.origin_code, GateEntry.plate, GateEntry.temperature, recorder.name,
        GateEntry.self_recorded,
    ).select_from(GateEntry)  # fmt: skip
    stmt = (
        stmt.join(entry_compound, GateEntry.compound_id == entry_compound.id)
        .outerjoin(Gate, GateEntry.gate_id == Gate.id)
        .outerjoin(Household, GateEntry.household_id == Household.id)
        .outerjoin(Unit, Household.unit_id == Unit.id)
        .outerjoin(Building, Unit.building_id == Building.id)
        .outerjoin(recorder, GateEntry.recorded_by_id == recorder.id)
        .where(
            entry_compound.community_id == req.community.id,
            GateEntry.at >= start,
            GateEntry.at < end,
        )
    )
    if req.compound is not None:
        stmt = stmt.where(GateEntry.compound_id == req.compound.id)
    return stmt.order_by(GateEntry.at, GateEntry.id)


def _cases_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    subject, reporter = aliased(Person), aliased(Person)
    stmt: Any = select(
        Case.id, Case.created_at, Case.kind, Case.urgent, Case.status, Compound.name,
        Building.name, Unit.name, Household.room, subject.name, Case.details, reporter.name,
    ).select_from(Case)  # fmt: skip
    stmt = (
        stmt.outerjoin(Compound, Case.compound_id == Compound.id)
        .outerjoin(Household, Case.household_id == Household.id)
        .outerjoin(Unit, Household.unit_id == Unit.id)
        .outerjoin(Building, Unit.building_id == Building.id)
        .outerjoin(subject, Case.subject_id == subject.id)
        .outerjoin(reporter, Case.reporter_id == reporter.id)
        .where(
            Case.community_id == req.community.id, Case.created_at >= start, Case.created_at < end
        )
    )
    if req.compound is not None:
        stmt = stmt.where(Case.compound_id == req.compound.id)
    return stmt.order_by(Case.created_at, Case.id)


def _statuses_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    """Statuses in force at any time of the period (R-SEAL history)."""
    setter, ender = aliased(Person), aliased(Person)
    stmt: Any = (
        select(
            PlaceStatus.id, Compound.name, Building.name, Unit.name, PlaceStatus.level,
            PlaceStatus.starts_at, PlaceStatus.planned_end, PlaceStatus.ended_at,
            setter.name, ender.name,
        )
        .select_from(PlaceStatus)
        .join(Compound, PlaceStatus.compound_id == Compound.id)
        .outerjoin(Building, PlaceStatus.building_id == Building.id)
        .outerjoin(Unit, PlaceStatus.unit_id == Unit.id)
        .outerjoin(setter, PlaceStatus.set_by_id == setter.id)
        .outerjoin(ender, PlaceStatus.ended_by_id == ender.id)
        .where(
            PlaceStatus.community_id == req.community.id,
            PlaceStatus.starts_at < end,
            or_(PlaceStatus.ended_at.is_(None), PlaceStatus.ended_at >= start),
        )
    )  # fmt: skip
    if req.compound is not None:
        stmt = stmt.where(PlaceStatus.compound_id == req.compound.id)
    return stmt.order_by(PlaceStatus.starts_at, PlaceStatus.id)


def _supplies_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    requester, volunteer = aliased(Person), aliased(Person)
    stmt: Any = select(
        SupplyRequest.id, SupplyRequest.created_at, Compound.name, Building.name, Unit.name,
        Household.room, SupplyRequest.kind, SupplyRequest.detail, SupplyRequest.urgent,
        SupplyRequest.status, volunteer.name, SupplyRequest.delivered_at,
        SupplyRequest.confirmed_at, requester.name,
    ).select_from(SupplyRequest)  # fmt: skip
    stmt = _located(stmt, SupplyRequest.household_id)
    stmt = (
        stmt.outerjoin(requester, SupplyRequest.requester_id == requester.id)
        .outerjoin(volunteer, SupplyRequest.volunteer_id == volunteer.id)
        .where(
            SupplyRequest.community_id == req.community.id,
            SupplyRequest.created_at >= start,
            SupplyRequest.created_at < end,
        )
    )
    if req.compound is not None:
        stmt = stmt.where(Building.compound_id == req.compound.id)
    return stmt.order_by(SupplyRequest.created_at, SupplyRequest.id)


def _care_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    """Care flags in force at any time of the period (R-CARE; officers only)."""
    person, setter = aliased(Person), aliased(Person)
    stmt: Any = select(
        CareFlag.id, person.name, Compound.name, Building.name, Unit.name, Household.room,
        person.phone, CareFlag.kind, CareFlag.detail, CareFlag.created_at, CareFlag.removed_at,
        setter.name,
    ).select_from(CareFlag).join(person, CareFlag.person_id == person.id)  # fmt: skip
    stmt = _located(stmt, person.household_id)
    stmt = stmt.outerjoin(setter, CareFlag.set_by_id == setter.id).where(
        Compound.community_id == req.community.id,
        CareFlag.created_at < end,
        or_(CareFlag.removed_at.is_(None), CareFlag.removed_at >= start),
    )
    if req.compound is not None:
        stmt = stmt.where(Building.compound_id == req.compound.id)
    # Ordered by address as people count places in `_partitions` (few rows).
    return stmt


def _rounds_query(req: LedgerRequest) -> Any:
    person, marker = aliased(Person), aliased(Person)
    stmt: Any = select(
        Round.id, Round.day, Compound.name, Building.name, Unit.name, Household.room,
        person.name, RoundPerson.status, RoundPerson.method, RoundPerson.door_to_door,
        RoundPerson.marked_at, RoundPerson.note, marker.name,
    ).select_from(RoundPerson)  # fmt: skip
    stmt = stmt.join(Round, RoundPerson.round_id == Round.id).join(
        person, RoundPerson.person_id == person.id
    )
    stmt = _located(stmt, RoundPerson.household_id)
    stmt = stmt.outerjoin(marker, RoundPerson.marked_by_id == marker.id).where(
        Round.community_id == req.community.id, Round.day >= req.first, Round.day <= req.last
    )
    if req.compound is not None:
        stmt = stmt.where(Building.compound_id == req.compound.id)
    return stmt.order_by(
        Round.day, Round.id, Compound.name, Building.name, Unit.name, Household.room, person.id
    )


def _screening_query(req: LedgerRequest, start: datetime, end: datetime) -> Any:
    by = aliased(Person)
    stmt: Any = select(
        ScreeningVisit.id, ScreeningVisit.at, Compound.name, Building.name, Unit.name,
        Household.room, ScreeningVisit.outcome, ScreeningVisit.id, ScreeningVisit.fever_found,
        ScreeningVisit.note, by.name, ScreeningVisit.self_reported,
    ).select_from(ScreeningVisit)  # fmt: skip
    stmt = _located(stmt, ScreeningVisit.household_id)
    stmt = stmt.outerjoin(by, ScreeningVisit.by_id == by.id).where(
        Compound.community_id == req.community.id,
        ScreeningVisit.at >= start,
        ScreeningVisit.at < end,
    )
    if req.compound is not None:
        stmt = stmt.where(Building.compound_id == req.compound.id)
    return stmt.order_by(ScreeningVisit.at, ScreeningVisit.id)


async def _visit_people(
    session: AsyncSession, start: datetime, end: datetime
) -> dict[int, list[Any]]:
    """The people recorded at the period's visits (read before the visits are streamed)."""
    found: dict[int, list[Any]] = {}
    visits = select(ScreeningVisit.id).where(ScreeningVisit.at >= start, ScreeningVisit.at < end)
    rows = await session.execute(
        select(
            ScreeningVisitPerson.visit_id, ScreeningVisitPerson.name,
            ScreeningVisitPerson.status, ScreeningVisitPerson.temperature,
            ScreeningVisitPerson.fever,
        )
        .where(ScreeningVisitPerson.visit_id.in_(visits))
        .order_by(ScreeningVisitPerson.id)
    )  # fmt: skip
    for visit_id, *rest in rows:
        found.setdefault(visit_id, []).append(rest)
    return found


def _row_formatter(sheet: str, fmt: _Rows) -> Callable[[Sequence[Any]], list[Any]]:
    label = fmt.label
    system = label("ledger.by_system")
    anonymous = label("ledger.by_anonymous")

    def reports(r: Sequence[Any]) -> list[Any]:
        by = anonymous if r[12] else (r[11] or system)
        return [
            r[0], fmt.time(r[1]), label(f"ledger.kind_{r[2]}"), r[3] or "",
            _address(r[3], r[4], r[5], r[6]), r[7] or "", fmt.place(r[8]), fmt.day(r[9]),
            fmt.risk(r[10]), by,
        ]  # fmt: skip

    def checkins(r: Sequence[Any]) -> list[Any]:
        return [
            r[0], r[1], _address(r[2], r[3], r[4], r[5]), fmt.day(r[6]), fmt.day(r[7]),
            label(f"ledger.isolation_{r[8]}"), fmt.day(r[9]), r[10],
            label(f"ledger.checkin_{r[11]}"), float(r[12]) if r[12] is not None else "",
            ", ".join(r[13] or []), r[14] or ("" if r[11] != "answered" else system),
        ]  # fmt: skip

    def gate(r: Sequence[Any]) -> list[Any]:
        by = r[13] or system
        if r[14]:
            by = label("ledger.self_recorded", name=by)
        return [
            r[0], fmt.time(r[1]), r[2], r[3] or "", label(f"ledger.direction_{r[4]}"),
            label(f"ledger.subject_{r[5]}"), r[6] or "", _address(None, r[7], r[8], r[9]),
            fmt.place(r[10]), r[11] or "", float(r[12]) if r[12] is not None else "", by,
        ]  # fmt: skip

    def cases(r: Sequence[Any]) -> list[Any]:
        details = r[10] or {}
        return [
            r[0], fmt.time(r[1]), label(f"cases.kind_{r[2]}"), "✔" if r[3] else "",
            label(f"cases.status_{r[4]}"), r[5] or "", _address(r[5], r[6], r[7], r[8]),
            r[9] or "", str(details.get("summary", "")), r[11] or system,
        ]  # fmt: skip

    def statuses(r: Sequence[Any]) -> list[Any]:
        return [
            r[0], r[1], " ".join(p for p in (r[1], r[2], r[3]) if p),
            label(f"seal.level_{r[4]}"), fmt.time(r[5]), fmt.day(r[6]), fmt.time(r[7]),
            r[8] or system, r[9] or ("" if r[7] is None else system),
        ]  # fmt: skip

    def supplies(r: Sequence[Any]) -> list[Any]:
        return [
            r[0], fmt.time(r[1]), r[2] or "", _address(r[2], r[3], r[4], r[5]),
            label(f"ledger.supply_{r[6]}"), r[7] or "", "✔" if r[8] else "",
            label(f"ledger.supply_status_{r[9]}"), r[10] or "", fmt.time(r[11]),
            fmt.time(r[12]), r[13] or system,
        ]  # fmt: skip

    def care(r: Sequence[Any]) -> list[Any]:
        return [
            r[0], r[1], r[2] or "", _address(r[2], r[3], r[4], r[5]), r[6] or "",
            label(f"care.kind_{r[7]}"), r[8] or "", fmt.time(r[9]), fmt.time(r[10]),
            r[11] or system,
        ]  # fmt: skip

    def test_rounds(r: Sequence[Any]) -> list[Any]:
        return [
            r[0], fmt.day(r[1]), r[2] or "", _address(r[2], r[3], r[4], r[5]), r[6] or "",
            label(f"rounds.person_{r[7]}"), label(f"rounds.method_{r[8]}") if r[8] else "",
            "✔" if r[9] else "", fmt.time(r[10]), r[11] or "",
            (r[12] or system) if r[10] else "",
        ]  # fmt: skip

    def screening(r: Sequence[Any]) -> list[Any]:
        by = r[10] or system
        if r[11]:
            by = label("ledger.self_recorded", name=by)
        people = "; ".join(
            " ".join(
                str(x) for x in (
                    name, label(f"coverage.person_{status}"),
                    f"{float(temp):.1f}" if temp is not None else "",
                    label("coverage.fever_mark") if fever else "",
                ) if x
            )
            for name, status, temp, fever in fmt.visit_people.get(r[7], [])
        )  # fmt: skip
        return [
            r[0], fmt.time(r[1]), r[2] or "", _address(r[2], r[3], r[4], r[5]),
            label(f"coverage.outcome_{r[6]}"), people, "✔" if r[8] else "", r[9] or "", by,
        ]  # fmt: skip

    return {
        "care": care,
        "supplies": supplies,
        "reports": reports, "checkins": checkins, "gate_entries": gate, "cases": cases,
        "statuses": statuses,
        "test_rounds": test_rounds,
        "screening": screening,
    }[sheet]  # fmt: skip


def _query(sheet: str, req: LedgerRequest, start: datetime, end: datetime) -> Any:
    if sheet == "reports":
        return _reports_query(req, start, end)
    if sheet == "checkins":
        return _checkins_query(req)
    if sheet == "gate_entries":
        return _gate_query(req, start, end)
    if sheet == "care":
        return _care_query(req, start, end)
    if sheet == "supplies":
        return _supplies_query(req, start, end)
    if sheet == "statuses":
        return _statuses_query(req, start, end)
    if sheet == "test_rounds":
        return _rounds_query(req)
    if sheet == "screening":
        return _screening_query(req, start, end)
    return _cases_query(req, start, end)


async def _partitions(session: AsyncSession, sheet: str, stmt: Any) -> AsyncIterator[Sequence[Any]]:
    """The rows of a sheet, CHUNK at a time: streamed from the database, except the care
    list, which is short and sorted here by address as people count places ("2栋"
    before "10栋"), an order SQL's text comparison cannot give."""
    if sheet != "care":
        result = await session.stream(stmt.execution_options(yield_per=CHUNK))
        async for partition in result.partitions(CHUNK):
            yield partition
        return
    rows = list((await session.execute(stmt)).all())
    rows.sort(key=lambda r: (address_key(r[2], r[3], r[4], r[5]), r[0]))
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def export_ledger(
    session: AsyncSession,
    clock: Clock,
    req: LedgerRequest,
    *,
    label: Label,
    directory: Path,
    actor: Person | None = None,
) -> LedgerFiles:
    """Write the ledger of `req` into `directory` as ledger-<dates>.xlsx and .csv.zip.

    `label(key, **params)` renders headers and values in the officer's language. The
    export is an officer action and is audited.
    """
    fmt = _Rows(req.community.timezone, label)
    start, end = utc_bounds(req.first, req.last, req.community.timezone)
    stem = f"ledger-{req.first.isoformat()}"
    if req.last != req.first:
        stem += f"--{req.last.isoformat()}"
    files = LedgerFiles(directory / f"{stem}.xlsx", directory / f"{stem}.csv.zip")
    with (
        Workbook(files.xlsx) as workbook,
        zipfile.ZipFile(files.csv_zip, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for sheet in SHEETS:
            columns = COLUMNS[sheet]
            headers = [label(c.key if "." in c.key else f"ledger.col_{c.key}") for c in columns]
            ws = workbook.sheet(
                label(SHEET_TITLES.get(sheet, f"ledger.sheet_{sheet}")), [c.width for c in columns]
            )
            ws.header(headers)
            row_of = _row_formatter(sheet, fmt)
            if sheet == "screening":
                fmt.visit_people = await _visit_people(session, start, end)
            count = 0
            with archive.open(f"{stem}-{sheet}.csv", "w") as raw:
                text_out = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                writer = csv.writer(text_out)
                writer.writerow(headers)

                def write(
                    partition: Sequence[Any],
                    row_of: Callable[[Sequence[Any]], list[Any]] = row_of,
                    ws: Sheet = ws,
                    writer: Any = writer,
                ) -> None:
                    values = [row_of(row) for row in partition]
                    # The XLSX writer stores every text as an inline string, never a
                    # formula; the CSV gets formula-like texts prefixed (export_safety).
                    ws.append_many(values)
                    writer.writerows(csv_rows(values))

                stmt = _query(sheet, req, start, end)
                # CPU-bound: in a thread, so other updates are answered meanwhile; and
                # one chunk behind the fetch, so the next chunk is read (the database
                # driver and zlib release the GIL) while this one is written.
                writing: asyncio.Future[None] | None = None
                try:
                    async for partition in _partitions(session, sheet, stmt):
                        if writing is not None:
                            await writing
                        writing = asyncio.ensure_future(asyncio.to_thread(write, partition))
                        count += len(partition)
                finally:
                    if writing is not None:
                        await writing
                text_out.flush()
                text_out.detach()
            workbook.close_sheet()
            files.counts[sheet] = count
        # Closing deflates the last blocks and writes the workbook parts: a thread too.
        await asyncio.to_thread(workbook.close)
    await audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="ledger.export",
        entity="community",
        entity_id=req.community.id,
        details={
            "first": req.first.isoformat(),
            "last": req.last.isoformat(),
            "compound_id": req.compound.id if req.compound else None,
            "rows": files.counts,
        },
    )
    return files
