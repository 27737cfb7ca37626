"""Designated fever clinics of a community (R-SYM), kept on Community.fever_clinics."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Person
from bot.services import audit
from bot.services.errors import DomainError, NotFound

MAX_CLINICS = 20


def parse_clinic(text: str) -> dict[str, str]:
    """`名称|地址|电话` (address and phone optional)."""
    parts = [p.strip() for p in text.replace("｜", "|").split("|")]
    if not parts or not parts[0] or len(parts) > 3 or any(len(p) > 120 for p in parts):
        raise DomainError("clinics.usage")
    parts += [""] * (3 - len(parts))
    return {"name": parts[0], "address": parts[1], "phone": parts[2]}


async def add_clinic(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    clinic: dict[str, str],
    actor: Person | None,
) -> list[dict[str, str]]:
    """Add a clinic (one of the same name is replaced)."""
    clinics = [c for c in community.fever_clinics or [] if c.get("name") != clinic["name"]]
    if len(clinics) >= MAX_CLINICS:
        raise DomainError("clinics.too_many", limit=MAX_CLINICS)
    community.fever_clinics = [*clinics, clinic]
    await audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="clinic.add",
        entity="community",
        entity_id=community.id,
        details=clinic,
    )
    return community.fever_clinics


async def remove_clinic(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    number: int,
    actor: Person | None,
) -> dict[str, str]:
    """Remove the clinic numbered `number` (1-based, as /clinic list shows)."""
    clinics = list(community.fever_clinics or [])
    if not 1 <= number <= len(clinics):
        raise NotFound("clinics.not_found", number=number)
    removed = clinics.pop(number - 1)
    community.fever_clinics = clinics
    await audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="clinic.remove",
        entity="community",
        entity_id=community.id,
        details=removed,
    )
    return removed
