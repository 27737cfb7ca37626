"""The audit log (R-AUD): every change of data and every officer action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, Person


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
) -> AuditEntry:
    """Append one audit entry in the caller's transaction (so it commits with the change)."""
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
    )
    session.add(entry)
    await session.flush()
    return entry
