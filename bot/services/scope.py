"""The one rule deciding where a staff member may act (R-RBAC).

Every staff command and callback asks this module, never a chat membership:

* `CAPABILITIES` says which roles carry a capability (cases, isolations, ledger, ...);
* `covers` says whether the actor's grants of those roles reach a place: a community
  grant reaches the whole community, a compound grant that compound (an officer granted
  for a compound is, for that compound, a community officer), a grid grant that grid;
* `resolve` gives the `ActingScope` of a command: the community (chosen with a button
  and remembered per chat when the actor holds roles in several) and the compounds /
  grids inside it the actor reaches.

The interface is thin on purpose, so a router-level role filter can call `resolve`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import ChatCommunity, Community, Compound, Grid, Role, ScopeType
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import Grant, Identity

A, OF, G, P, GU, V = (
    Role.ADMIN,
    Role.OFFICER,
    Role.GRID_WORKER,
    Role.PROPERTY_MANAGER,
    Role.GUARD,
    Role.VOLUNTEER,
)

# capability -> roles that carry it. property_manager is also the lead unit's contact.
CAPABILITIES: dict[str, frozenset[Role]] = {
    "cases": frozenset({A, OF, G}),
    "case_details": frozenset({A, OF, G}),
    "supplies_cases": frozenset({A, OF, G, V}),
    "isolations": frozenset({A, OF}),
    "notices": frozenset({A, OF}),
    "coverage": frozenset({A, OF, G}),
    "screening": frozenset({A, OF, G, P}),
    "ledger": frozenset({A, OF, P}),
    "charts": frozenset({A, OF}),
    "gate": frozenset({A, OF, P, GU}),
    "households": frozenset({A, OF, G}),
    "groups": frozenset({A, OF}),
    "officer_chat": frozenset({A, OF}),
    "settings": frozenset({A, OF}),
    "roles": frozenset({A}),
    "audit": frozenset({A}),
}

ALL_STAFF_ROLES: frozenset[Role] = frozenset(Role)


def roles_for(capability: str) -> frozenset[Role]:
    return CAPABILITIES[capability]


def covers(
    identity: Identity,
    capability: str,
    *,
    community_id: int,
    compound_id: int | None = None,
    grid_id: int | None = None,
) -> bool:
    """Whether a grant of a role carrying `capability` reaches this place."""
    return identity.allows(
        roles_for(capability), community_id=community_id, compound_id=compound_id, grid_id=grid_id
    )


@dataclass(frozen=True)
class ActingScope:
    """Where a command acts: one community, and within it everything
    (`whole_community`) or only some compounds and grids."""

    community: Community
    capability: str
    whole_community: bool
    compound_ids: frozenset[int]
    grid_ids: frozenset[int]

    def reaches(self, *, compound_id: int | None = None, grid_id: int | None = None) -> bool:
        if self.whole_community:
            return True
        if compound_id is not None and compound_id in self.compound_ids:
            return True
        return grid_id is not None and grid_id in self.grid_ids


class ChooseCommunity(DomainError):
    """The actor holds the capability in several communities and has not chosen one
    for this chat: show these as buttons (or say "send /community")."""

    def __init__(self, communities: tuple[Community, ...]) -> None:
        super().__init__("privacy.choose_community_first")
        self.communities = communities


async def grant_community(session: AsyncSession, grant: Grant) -> int | None:
    if grant.scope_type is ScopeType.COMMUNITY:
        return grant.scope_id
    model = Grid if grant.scope_type is ScopeType.GRID else Compound
    return await session.scalar(select(model.community_id).where(model.id == grant.scope_id))


async def communities_for(
    session: AsyncSession, identity: Identity, roles: Iterable[Role]
) -> list[Community]:
    wanted = set(roles)
    ids: set[int] = set()
    for grant in identity.grants:
        if grant.role in wanted and (cid := await grant_community(session, grant)) is not None:
            ids.add(cid)
    if not ids:
        return []
    found = await session.scalars(select(Community).where(Community.id.in_(ids)))
    return sorted(found, key=lambda c: c.id)


async def resolve(
    session: AsyncSession,
    identity: Identity,
    capability: str,
    *,
    chat_id: int | None = None,
) -> ActingScope:
    """The scope of a command. Raises NotAllowed (no role carrying the capability) or
    ChooseCommunity (several communities, none chosen for this chat)."""
    roles = roles_for(capability)
    communities = await communities_for(session, identity, roles)
    if not communities:
        raise NotAllowed()
    community = communities[0]
    if len(communities) > 1:
        chosen_id = identity.chosen_community_id
        if chat_id is not None and identity.telegram_user_id is not None:
            row = await session.get(ChatCommunity, (chat_id, identity.telegram_user_id))
            chosen_id = row.community_id if row is not None else chosen_id
        match = [c for c in communities if c.id == chosen_id]
        if not match:
            raise ChooseCommunity(tuple(communities))
        community = match[0]
    whole = False
    compounds: set[int] = set()
    grids: set[int] = set()
    for grant in identity.grants:
        if grant.role not in roles:
            continue
        if grant.scope_type is ScopeType.COMMUNITY and grant.scope_id == community.id:
            whole = True
        elif grant.scope_type is ScopeType.COMPOUND:
            compounds.add(grant.scope_id)
        elif grant.scope_type is ScopeType.GRID:
            grids.add(grant.scope_id)
    if compounds:
        compounds = set(
            await session.scalars(
                select(Compound.id).where(
                    Compound.id.in_(compounds), Compound.community_id == community.id
                )
            )
        )
    if grids:
        grids = set(
            await session.scalars(
                select(Grid.id).where(Grid.id.in_(grids), Grid.community_id == community.id)
            )
        )
    return ActingScope(community, capability, whole, frozenset(compounds), frozenset(grids))


async def officers_chat_community(session: AsyncSession, chat_id: int) -> Community | None:
    """The community whose officers' chat this is (`/officers_here`), or None: a command
    typed in a group answers there only for that community, and only about its data."""
    return await session.scalar(select(Community).where(Community.officer_chat_id == chat_id))


async def choose_community(
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    *,
    chat_id: int,
    community_id: int,
) -> Community:
    """Remember the community this actor acts in, in this chat (checked: they must
    hold some staff role there)."""
    allowed = await communities_for(session, identity, set(Role))
    match = [c for c in allowed if c.id == community_id]
    if not match or identity.telegram_user_id is None:
        raise NotAllowed()
    row = await session.get(ChatCommunity, (chat_id, identity.telegram_user_id))
    if row is None:
        session.add(
            ChatCommunity(
                chat_id=chat_id,
                telegram_user_id=identity.telegram_user_id,
                community_id=community_id,
                updated_at=clock.now(),
            )
        )
    else:
        row.community_id = community_id
        row.updated_at = clock.now()
    await session.flush()
    return match[0]
