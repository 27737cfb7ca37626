"""Owners' group chats bound to their compound (R-GRP)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Compound, GroupChat
from bot.services import audit
from bot.services.directory import natural_key
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import OFFICER_ROLES, Identity


async def compounds_officer_may_bind(session: AsyncSession, identity: Identity) -> list[Compound]:
    compounds = await session.scalars(select(Compound))
    allowed = [
        c
        for c in compounds
        if identity.allows(OFFICER_ROLES, community_id=c.community_id, compound_id=c.id)
    ]
    return sorted(allowed, key=lambda c: natural_key(c.name))  # "2期" before "10期"


async def bind_group(
    session: AsyncSession,
    clock: Clock,
    *,
    identity: Identity,
    chat_id: int,
    title: str | None,
    compound_id: int,
) -> GroupChat:
    """Bind a group to a compound; only an officer or admin of that compound's
    community (a role read from the database) may do it."""
    if await is_officer_chat(session, chat_id):
        raise DomainError("privacy.bind_in_officers_chat")
    compound = await session.get(Compound, compound_id)
    if compound is None:
        raise NotFound("groups.compound_unknown")
    if not identity.allows(
        OFFICER_ROLES, community_id=compound.community_id, compound_id=compound.id
    ):
        raise NotAllowed("groups.bind_not_allowed")
    group = await session.scalar(select(GroupChat).where(GroupChat.chat_id == chat_id))
    if group is None:
        group = GroupChat(chat_id=chat_id, compound_id=compound.id, bound_at=clock.now())
        session.add(group)
    elif group.active and group.compound_id != compound.id:
        # Moving a bound group to another compound takes it from the first one's
        # residents: the first compound must be the actor's too, and the reply says so.
        before = await session.get(Compound, group.compound_id)
        if before is not None and not identity.allows(
            OFFICER_ROLES, community_id=before.community_id, compound_id=before.id
        ):
            raise NotAllowed("groups.rebind_not_allowed", compound=before.name)
    group.compound_id = compound.id
    group.title = title
    group.active = True
    group.bound_by_id = identity.person.id if identity.person else None
    group.bound_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        action="group.bind",
        entity="group_chat",
        entity_id=group.id,
        details={"chat_id": chat_id, "compound_id": compound.id},
    )
    return group


async def is_officer_chat(session: AsyncSession, chat_id: int) -> bool:
    """Whether a chat is some community's officers' chat (never an owners' group)."""
    found = await session.scalar(select(Community.id).where(Community.officer_chat_id == chat_id))
    return found is not None


async def is_owners_group(session: AsyncSession, chat_id: int) -> bool:
    return await bound_compound(session, chat_id) is not None


async def unbind_group(
    session: AsyncSession, clock: Clock, *, identity: Identity, chat_id: int
) -> Compound:
    group = await session.scalar(select(GroupChat).where(GroupChat.chat_id == chat_id))
    if group is None or not group.active:
        raise NotFound("groups.not_bound")
    compound = await session.get(Compound, group.compound_id)
    assert compound is not None
    if not identity.allows(
        OFFICER_ROLES, community_id=compound.community_id, compound_id=compound.id
    ):
        raise NotAllowed("groups.bind_not_allowed")
    group.active = False
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        action="group.unbind",
        entity="group_chat",
        entity_id=group.id,
    )
    return compound


async def bound_compound(session: AsyncSession, chat_id: int) -> Compound | None:
    group = await session.scalar(
        select(GroupChat).where(GroupChat.chat_id == chat_id, GroupChat.active.is_(True))
    )
    return await session.get(Compound, group.compound_id) if group else None


async def migrate_group(session: AsyncSession, clock: Clock, *, old_id: int, new_id: int) -> None:
    """A group upgraded to a supergroup gets a new chat id; keep the binding."""
    group = await session.scalar(select(GroupChat).where(GroupChat.chat_id == old_id))
    if group is None:
        return
    clash = await session.scalar(select(GroupChat).where(GroupChat.chat_id == new_id))
    if clash is not None:
        await session.delete(clash)
        await session.flush()
    group.chat_id = new_id
    await audit.record(
        session,
        at=clock.now(),
        action="group.migrate",
        entity="group_chat",
        entity_id=group.id,
        details={"from": old_id, "to": new_id},
    )
