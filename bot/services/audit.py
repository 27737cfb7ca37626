"""The audit log (R-AUD): every change of data and every officer action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AuditEntry,
    Building,
    Case,
    Community,
    Compound,
    GroupChat,
    Household,
    Isolation,
    Notice,
    Person,
    Report,
    RoleGrant,
    Unit,
)


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    entity: str,
    entity_id: int | None,
    actor: Person | None = None,
    actor_telegram_id: int | None = None,
    details: dict[str, Any] | None = None,
    community_id: int | None = None,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction (so it commits with the change).

    The entry belongs to a community (so /audit shows an admin only their own): given,
    or found from the entity, else from the actor's household or grants."""
    if community_id is None:
        community_id = await _community_of(session, entity, entity_id, actor, details or {})
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_telegram_id=actor_telegram_id
        if actor_telegram_id is not None
        else (actor.telegram_user_id if actor else None),
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=details or {},
        at=at,
        community_id=community_id,
    )
    session.add(entry)
    await session.flush()
    return entry


async def household_community(session: AsyncSession, household_id: int | None) -> int | None:
    if household_id is None:
        return None
    return await session.scalar(
        select(Compound.community_id)
        .join(Building, Building.compound_id == Compound.id)
        .join(Unit, Unit.building_id == Building.id)
        .join(Household, Household.unit_id == Unit.id)
        .where(Household.id == household_id)
    )


async def _community_of(
    session: AsyncSession,
    entity: str,
    entity_id: int | None,
    actor: Person | None,
    details: dict[str, Any],
) -> int | None:
    found: int | None = None
    if entity_id is not None:
        simple: dict[str, type[Case] | type[Report] | type[Isolation] | type[Notice]] = {
            "case": Case,
            "report": Report,
            "isolation": Isolation,
            "notice": Notice,
        }
        if entity == "community":
            found = entity_id
        elif entity in simple:
            model = simple[entity]
            found = await session.scalar(select(model.community_id).where(model.id == entity_id))
        elif entity == "compound":
            found = await session.scalar(
                select(Compound.community_id).where(Compound.id == entity_id)
            )
        elif entity == "household":
            found = await household_community(session, entity_id)
        elif entity == "group_chat":
            found = await session.scalar(
                select(Compound.community_id)
                .join(GroupChat, GroupChat.compound_id == Compound.id)
                .where(GroupChat.id == entity_id)
            )
        elif entity == "person":
            person = await session.get(Person, entity_id)
            household_id = person.household_id if person else None
            found = await household_community(session, household_id or details.get("household_id"))
            if found is None and details.get("scope") == "community":
                found = details.get("scope_id")
    if found is None and details.get("community_id") is not None:
        found = int(details["community_id"])
    if found is None and actor is not None:
        found = await household_community(session, actor.household_id)
        if found is None:
            grant = await session.scalar(
                select(RoleGrant).where(
                    RoleGrant.person_id == actor.id,
                    RoleGrant.revoked_at.is_(None),
                    RoleGrant.scope_type == "community",
                )
            )
            found = grant.scope_id if grant else None
    if found is not None and await session.get(Community, found) is None:
        return None
    return found
