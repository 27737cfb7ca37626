"""Who is acting, and what their roles (read from the database) allow (R-RBAC)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Person, Role, RoleGrant, ScopeType
from bot.services import audit
from bot.services.errors import DomainError

OFFICER_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.OFFICER})
STAFF_ROLES: frozenset[Role] = frozenset(Role)


@dataclass(frozen=True)
class Grant:
    role: Role
    scope_type: ScopeType
    scope_id: int


@dataclass(frozen=True)
class Identity:
    """The acting Telegram user: their person record (if any) and active role grants."""

    telegram_user_id: int | None
    person: Person | None = None
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def is_registered(self) -> bool:
        return self.person is not None and self.person.household_id is not None

    def has_any(self, roles: Iterable[Role]) -> bool:
        wanted = set(roles)
        return any(g.role in wanted for g in self.grants)

    def allows(
        self,
        roles: Iterable[Role],
        *,
        community_id: int,
        compound_id: int | None = None,
        grid_id: int | None = None,
    ) -> bool:
        """True when a grant of one of `roles` covers the given place.

        A community grant covers all its compounds and grids; a compound or grid
        grant covers only that compound or grid.
        """
        wanted = set(roles)
        for g in self.grants:
            if g.role not in wanted:
                continue
            if g.scope_type is ScopeType.COMMUNITY and g.scope_id == community_id:
                return True
            if g.scope_type is ScopeType.COMPOUND and g.scope_id == compound_id:
                return True
            if g.scope_type is ScopeType.GRID and grid_id is not None and g.scope_id == grid_id:
                return True
        return False

    def acting_community_id(self, roles: Iterable[Role] = OFFICER_ROLES) -> int | None:
        """The community an officer acts for: the lowest id among their community-scoped
        grants of `roles` (one community per deployment is the common case), or None."""
        ids = self.community_ids(roles)
        return min(ids) if ids else None

    def community_ids(self, roles: Iterable[Role]) -> set[int]:
        wanted = set(roles)
        return {
            g.scope_id
            for g in self.grants
            if g.role in wanted and g.scope_type is ScopeType.COMMUNITY
        }


async def load_identity(session: AsyncSession, telegram_user_id: int | None) -> Identity:
    """Read the person and their active grants from the database (every update)."""
    if telegram_user_id is None:
        return Identity(telegram_user_id=None)
    person = await session.scalar(select(Person).where(Person.telegram_user_id == telegram_user_id))
    if person is None:
        return Identity(telegram_user_id=telegram_user_id)
    return Identity(
        telegram_user_id=telegram_user_id,
        person=person,
        grants=await active_grants(session, person.id),
    )


async def active_grants(session: AsyncSession, person_id: int) -> tuple[Grant, ...]:
    rows = await session.scalars(
        select(RoleGrant).where(RoleGrant.person_id == person_id, RoleGrant.revoked_at.is_(None))
    )
    return tuple(Grant(Role(r.role), ScopeType(r.scope_type), r.scope_id) for r in rows)


def placeholder_name(telegram_user_id: int) -> str:
    """The name of a staff record made by /grant before the person ever wrote to the bot."""
    return f"#{telegram_user_id}"


def adopt_telegram_name(person: Person, telegram_name: str | None) -> bool:
    """Replace a staff placeholder name ("#700003") by the person's Telegram name, so
    cards, the audit log and the ledger show who acted. Returns whether it changed."""
    if person.telegram_user_id is None or person.name != placeholder_name(person.telegram_user_id):
        return False
    name = (telegram_name or "").strip()[:80]
    if not name:
        return False
    person.name = name
    return True


async def ensure_staff_person(
    session: AsyncSession, clock: Clock, *, telegram_user_id: int, name: str
) -> Person:
    """The person record of a staff member (who may not live in the community)."""
    person = await session.scalar(select(Person).where(Person.telegram_user_id == telegram_user_id))
    if person is None:
        person = Person(telegram_user_id=telegram_user_id, name=name, created_at=clock.now())
        session.add(person)
        await session.flush()
    return person


async def grant_role(
    session: AsyncSession,
    clock: Clock,
    *,
    person: Person,
    role: Role,
    scope_type: ScopeType,
    scope_id: int,
    by: Person | None,
) -> RoleGrant:
    """Grant a scoped role; granting one that is already active changes nothing."""
    existing = await session.scalar(
        select(RoleGrant).where(
            RoleGrant.person_id == person.id,
            RoleGrant.role == role,
            RoleGrant.scope_type == scope_type,
            RoleGrant.scope_id == scope_id,
            RoleGrant.revoked_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    grant = RoleGrant(
        person_id=person.id,
        role=role,
        scope_type=scope_type,
        scope_id=scope_id,
        granted_by_id=by.id if by else None,
        granted_at=clock.now(),
    )
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        at=clock.now(),
        actor=by,
        action="role.grant",
        entity="person",
        entity_id=person.id,
        details={"role": role.value, "scope": scope_type.value, "scope_id": scope_id},
    )
    return grant


async def revoke_role(
    session: AsyncSession,
    clock: Clock,
    *,
    person: Person,
    role: Role,
    scope_type: ScopeType,
    scope_id: int,
    by: Person | None,
) -> None:
    grant = await session.scalar(
        select(RoleGrant).where(
            RoleGrant.person_id == person.id,
            RoleGrant.role == role,
            RoleGrant.scope_type == scope_type,
            RoleGrant.scope_id == scope_id,
            RoleGrant.revoked_at.is_(None),
        )
    )
    if grant is None:
        raise DomainError("roles.not_granted", role=role.value)
    grant.revoked_at = clock.now()
    grant.revoked_by_id = by.id if by else None
    await audit.record(
        session,
        at=clock.now(),
        actor=by,
        action="role.revoke",
        entity="person",
        entity_id=person.id,
        details={"role": role.value, "scope": scope_type.value, "scope_id": scope_id},
    )
