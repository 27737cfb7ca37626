"""The audit log (R-AUD): every change of data, every officer action and every read of
personal data by staff, in a hash chain that shows a changed or deleted entry.

Each entry stores ``prev_hash`` (the hash of the entry before it, by id) and
``row_hash = sha256(prev_hash + canonical content)``. The content covers the id, the
actor's Telegram id, action, entity, entity id, details and time (not ``actor_id``, a
convenience link that becomes NULL when a person is erased). Writers are serialised so
the chain has no forks: on PostgreSQL a transaction-scoped advisory lock is taken before
the entry is inserted (held until commit, so the next writer sees this entry); on SQLite
the insert itself takes the database's single write lock. When the retention purge
removes the oldest entries it leaves a checkpoint (the last removed id and its hash), so
the first remaining entry still verifies. `community-guard audit verify` walks the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AuditCheckpoint,
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

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the audit chain ("CGAU").
CHAIN_LOCK = 0x43474155
VERIFY_BATCH = 2000


def _normal(details: dict[str, Any] | None) -> dict[str, Any]:
    """Details as they come back from the JSON column (keys as strings, dates as text),
    so the hash computed now is the hash recomputed later."""
    return json.loads(json.dumps(details or {}, default=str, ensure_ascii=False))  # type: ignore[no-any-return]


def canonical(entry: AuditEntry) -> str:
    return json.dumps(
        {
            "id": entry.id,
            "actor": entry.actor_telegram_id,
            "action": entry.action,
            "entity": entry.entity,
            "entity_id": entry.entity_id,
            "details": entry.details,
            "community": entry.community_id,
            "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode("utf-8")).hexdigest()


async def lock_chain(session: AsyncSession) -> None:
    """Serialise writers of the chain until this transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})


async def _hash_before(session: AsyncSession, entry_id: int) -> str:
    prev = (
        await session.execute(
            select(AuditEntry.id, AuditEntry.row_hash)
            .where(AuditEntry.id < entry_id)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    ).first()
    if prev is not None:
        return prev.row_hash or GENESIS
    checkpoint = await session.scalar(
        select(AuditCheckpoint.row_hash)
        .where(AuditCheckpoint.upto_id < entry_id)
        .order_by(AuditCheckpoint.upto_id.desc())
        .limit(1)
    )
    return checkpoint or GENESIS


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
    await lock_chain(session)
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_telegram_id=actor_telegram_id
        if actor_telegram_id is not None
        else (actor.telegram_user_id if actor else None),
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=_normal(details),
        at=at,
        community_id=community_id,
    )
    session.add(entry)
    await session.flush()
    entry.prev_hash = await _hash_before(session, entry.id)
    entry.row_hash = chain_hash(entry.prev_hash, entry)
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


async def record_read(
    session: AsyncSession,
    *,
    at: datetime,
    actor: Person | None,
    what: str,
    entity: str,
    entity_id: int | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """A read of personal data (case details, a ledger export, /mydata): `read.<what>`."""
    return await record(
        session, at=at, actor=actor, action=f"read.{what}", entity=entity,
        entity_id=entity_id, details=details,
    )  # fmt: skip


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Old and new values of the fields that changed: {"field": {"old": .., "new": ..}}."""
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""


async def verify(session: AsyncSession) -> Verification:
    """Walk the chain from the latest checkpoint (or the start) in id order.

    Entries written before the chain existed (no hash) are accepted only before the first
    hashed entry; after it, an entry without a hash, with a `prev_hash` that is not the
    previous entry's hash, or whose content no longer gives its hash, breaks the chain.
    """
    checkpoint = await session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.upto_id.desc()).limit(1)
    )
    expected = checkpoint.row_hash if checkpoint else GENESIS
    after = checkpoint.upto_id if checkpoint else 0
    # After a checkpoint of hashed entries, every entry must be hashed; entries from
    # before the chain existed (no hash) may only come first.
    chained = checkpoint is not None and checkpoint.row_hash != GENESIS
    checked = 0
    while True:
        batch = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > after)
                .order_by(AuditEntry.id)
                .limit(VERIFY_BATCH)
            )
        ).all()
        if not batch:
            return Verification(True, checked)
        for entry in batch:
            after = entry.id
            checked += 1
            if entry.row_hash is None:
                if chained:
                    return Verification(False, checked, entry.id, "no hash")
                continue
            chained = True
            if entry.prev_hash != expected:
                return Verification(False, checked, entry.id, "previous hash differs")
            if chain_hash(expected, entry) != entry.row_hash:
                return Verification(False, checked, entry.id, "content changed")
            expected = entry.row_hash
        session.expunge_all()
