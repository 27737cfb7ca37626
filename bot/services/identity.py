"""Who is acting, and what their roles (read from the database) allow (R-RBAC)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.core import inbox
from bot.db.models import (
    ChatCommunity,
    CheckIn,
    Community,
    Isolation,
    Person,
    Role,
    RoleGrant,
    ScopeType,
    UserPreference,
)
from bot.services import audit
from bot.services.errors import DomainError
from messages import normalise_locale

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
    #: The language chosen with /language (read with the person, in the same query).
    preferred_language: str | None = None
    # The community this user chose to act in, in the current chat (R-RBAC: staff with
    # roles in several communities pick one with a button; remembered per chat).
    chosen_community_id: int | None = None

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
        if self.chosen_community_id in ids:
            return self.chosen_community_id
        return min(ids) if ids else None

    def community_ids(self, roles: Iterable[Role]) -> set[int]:
        wanted = set(roles)
        return {
            g.scope_id
            for g in self.grants
            if g.role in wanted and g.scope_type is ScopeType.COMMUNITY
        }


#: Session.info key of the check-in row loaded with the identity (see `load_identity`).
PREFETCHED_CHECKIN = "prefetched_checkin"


def _identity_query(with_checkin: bool, with_mark: bool = False) -> Select[Any]:
    """The person LEFT JOIN their active grants and chosen language (and, for an answer
    button, LEFT JOIN the check-in it names with its isolation, person and community),
    built once: a statement object reused keeps its cache key. `with_mark` (PostgreSQL):
    the update's inbox row is marked done by the same statement, whose first two columns
    say how that went (`inbox.MARK_PG_ROW`); the person is then LEFT JOINed to it, so a
    row comes back even for someone unknown."""
    subject = aliased(Person, name="subject")
    columns: list[Any] = [
        Person,
        RoleGrant.role,
        RoleGrant.scope_type,
        RoleGrant.scope_id,
        UserPreference.language,
    ]
    if with_checkin:
        columns += [CheckIn, Isolation, subject, Community]
    is_user = Person.telegram_user_id == bindparam("user_id")
    if with_mark:
        mark = inbox.MARK_PG_ROW
        query = (
            select(mark.c.marked, mark.c.stored, *columns)
            .select_from(mark)
            .outerjoin(Person, is_user)
        )
    else:
        query = select(*columns).select_from(Person)
    query = query.outerjoin(
        RoleGrant,
        and_(RoleGrant.person_id == Person.id, RoleGrant.revoked_at.is_(None)),
    ).outerjoin(UserPreference, UserPreference.telegram_user_id == Person.telegram_user_id)
    if with_checkin:
        query = (
            query.outerjoin(CheckIn, CheckIn.id == bindparam("checkin_id"))
            .outerjoin(Isolation, Isolation.id == CheckIn.isolation_id)
            .outerjoin(subject, subject.id == Isolation.person_id)
            .outerjoin(Community, Community.id == Isolation.community_id)
        )
    if not with_mark:
        query = query.where(is_user)
    return query.order_by(RoleGrant.id)


_IDENTITY = {
    (checkin, mark): _identity_query(checkin, mark)
    for checkin in (False, True)
    for mark in (False, True)
}


async def load_identity(
    session: AsyncSession,
    telegram_user_id: int | None,
    chat_id: int | None = None,
    *,
    checkin_id: int | None = None,
) -> Identity:
    """Read the person and their active grants from the database (every update), in
    one round trip (the person LEFT JOIN their active grants), and the community they
    chose to act in, in this chat.

    With `checkin_id` (a check-in answer button), the same round trip also reads that
    check-in with its isolation, person and community; they are left in
    `session.info[PREFETCHED_CHECKIN]` for the answer (bot/services/checkin_answers.py),
    which then needs no query of its own to decide."""
    if telegram_user_id is None:
        return Identity(telegram_user_id=None)
    params = {"user_id": telegram_user_id, "checkin_id": checkin_id}
    rows = (await session.execute(_IDENTITY[checkin_id is not None, False], params)).all()
    return await _identity_of(session, telegram_user_id, chat_id, checkin_id, rows)


async def load_identity_marking(
    session: AsyncSession,
    clock: Clock,
    telegram_user_id: int,
    chat_id: int | None,
    *,
    update_id: int,
    checkin_id: int | None = None,
) -> tuple[Identity, bool]:
    """PostgreSQL: `inbox.mark_done` and `load_identity` in one round trip. Returns the
    identity and whether this handling marked the update (False: already handled)."""
    params = {
        "user_id": telegram_user_id,
        "checkin_id": checkin_id,
        **inbox.mark_params(session, clock, update_id),
    }
    rows = (await session.execute(_IDENTITY[checkin_id is not None, True], params)).all()
    marked = inbox.marked_outcome(rows[0][0], rows[0][1])
    if not marked:
        return Identity(telegram_user_id=telegram_user_id), False
    person_rows = [row[2:] for row in rows if row[2] is not None]
    identity = await _identity_of(session, telegram_user_id, chat_id, checkin_id, person_rows)
    return identity, True


async def _identity_of(
    session: AsyncSession,
    telegram_user_id: int,
    chat_id: int | None,
    checkin_id: int | None,
    rows: Sequence[Any],
) -> Identity:
    if not rows:
        return Identity(telegram_user_id=telegram_user_id)
    person = rows[0][0]
    grants = tuple(
        Grant(Role(row[1]), ScopeType(row[2]), row[3]) for row in rows if row[1] is not None
    )
    if checkin_id is not None and rows[0][5] is not None:
        session.info[PREFETCHED_CHECKIN] = (checkin_id, tuple(rows[0][5:9]))
    chosen = None
    if grants and chat_id is not None:
        chosen = await session.scalar(
            select(ChatCommunity.community_id).where(
                ChatCommunity.chat_id == chat_id, ChatCommunity.telegram_user_id == telegram_user_id
            )
        )
    return Identity(
        telegram_user_id=telegram_user_id,
        person=person,
        grants=grants,
        preferred_language=rows[0][4],
        chosen_community_id=chosen,
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


async def own_locales(
    session: AsyncSession, people: Iterable[Person], default: str
) -> dict[int, str]:
    """Each person's own language by person id, for messages the bot sends them on its
    own (case cards, escalations, care alerts): the language on their record, else the
    one they chose with /language before they had one (`user_preferences`), else
    `default` (the community's). One query, for those with no language on record."""
    found: dict[int, str] = {}
    asked: dict[int, int] = {}  # telegram user id -> person id
    for person in people:
        if person.language:
            found[person.id] = normalise_locale(person.language)
        elif person.telegram_user_id is not None:
            asked[person.telegram_user_id] = person.id
        else:
            found[person.id] = default
    if asked:
        rows = await session.execute(
            select(UserPreference.telegram_user_id, UserPreference.language).where(
                UserPreference.telegram_user_id.in_(list(asked))
            )
        )
        for telegram_user_id, language in rows:
            if language:
                found[asked[telegram_user_id]] = normalise_locale(language)
    for person_id in asked.values():
        found.setdefault(person_id, default)
    return found


_Rendered = TypeVar("_Rendered")


async def rendered_for(
    session: AsyncSession,
    people: Sequence[Person],
    default: str,
    render: Callable[[str], Awaitable[_Rendered]],
) -> dict[int, _Rendered]:
    """What each person gets, by person id: `render(locale)` in their own language
    (`own_locales`), rendered once per language, however many people read it."""
    locales = await own_locales(session, people, default)
    once = {locale: await render(locale) for locale in sorted(set(locales.values()))}
    return {person_id: once[locale] for person_id, locale in locales.items()}


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
