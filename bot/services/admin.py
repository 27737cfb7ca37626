"""Administration (R-ADM, R-RBAC): roles and their scopes, grids and their buildings,
compounds and their managers' contacts. Every change is audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Building, Compound, Grid, Person, Role, RoleGrant, ScopeType
from bot.parsing import ParseError, clean_text, parse_id, parse_phone
from bot.services import audit, directory
from bot.services.errors import DomainError
from bot.services.identity import ensure_staff_person, grant_role, placeholder_name, revoke_role

MAX_CSV_ROWS = 5000


@dataclass(frozen=True)
class RoleArgs:
    telegram_user_id: int
    role: Role
    scope_type: ScopeType
    scope_id: int
    scope_name: str


async def parse_role_args(session: AsyncSession, community_id: int, text: str) -> RoleArgs:
    """`<telegram_user_id> <role> [community | compound <name> | grid <name>]`."""
    words = text.split()
    if len(words) < 2 or not words[0].lstrip("-").isdigit():
        raise DomainError("admin.role_usage")
    user_id = parse_id(words[0])
    try:
        role = Role(words[1].lower())
    except ValueError as exc:
        raise DomainError("admin.role_unknown", role=words[1][:20]) from exc
    scope_word = words[2].lower() if len(words) > 2 else "community"
    name = " ".join(words[3:])
    if scope_word == "community" and not name:
        return RoleArgs(user_id, role, ScopeType.COMMUNITY, community_id, "")
    if scope_word == "compound" and name:
        compound = await _compound(session, community_id, name)
        return RoleArgs(user_id, role, ScopeType.COMPOUND, compound.id, compound.name)
    if scope_word == "grid" and name:
        grid = await session.scalar(
            select(Grid).where(Grid.community_id == community_id, Grid.name == name)
        )
        if grid is None:
            raise DomainError("admin.grid_unknown", name=name)
        return RoleArgs(user_id, role, ScopeType.GRID, grid.id, grid.name)
    raise DomainError("admin.role_usage")


async def _compound(session: AsyncSession, community_id: int, name: str) -> Compound:
    compound = await session.scalar(
        select(Compound).where(Compound.community_id == community_id, Compound.name == name)
    )
    if compound is None:
        raise DomainError("admin.compound_unknown", name=name)
    return compound


async def grant(
    session: AsyncSession, clock: Clock, *, args: RoleArgs, by: Person | None
) -> Person:
    """Grant a role (the person record is created for staff who do not live here)."""
    person = await ensure_staff_person(
        session,
        clock,
        telegram_user_id=args.telegram_user_id,
        name=placeholder_name(args.telegram_user_id),
    )
    await grant_role(
        session, clock, person=person, role=args.role, scope_type=args.scope_type,
        scope_id=args.scope_id, by=by,
    )  # fmt: skip
    return person


async def revoke(
    session: AsyncSession, clock: Clock, *, args: RoleArgs, by: Person | None
) -> Person:
    person = await session.scalar(
        select(Person).where(Person.telegram_user_id == args.telegram_user_id)
    )
    if person is None:
        raise DomainError("roles.not_granted", role=args.role.value)
    await revoke_role(
        session, clock, person=person, role=args.role, scope_type=args.scope_type,
        scope_id=args.scope_id, by=by,
    )  # fmt: skip
    return person


@dataclass(frozen=True)
class GrantRow:
    name: str
    telegram_user_id: int | None
    role: str
    scope: str


async def list_roles(session: AsyncSession, community_id: int) -> list[GrantRow]:
    """Active grants in the community (community, its compounds and its grids)."""
    compounds = {
        c.id: c.name
        for c in await session.scalars(
            select(Compound).where(Compound.community_id == community_id)
        )
    }
    grids = {
        g.id: g.name
        for g in await session.scalars(select(Grid).where(Grid.community_id == community_id))
    }
    rows = await session.execute(
        select(RoleGrant, Person)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(RoleGrant.revoked_at.is_(None))
        .order_by(RoleGrant.role, Person.name)
    )
    out = []
    for grant_row, person in rows.all():
        scope = grant_row.scope_type
        if scope == ScopeType.COMMUNITY and grant_row.scope_id == community_id:
            label = ""
        elif scope == ScopeType.COMPOUND and grant_row.scope_id in compounds:
            label = compounds[grant_row.scope_id]
        elif scope == ScopeType.GRID and grant_row.scope_id in grids:
            label = grids[grant_row.scope_id]
        else:
            continue
        out.append(GrantRow(person.name, person.telegram_user_id, grant_row.role, label))
    return out


# ---------------------------------------------------------------- grids


async def set_grid(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    grid_name: str,
    compound_name: str,
    buildings: list[str],
    actor: Person | None,
) -> Grid:
    """Put buildings of a compound into a grid (created if new)."""
    grid_name = clean_text(grid_name, 80)
    compound = await _compound(session, community_id, compound_name)
    grid = await session.scalar(
        select(Grid).where(Grid.community_id == community_id, Grid.name == grid_name)
    )
    if grid is None:
        grid = Grid(community_id=community_id, name=grid_name)
        session.add(grid)
        await session.flush()
    for name in buildings:
        building = await session.scalar(
            select(Building).where(Building.compound_id == compound.id, Building.name == name)
        )
        if building is None:
            raise DomainError("admin.building_unknown", compound=compound.name, name=name)
        building.grid_id = grid.id
    await audit.record(
        session, at=clock.now(), actor=actor, action="grid.set", entity="grid", entity_id=grid.id,
        details={"compound": compound.name, "buildings": buildings},
    )  # fmt: skip
    return grid


async def import_grids_csv(
    session: AsyncSession, clock: Clock, *, community_id: int, data: bytes, actor: Person | None
) -> int:
    """CSV with columns compound,building,grid. All rows are checked before the change
    is kept (the caller's transaction rolls back on error). Returns the rows applied."""
    from bot.services.register_file import RegisterFileError, canonical_header, decode_text

    try:  # UTF-8 with or without BOM, GBK/GB18030 (Excel on Chinese Windows), UTF-16
        text = decode_text(data)
    except RegisterFileError as exc:
        raise DomainError("admin.csv_invalid", line=0) from exc
    reader = csv.DictReader(io.StringIO(text))
    try:
        # Chinese or English headers: 小区/compound, 楼栋/building, 网格/grid.
        reader.fieldnames = [canonical_header(f or "") for f in reader.fieldnames or []]
        return await _import_grid_rows(session, clock, reader, community_id, actor)
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072)
        raise DomainError("core.csv_field_too_long", line=reader.line_num + 1) from exc


async def _import_grid_rows(
    session: AsyncSession,
    clock: Clock,
    reader: csv.DictReader[str],
    community_id: int,
    actor: Person | None,
) -> int:
    fields = set(reader.fieldnames or [])
    if not {"compound", "building", "grid"} <= fields:
        raise DomainError("admin.csv_columns")
    count = 0
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not row.get("compound") or not row.get("building") or not row.get("grid"):
            raise DomainError("admin.csv_invalid", line=line)
        if count >= MAX_CSV_ROWS:
            raise DomainError("admin.csv_too_long", limit=MAX_CSV_ROWS)
        await set_grid(
            session, clock, community_id=community_id, grid_name=row["grid"],
            compound_name=row["compound"], buildings=[row["building"]], actor=actor,
        )  # fmt: skip
        count += 1
    return count


# ---------------------------------------------------------------- compounds


async def set_compound(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    name: str,
    field: str,
    values: list[str],
    actor: Person | None,
) -> Compound:
    """`managed [company]`, `lead <unit>`, `manager <name> <phone>`, `stationed <name> <phone>`."""
    compound = await _compound(session, community_id, name)
    try:
        if field == "managed":
            compound.property_managed = True
            if values:
                compound.property_company = clean_text(" ".join(values), 200)
        elif field == "lead" and values:
            compound.property_managed = False
            compound.lead_unit = clean_text(" ".join(values), 200)
        elif field in ("manager", "stationed") and len(values) >= 2:
            person_name = clean_text(" ".join(values[:-1]), 80)
            phone = parse_phone(values[-1])
            if field == "manager":
                compound.manager_name, compound.manager_phone = person_name, phone
            else:
                compound.stationed_name, compound.stationed_phone = person_name, phone
        else:
            raise DomainError("admin.compound_usage")
    except ParseError as exc:
        raise DomainError(f"errors.{exc.code}", **exc.params) from exc
    await audit.record(
        session, at=clock.now(), actor=actor, action=f"compound.{field}", entity="compound",
        entity_id=compound.id, details={"values": values},
    )  # fmt: skip
    return compound


async def list_compounds(session: AsyncSession, community_id: int) -> list[Compound]:
    """Kept for callers of the old name: the one listing is `directory.list_compounds`."""
    return await directory.list_compounds(session, community_id)
