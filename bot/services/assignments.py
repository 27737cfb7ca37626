"""Assignment lists (R-CAT): the lists of people to monitor the CDC or the street office
send every day, as CSV or XLSX. Parsed, matched to the register by phone and address,
kept as an `ImportBatch` for the officer's review, and only then applied: matched
people start monitoring, unresolved ones become cases for the grid worker.

Columns (Chinese or English headers, any order): 姓名/name, 电话/phone, 身份证后四位/
id_tail (optional), 地址/address, 类别/category, 开始日期/start, 来源/source.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import (
    Building,
    CaseKind,
    Community,
    Compound,
    Household,
    ImportBatch,
    Person,
    Unit,
)
from bot.parsing import ParseError, parse_date
from bot.services import audit, case_text, monitoring
from bot.services.cases import open_case
from bot.services.directory import fold_address
from bot.services.errors import DomainError, NotFound
from messages import Catalog

MAX_ROWS = 2000
MAX_BYTES = 2 * 1024 * 1024
HEADERS = {
    "name": ("姓名", "name", "名字"),
    "phone": ("电话", "手机", "手机号", "联系电话", "phone", "mobile"),
    "id_tail": ("身份证后四位", "身份证尾号", "证件后四位", "id_tail", "id"),
    "address": ("地址", "住址", "现住址", "address"),
    "category": ("类别", "管控类别", "监测类别", "category"),
    "start": ("开始日期", "起始日期", "开始", "start", "start_date"),
    "source": ("来源", "source"),
}
MATCHED, AMBIGUOUS, NOT_FOUND, INVALID = "matched", "ambiguous", "not_found", "invalid"


_norm = fold_address


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")[-11:]


def read_table(filename: str, content: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8 or GB18030) or XLSX file keyed by our column names."""
    if len(content) > MAX_BYTES:
        raise DomainError("imports.too_big")
    lower = filename.lower()
    table: list[list[str]]
    if lower.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:
            raise DomainError("imports.unreadable") from exc
        sheet = book.worksheets[0]
        table = [
            ["" if v is None else (v.isoformat()[:10] if hasattr(v, "isoformat") else str(v))
             for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]  # fmt: skip
    elif lower.endswith((".csv", ".txt")):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise DomainError("imports.unreadable")
        table = list(csv.reader(io.StringIO(text)))
    else:
        raise DomainError("imports.bad_type")
    table = [r for r in table if any(c.strip() for c in r)]
    if not table:
        raise DomainError("imports.empty")
    header = [_norm(c) for c in table[0]]
    columns: dict[str, int] = {}
    for field, names in HEADERS.items():
        for i, h in enumerate(header):
            if h in {_norm(n) for n in names}:
                columns.setdefault(field, i)
    if "name" not in columns or "address" not in columns:
        raise DomainError("imports.no_header")
    rows = []
    for raw in table[1 : MAX_ROWS + 1]:
        rows.append({f: (raw[i].strip() if i < len(raw) else "") for f, i in columns.items()})
    if len(table) - 1 > MAX_ROWS:
        raise DomainError("imports.too_many", max=MAX_ROWS)
    return rows


@dataclass
class _Register:
    """The community's households as address keys, and its people by phone."""

    households: list[tuple[int, str, str, str, str, int | None]]  # id, c, b, u, r, grid
    by_phone: dict[str, list[tuple[int, int | None]]]
    names: dict[int, list[tuple[int, str]]]  # household -> (person id, name)
    buildings: list[tuple[int, str, str, int]]  # building id, compound, building, compound id


async def _register(session: AsyncSession, community_id: int) -> _Register:
    rows = await session.execute(
        select(Household.id, Compound.name, Building.name, Unit.name, Household.room,
               Building.grid_id)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(Compound.community_id == community_id)
    )  # fmt: skip
    households = [(h, _norm(c), _norm(b), _norm(u), _norm(r), g) for h, c, b, u, r, g in rows]
    ids = [h[0] for h in households]
    by_phone: dict[str, list[tuple[int, int | None]]] = {}
    names: dict[int, list[tuple[int, str]]] = {}
    for start in range(0, len(ids), 5000):
        for pid, hid, name, phone in await session.execute(
            select(Person.id, Person.household_id, Person.name, Person.phone).where(
                Person.household_id.in_(ids[start : start + 5000])
            )
        ):
            if phone and _digits(phone):
                by_phone.setdefault(_digits(phone), []).append((pid, hid))
            if hid is not None:
                names.setdefault(hid, []).append((pid, name))
    buildings = [
        (b, _norm(c), _norm(bn), cid)
        for b, c, bn, cid in await session.execute(
            select(Building.id, Compound.name, Building.name, Compound.id)
            .join(Compound, Compound.id == Building.compound_id)
            .where(Compound.community_id == community_id)
        )
    ]
    return _Register(households, by_phone, names, buildings)


def _address_matches(register: _Register, address: str) -> list[int]:
    """Households whose compound, building, (unit,) room the address names in order;
    a missing unit matches every unit of the building (and may be ambiguous)."""
    text = _norm(address)
    found = []
    for hid, c, b, u, r, _ in register.households:
        at = text.find(c)
        if at < 0:
            continue
        rest = text[at + len(c) :]
        if not rest.startswith(b):
            continue
        rest = rest[len(b) :]
        if rest.startswith(u):
            rest = rest[len(u) :]
        if rest == r:
            found.append(hid)
    return found


def _building_of(register: _Register, address: str) -> tuple[int | None, int | None]:
    """The building (and compound) an unmatched address names, to route its case."""
    text = _norm(address)
    compound_id = None
    for bid, c, b, cid in register.buildings:
        at = text.find(c)
        if at >= 0:
            compound_id = cid
            if text[at + len(c) :].startswith(b):
                return cid, bid
    return compound_id, None


def match_rows(
    register: _Register, rows: list[dict[str, str]], community: Community, today: date
) -> list[dict[str, Any]]:
    matched: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        out: dict[str, Any] = {"n": index + 1, **row, "status": INVALID, "candidates": []}
        category = monitoring.parse_category(row.get("category", "") or "居家隔离")
        try:
            start = parse_date(row["start"], today) if row.get("start") else today
        except ParseError:
            start = None
        if not row.get("name") or category is None or start is None:
            matched.append(out)
            continue
        out["category"], out["start"] = category, start.isoformat()
        households = _address_matches(register, row.get("address", ""))
        phone = _digits(row.get("phone", ""))
        by_phone = register.by_phone.get(phone, []) if len(phone) >= 7 else []
        if by_phone and (not households or by_phone[0][1] in households) and len(by_phone) == 1:
            out.update(status=MATCHED, person_id=by_phone[0][0], household_id=by_phone[0][1])
        elif len(households) == 1:
            hid = households[0]
            same = [pid for pid, name in register.names.get(hid, []) if name == row["name"]]
            out.update(status=MATCHED, household_id=hid, person_id=same[0] if same else None)
        elif households:
            out.update(status=AMBIGUOUS, candidates=households)
        else:
            compound_id, building_id = _building_of(register, row.get("address", ""))
            out.update(status=NOT_FOUND, compound_id=compound_id, building_id=building_id)
        matched.append(out)
    return matched


async def create_batch(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    filename: str,
    content: bytes,
    actor: Person,
) -> ImportBatch:
    rows = read_table(filename, content)
    register = await _register(session, community.id)
    today = local_today(clock, community.timezone)
    batch = ImportBatch(
        community_id=community.id, created_by_id=actor.id, filename=filename[:200],
        rows=match_rows(register, rows, community, today), status="review",
        created_at=clock.now(),
    )  # fmt: skip
    session.add(batch)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=actor, action="imports.create", entity="import_batch",
        entity_id=batch.id, details={"file": filename[:200], "rows": len(rows)},
    )  # fmt: skip
    return batch


def counts(batch: ImportBatch) -> dict[str, int]:
    found = {MATCHED: 0, AMBIGUOUS: 0, NOT_FOUND: 0, INVALID: 0}
    for row in batch.rows:
        found[row["status"]] = found.get(row["status"], 0) + 1
    return found


async def batch_for(session: AsyncSession, batch_id: int, community_id: int) -> ImportBatch:
    batch = await session.get(ImportBatch, batch_id)
    if batch is None or batch.community_id != community_id:
        raise NotFound("imports.not_found")
    if batch.status != "review":
        raise DomainError("imports.done_already")
    return batch


async def addresses(session: AsyncSession, household_ids: list[int]) -> dict[int, str]:
    rows = await session.execute(
        select(Household.id, Compound.name, Building.name, Unit.name, Household.room)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(Household.id.in_(household_ids))
    )
    return {h: f"{c} {b} {u} {r}" for h, c, b, u, r in rows}


async def resolve_row(
    session: AsyncSession, clock: Clock, *, batch: ImportBatch, row: int, pick: int, actor: Person
) -> dict[str, Any]:
    """The officer picks the household of an ambiguous row (pick = candidate index)."""
    rows = [dict(r) for r in batch.rows]
    if not 1 <= row <= len(rows) or rows[row - 1]["status"] != AMBIGUOUS:
        raise DomainError("common.button_expired")
    entry = rows[row - 1]
    if not 0 <= pick < len(entry["candidates"]):
        raise DomainError("common.button_expired")
    entry.update(status=MATCHED, household_id=entry["candidates"][pick], person_id=None)
    batch.rows = rows
    await audit.record(
        session, at=clock.now(), actor=actor, action="imports.resolve", entity="import_batch",
        entity_id=batch.id, details={"row": row, "household_id": entry["household_id"]},
    )  # fmt: skip
    return entry


@dataclass
class Applied:
    started: int = 0
    changed: int = 0
    skipped: int = 0
    cases: int = 0


async def apply_batch(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, batch: ImportBatch, actor: Person
) -> Applied:
    """Start monitoring for every matched row (a new member without Telegram when the
    household has nobody of that name); every ambiguous or unknown row becomes a case
    for the grid worker. Applied once: the batch is then closed."""
    community = await session.get(Community, batch.community_id)
    assert community is not None
    result = Applied()
    source = f"import:{batch.id}"
    for row in batch.rows:
        if row["status"] == MATCHED:
            person = await session.get(Person, row["person_id"]) if row.get("person_id") else None
            if person is None:
                person = Person(
                    household_id=row["household_id"], name=row["name"][:80],
                    phone=row.get("phone") or None, relation="assigned", created_at=clock.now(),
                )  # fmt: skip
                session.add(person)
                await session.flush()
            try:
                outcome = await monitoring.start(
                    session, clock, catalog, community=community, person=person,
                    category=row["category"], start_date=date.fromisoformat(row["start"]),
                    reason=row.get("source") or batch.filename, actor=actor, source=source,
                )  # fmt: skip
            except DomainError:
                result.skipped += 1
                continue
            if outcome.action == "start":
                result.started += 1
            else:
                result.changed += 1
        elif row["status"] in (AMBIGUOUS, NOT_FOUND):
            key = "imports.case_ambiguous" if row["status"] == AMBIGUOUS else "imports.case_unknown"
            candidates = await addresses(session, list(row.get("candidates", [])))
            summary = case_text.summary_details(
                catalog, community.locale, key,
                {"name": row["name"], "phone": row.get("phone", ""),
                 "address": row.get("address", ""),
                 "category": case_text.label(f"monitoring.category_{row['category']}"),
                 "candidates": list(candidates.values()), "source": row.get("source", "")},
            )  # fmt: skip
            await open_case(
                session, clock, catalog, community_id=community.id,
                kind=CaseKind.NOT_IN_REGISTER, urgent=False,
                household_id=None, compound_id=row.get("compound_id"),
                building_id=row.get("building_id") or await _building_of_household(
                    session, next(iter(row.get("candidates", [])), None)),
                details=summary, dedup_key=f"import:{batch.id}:{row['n']}",
                actor=actor,
            )  # fmt: skip
            result.cases += 1
        else:
            result.skipped += 1
    batch.status = "applied"
    batch.applied_at = clock.now()
    await audit.record(
        session, at=clock.now(), actor=actor, action="imports.apply", entity="import_batch",
        entity_id=batch.id,
        details={"started": result.started, "changed": result.changed, "cases": result.cases},
    )  # fmt: skip
    return result


async def _building_of_household(session: AsyncSession, household_id: int | None) -> int | None:
    if household_id is None:
        return None
    return await session.scalar(
        select(Unit.building_id)
        .join(Household, Household.unit_id == Unit.id)
        .where(Household.id == household_id)
    )
