"""The daily ledger (R-LED): a period's reports, isolations and check-ins, gate entries
and cases as one XLSX workbook and a ZIP of CSV files (one per sheet).

Rows are streamed from the database in chunks (`yield_per`) and written as they come:
openpyxl's write-only workbook and the CSV writers keep only the current row in memory,
so a ledger of 100,000 rows does not fill memory. Every row names who entered it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.db.models import (
    Building,
    Case,
    CheckIn,
    Community,
    Compound,
    Gate,
    GateEntry,
    Household,
    Isolation,
    Person,
    Report,
    Unit,
)
from bot.places import Gazetteer
from bot.services import audit
from bot.services.export_safety import csv_value, xlsx_value
from bot.services.staffscope import utc_bounds

CHUNK = 1000
SHEETS: tuple[str, ...] = ("reports", "checkins", "gate_entries", "cases")


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

    return {"reports": reports, "checkins": checkins, "gate_entries": gate, "cases": cases}[sheet]


def _xlsx_row(ws: Any, values: list[Any]) -> list[Any]:
    """The row for the write-only sheet: a text that a spreadsheet would read as a
    formula becomes an explicit text cell (export_safety)."""
    out: list[Any] = []
    for value in values:
        value, as_text = xlsx_value(value)
        if as_text:
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            out.append(cell)
        else:
            out.append(value)
    return out


def _query(sheet: str, req: LedgerRequest, start: datetime, end: datetime) -> Any:
    if sheet == "reports":
        return _reports_query(req, start, end)
    if sheet == "checkins":
        return _checkins_query(req)
    if sheet == "gate_entries":
        return _gate_query(req, start, end)
    return _cases_query(req, start, end)


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
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    with zipfile.ZipFile(files.csv_zip, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for sheet in SHEETS:
            columns = COLUMNS[sheet]
            headers = [label(f"ledger.col_{c.key}") for c in columns]
            ws = workbook.create_sheet(title=label(f"ledger.sheet_{sheet}"))
            for index, column in enumerate(columns, start=1):
                ws.column_dimensions[get_column_letter(index)].width = column.width
            ws.freeze_panes = "A2"
            header_cells = []
            for text in headers:
                cell = WriteOnlyCell(ws, value=text)
                cell.font = bold
                header_cells.append(cell)
            ws.append(header_cells)
            row_of = _row_formatter(sheet, fmt)
            count = 0
            with archive.open(f"{stem}-{sheet}.csv", "w") as raw:
                text_out = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                writer = csv.writer(text_out)
                writer.writerow(headers)
                stmt = _query(sheet, req, start, end).execution_options(yield_per=CHUNK)
                result = await session.stream(stmt)
                async for partition in result.partitions(CHUNK):
                    for row in partition:
                        values = row_of(row)
                        ws.append(_xlsx_row(ws, values))
                        writer.writerow([csv_value(v) for v in values])
                        count += 1
                    # Writing is CPU-bound: let other updates in between chunks.
                    await asyncio.sleep(0)
                text_out.flush()
                text_out.detach()
            ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{count + 1}"
            files.counts[sheet] = count
    workbook.save(files.xlsx)
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
