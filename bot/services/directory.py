"""The community's register: compounds, buildings, units, households (R-REG, setup)."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import (
    Building,
    Community,
    Compound,
    Grid,
    Household,
    Person,
    Role,
    ScopeType,
    Unit,
)
from bot.services import audit
from bot.services.identity import ensure_staff_person, grant_role

REQUIRED_COLUMNS = ("compound", "building", "unit", "room")
OPTIONAL_COLUMNS = ("grid", "property_managed", "property_company", "lead_unit")
_TRUE = {"1", "yes", "y", "true", "是", "有"}


class RegisterFileError(ValueError):
    """The register CSV is unusable; the message names the line (operator-facing CLI text)."""


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
#: A run of digits (ASCII or full-width) or of Chinese numerals ("十二", "一〇一").
_NUMBER = re.compile(r"(\d+|[零〇一二两三四五六七八九十百千]+)")


def _number(run: str) -> int:
    """The value of a run `_NUMBER` matched: "12", "１２", "十二", "二十", "一百零五", "一〇一"."""
    if run[0] not in _CN_DIGITS and run[0] not in _CN_UNITS:
        return int(run)
    if not any(c in _CN_UNITS for c in run):  # read digit by digit: 一〇一 = 101
        return int("".join(str(_CN_DIGITS[c]) for c in run))
    total, digit = 0, 0
    for c in run:
        if c in _CN_UNITS:
            total += (digit or 1) * _CN_UNITS[c]  # 十二: a bare 十 is 10
            digit = 0
        else:
            digit = _CN_DIGITS[c]
    return total + digit


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort as people expect of places: "2栋" before "10栋", "1-201" before "1-1001",
    "二单元" before "十单元" before "十一单元", "第二网格" before "第十网格". The parts
    alternate text and number (so keys of any two names compare), then the text itself
    breaks ties ("01" and "1")."""
    parts = _NUMBER.split(text)
    return (tuple(_number(p) if i % 2 else p for i, p in enumerate(parts)), text)


def fold_address(text: str) -> str:
    """An address, or a part of one, as addresses are compared: full-width forms and
    case folded, 号楼 and 幢 read as 栋, 号房 and 室 dropped, spaces and punctuation
    removed ("阳光花园 2号楼 1单元 301室" and "阳光花园2栋1单元301" are the same)."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    folded = folded.replace("号楼", "栋").replace("幢", "栋").replace("号房", "").replace("室", "")
    return re.sub(r"[\s\-_,，、.。#/]+", "", folded)


def address_key(*parts: str | None) -> tuple[Any, ...]:
    """`natural_key` of each part of an address (compound, building, unit, room; a
    missing part sorts first): lists of places sort as people count them."""
    return tuple(natural_key(part or "") for part in parts)


@dataclass(frozen=True)
class HouseholdPath:
    community: Community
    compound: Compound
    building: Building
    unit: Unit
    household: Household


@dataclass
class SetupResult:
    community: Community
    created: dict[str, int]
    admin: Person | None


def read_register_csv(path: Path) -> list[dict[str, str]]:
    """Read and check a register CSV (UTF-8, with or without BOM)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            return _register_rows(path, reader)
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072)
            raise RegisterFileError(f"{path}:{reader.line_num + 1}: {exc}") from None


def _register_rows(path: Path, reader: csv.DictReader[str]) -> list[dict[str, str]]:
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RegisterFileError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        row = {
            (k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None
        }
        for column in REQUIRED_COLUMNS:
            if not row.get(column):
                raise RegisterFileError(f"{path}:{line}: empty {column}")
            if len(row[column]) > 40:
                raise RegisterFileError(f"{path}:{line}: {column} longer than 40 characters")
        rows.append(row)
    if not rows:
        raise RegisterFileError(f"{path}: no rows")
    return rows


async def import_register(
    session: AsyncSession,
    clock: Clock,
    *,
    community_name: str,
    timezone: str,
    rows: Iterable[dict[str, str]],
    admin_telegram_id: int | None = None,
    admin_name: str = "Admin",
) -> SetupResult:
    """Create (or complete) a community from register rows; running it twice adds nothing."""
    now = clock.now()
    created = dict.fromkeys(
        ("community", "compounds", "grids", "buildings", "units", "households"), 0
    )
    community = await session.scalar(select(Community).where(Community.name == community_name))
    if community is None:
        community = Community(name=community_name, timezone=timezone, created_at=now)
        session.add(community)
        await session.flush()
        created["community"] = 1
    compounds = {
        c.name: c
        for c in await session.scalars(
            select(Compound).where(Compound.community_id == community.id)
        )
    }
    grids = {
        g.name: g
        for g in await session.scalars(select(Grid).where(Grid.community_id == community.id))
    }
    buildings: dict[tuple[int, str], Building] = {}
    units: dict[tuple[int, str], Unit] = {}
    households: dict[tuple[int, str], Household] = {}
    for row in rows:
        compound = compounds.get(row["compound"])
        if compound is None:
            managed = row.get("property_managed", "yes").lower() in _TRUE or not row.get(
                "property_managed"
            )
            compound = Compound(
                community_id=community.id,
                name=row["compound"],
                property_managed=managed,
                property_company=row.get("property_company") or None,
                lead_unit=row.get("lead_unit") or None,
            )
            session.add(compound)
            await session.flush()
            compounds[compound.name] = compound
            created["compounds"] += 1
        grid = None
        if row.get("grid"):
            grid = grids.get(row["grid"])
            if grid is None:
                grid = Grid(community_id=community.id, name=row["grid"])
                session.add(grid)
                await session.flush()
                grids[grid.name] = grid
                created["grids"] += 1
        building = await _get_or_create(
            session,
            buildings,
            Building,
            "compound_id",
            compound.id,
            row["building"],
            created,
            "buildings",
        )
        if grid is not None and building.grid_id is None:
            building.grid_id = grid.id
        unit = await _get_or_create(
            session, units, Unit, "building_id", building.id, row["unit"], created, "units"
        )
        await _get_or_create(
            session, households, Household, "unit_id", unit.id, row["room"], created, "households"
        )
    admin = None
    if admin_telegram_id is not None:
        admin = await ensure_staff_person(
            session, clock, telegram_user_id=admin_telegram_id, name=admin_name
        )
        await grant_role(
            session,
            clock,
            person=admin,
            role=Role.ADMIN,
            scope_type=ScopeType.COMMUNITY,
            scope_id=community.id,
            by=None,
        )
    await audit.record(
        session,
        at=now,
        action="register.import",
        entity="community",
        entity_id=community.id,
        details=created,
    )
    return SetupResult(community=community, created=created, admin=admin)


async def _get_or_create(
    session: AsyncSession,
    cache: dict[tuple[int, str], Any],
    model: type[Building] | type[Unit] | type[Household],
    parent_column: str,
    parent_id: int,
    name: str,
    created: dict[str, int],
    counter: str,
) -> Any:
    key = (parent_id, name)
    if key in cache:
        return cache[key]
    name_column = "room" if model is Household else "name"
    found = await session.scalar(
        select(model).where(
            getattr(model, parent_column) == parent_id, getattr(model, name_column) == name
        )
    )
    if found is None:
        found = model(**{parent_column: parent_id, name_column: name})
        session.add(found)
        await session.flush()
        created[counter] += 1
    cache[key] = found
    return found


async def list_communities(session: AsyncSession) -> Sequence[Community]:
    return (await session.scalars(select(Community).order_by(Community.id))).all()


async def list_compounds(session: AsyncSession, community_id: int | None = None) -> list[Compound]:
    query = select(Compound)
    if community_id is not None:
        query = query.where(Compound.community_id == community_id)
    found = list(await session.scalars(query))
    return sorted(found, key=lambda c: (c.community_id, natural_key(c.name)))


async def list_buildings(session: AsyncSession, compound_id: int) -> list[Building]:
    found = await session.scalars(select(Building).where(Building.compound_id == compound_id))
    return sorted(found, key=lambda b: natural_key(b.name))


async def list_units(session: AsyncSession, building_id: int) -> list[Unit]:
    found = await session.scalars(select(Unit).where(Unit.building_id == building_id))
    return sorted(found, key=lambda u: natural_key(u.name))


async def list_households(session: AsyncSession, unit_id: int) -> list[Household]:
    found = await session.scalars(select(Household).where(Household.unit_id == unit_id))
    return sorted(found, key=lambda h: natural_key(h.room))


async def household_path(session: AsyncSession, household_id: int) -> HouseholdPath | None:
    row = (
        await session.execute(
            select(Household, Unit, Building, Compound, Community)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
            .join(Community, Compound.community_id == Community.id)
            .where(Household.id == household_id)
        )
    ).one_or_none()
    if row is None:
        return None
    household, unit, building, compound, community = row
    return HouseholdPath(community, compound, building, unit, household)


async def household_members(session: AsyncSession, household_id: int) -> list[Person]:
    found = await session.scalars(
        select(Person).where(Person.household_id == household_id).order_by(Person.id)
    )
    return list(found)
