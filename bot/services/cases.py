"""Escalation cases (R-ESC): every urgent event becomes a card in the officers'
channel, routed to the grid worker of the building, with a history of events.

`open_case` is the one entry point for every feature that escalates (reports,
missed check-ins, fevers, unreachable people, the gate). The card is an outbox
delivery; the sender records its message id on the case so it can be edited later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cards import case_card_markup
from bot.clock import Clock, local_now
from bot.db.models import (
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Community,
    Person,
    Role,
    RoleGrant,
    ScopeType,
)
from bot.services import audit, outbox
from bot.services.directory import HouseholdPath, household_path
from messages import Catalog

CASE_CARD = "case_card"


@dataclass(frozen=True)
class CaseRouting:
    """Where a case belongs: the household's compound, building and grid, and the
    grid workers responsible for that grid."""

    compound_id: int | None
    building_id: int | None
    grid_id: int | None
    grid_workers: tuple[Person, ...]
    path: HouseholdPath | None


async def route(session: AsyncSession, household_id: int | None) -> CaseRouting:
    path = await household_path(session, household_id) if household_id else None
    if path is None:
        return CaseRouting(None, None, None, (), None)
    grid_id = path.building.grid_id
    workers: tuple[Person, ...] = ()
    if grid_id is not None:
        workers = tuple(
            await session.scalars(
                select(Person)
                .join(RoleGrant, RoleGrant.person_id == Person.id)
                .where(
                    RoleGrant.role == Role.GRID_WORKER,
                    RoleGrant.scope_type == ScopeType.GRID,
                    RoleGrant.scope_id == grid_id,
                    RoleGrant.revoked_at.is_(None),
                )
                .order_by(Person.id)
            )
        )
    return CaseRouting(path.compound.id, path.building.id, grid_id, workers, path)


async def open_case(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    community_id: int,
    kind: CaseKind,
    urgent: bool,
    household_id: int | None = None,
    subject_id: int | None = None,
    reporter_id: int | None = None,
    report_id: int | None = None,
    isolation_id: int | None = None,
    details: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    actor: Person | None = None,
) -> Case:
    """Open a case and queue its card for the officers' channel.

    With a `dedup_key`, opening the same case twice returns the first one.
    `details` holds what the card shows (JSON-serialisable, kind-specific).
    """
    if dedup_key is not None:
        existing = await session.scalar(select(Case).where(Case.dedup_key == dedup_key))
        if existing is not None:
            return existing
    routing = await route(session, household_id)
    now = clock.now()
    case = Case(
        community_id=community_id,
        kind=kind.value,
        urgent=urgent,
        status=CaseStatus.OPEN.value,
        compound_id=routing.compound_id,
        building_id=routing.building_id,
        grid_id=routing.grid_id,
        household_id=household_id,
        subject_id=subject_id,
        reporter_id=reporter_id,
        report_id=report_id,
        isolation_id=isolation_id,
        details=details or {},
        dedup_key=dedup_key,
        created_at=now,
        last_alert_at=now,
        alert_count=1,
    )
    session.add(case)
    await session.flush()
    session.add(
        CaseEvent(case_id=case.id, actor_id=actor.id if actor else None, action="opened", at=now)
    )
    await audit.record(
        session,
        at=now,
        actor=actor,
        action="case.open",
        entity="case",
        entity_id=case.id,
        details={"kind": kind.value, "urgent": urgent},
    )
    await queue_card(session, clock, catalog, case, routing=routing)
    return case


async def card_context(
    session: AsyncSession, clock: Clock, case: Case, routing: CaseRouting | None = None
) -> dict[str, Any]:
    """Everything the case card template shows."""
    routing = routing or await route(session, case.household_id)
    community = await session.get(Community, case.community_id)
    assert community is not None
    subject = await session.get(Person, case.subject_id) if case.subject_id else None
    assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
    path = routing.path
    created_local = case.created_at.astimezone(local_now(clock, community.timezone).tzinfo)
    return {
        "id": case.id,
        "kind": case.kind,
        "urgent": case.urgent,
        "status": case.status,
        "created": created_local.strftime("%Y-%m-%d %H:%M"),
        "address": {
            "compound": path.compound.name,
            "building": path.building.name,
            "unit": path.unit.name,
            "room": path.household.room,
        }
        if path
        else None,
        "subject": {"name": subject.name, "phone": subject.phone or ""} if subject else None,
        "grid_workers": [{"name": w.name} for w in routing.grid_workers],
        "assignee": assignee.name if assignee else None,
        "details": case.details,
        "note": case.resolution_note,
        "alert_count": case.alert_count,
    }


async def queue_card(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    case: Case,
    *,
    routing: CaseRouting | None = None,
    realert: int = 0,
) -> bool:
    """Queue the case card (or a re-alert of it) for the community's officer chat.
    Returns False when no officer chat is bound yet: the case still exists and is
    listed by /cases; binding the chat later posts the cards of open cases."""
    community = await session.get(Community, case.community_id)
    if community is None or community.officer_chat_id is None:
        return False
    locale = community.locale
    context = await card_context(session, clock, case, routing)
    context["kind_label"] = catalog.render(locale, f"cases.kind_{case.kind}")
    context["status_label"] = catalog.render(locale, f"cases.status_{case.status}")
    text = catalog.render(locale, "cases.card", case=context, realert=realert)
    return await outbox.enqueue(
        session,
        clock,
        kind=CASE_CARD,
        chat_id=community.officer_chat_id,
        is_group=True,
        dedup_key=f"case:{case.id}:card:{realert}",
        payload=outbox.message_payload(
            text, reply_markup=case_card_markup(catalog.translator(locale), case)
        ),
        case_id=case.id,
    )
