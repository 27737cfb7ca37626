"""Escalation cases (R-ESC): every urgent event becomes a card in the officers'
channel, routed to the grid worker of the building, with a history of events.

`open_case` is the one entry point for every feature that escalates (reports,
missed check-ins, fevers, unreachable people, the gate). The card is an outbox
delivery; the sender records its message id on the case so it can be edited later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.db.models import (
    Building,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Community,
    Compound,
    GroupChat,
    Person,
    Role,
    RoleGrant,
    ScopeType,
)
from bot.presentation.cards import Markup, case_card_markup
from bot.services import audit, case_text, outbox
from bot.services.directory import HouseholdPath, household_path
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import OFFICER_ROLES, Identity, own_locales, rendered_for
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


async def route(
    session: AsyncSession,
    household_id: int | None,
    *,
    compound_id: int | None = None,
    building_id: int | None = None,
) -> CaseRouting:
    """Route by the household; without one, by the building (its grid) or at least the
    compound (a gate's own compound, an unknown address's compound)."""
    path = await household_path(session, household_id) if household_id else None
    if path is None:
        if building_id is not None:
            from bot.db.models import Building

            building = await session.get(Building, building_id)
            if building is not None:
                workers = await _grid_workers(session, building.grid_id)
                return CaseRouting(
                    building.compound_id, building.id, building.grid_id, workers, None
                )
        if compound_id is not None:
            # The compound's grids: one grid is the case's; their workers are named.
            from bot.db.models import Building

            grids = sorted(
                {
                    g
                    for g in await session.scalars(
                        select(Building.grid_id).where(Building.compound_id == compound_id)
                    )
                    if g is not None
                }
            )
            found: list[Person] = []
            for g in grids:
                found.extend(await _grid_workers(session, g))
            workers = tuple(found)
            grid = grids[0] if len(grids) == 1 else None
            return CaseRouting(compound_id, None, grid, workers, None)
        return CaseRouting(None, None, None, (), None)
    workers = await _grid_workers(session, path.building.grid_id)
    return CaseRouting(path.compound.id, path.building.id, path.building.grid_id, workers, path)


async def _grid_workers(session: AsyncSession, grid_id: int | None) -> tuple[Person, ...]:
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
    return workers


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
    compound_id: int | None = None,
    building_id: int | None = None,
) -> Case:
    """Open a case and queue its card for the officers' channel.

    With a `dedup_key`, opening the same case twice returns the first one.
    `details` holds what the card shows (JSON-serialisable, kind-specific).
    """
    if dedup_key is not None:
        existing = await session.scalar(select(Case).where(Case.dedup_key == dedup_key))
        if existing is not None:
            return existing
    routing = await route(session, household_id, compound_id=compound_id, building_id=building_id)
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
    await queue_private_cards(session, clock, catalog, case, routing)
    return case


async def card_context(
    session: AsyncSession, clock: Clock, case: Case, routing: CaseRouting | None = None
) -> dict[str, Any]:
    """Everything the case card template shows."""
    routing = routing or await route(
        session, case.household_id, compound_id=case.compound_id, building_id=case.building_id
    )
    community = await session.get(Community, case.community_id)
    assert community is not None
    subject = await session.get(Person, case.subject_id) if case.subject_id else None
    assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
    path = routing.path
    case_compound = await session.get(Compound, case.compound_id) if case.compound_id else None
    case_building = await session.get(Building, case.building_id) if case.building_id else None
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
        else await _place_only(session, case),
        "place": " ".join(
            n
            for n in (
                case_compound.name if case_compound else None,
                case_building.name if case_building else None,
            )
            if n
        ),
        "subject": {"name": subject.name, "phone": subject.phone or ""} if subject else None,
        "grid_workers": [{"name": w.name} for w in routing.grid_workers],
        "assignee": assignee.name if assignee else None,
        "details": case.details,
        "note": case.resolution_note,
        "alert_count": case.alert_count,
    }


async def _place_only(session: AsyncSession, case: Case) -> dict[str, str] | None:
    """The compound (and building) of a case without a household (a gate's, an
    unknown address's), so the card and the lists still say where it belongs."""
    from bot.db.models import Building, Compound

    if case.compound_id is None:
        return None
    compound = await session.get(Compound, case.compound_id)
    building = await session.get(Building, case.building_id) if case.building_id else None
    return {
        "compound": compound.name if compound else "",
        "building": building.name if building else "",
        "unit": "",
        "room": "",
    }


async def queue_card(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    case: Case,
    *,
    routing: CaseRouting | None = None,
    realert: int = 0,
    realert_max: int = 0,
    minutes: int = 0,
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
    context["details"] = localized_details(catalog, locale, case)
    # The officers' chat is a group: kind, urgency, compound/building and number only
    # (R-WHERE); the person and the details come from "details", in a private chat.
    text = catalog.render(
        locale, "cases.card", case=context, realert=realert, realert_max=realert_max,
        minutes=minutes,
    )  # fmt: skip
    return await outbox.enqueue(
        session,
        clock,
        kind=CASE_CARD,
        chat_id=community.officer_chat_id,
        is_group=True,
        dedup_key=f"case:{case.id}:card:{realert}",
        payload=outbox.message_payload(
            text, reply_markup=case_card_markup(catalog.translator(locale), case, details=True)
        ),
        case_id=case.id,
    )


async def queue_private_cards(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    case: Case,
    routing: CaseRouting,
) -> int:
    """Routing to the grid workers of the case's grid reaches them privately, with the
    full card (their role needs it)."""
    community = await session.get(Community, case.community_id)
    workers = [w for w in routing.grid_workers if w.telegram_user_id is not None]

    async def full_card(locale: str) -> tuple[str, Markup | None]:
        return await render_card(session, clock, catalog, case, full=True, locale=locale)

    default = community.locale if community else "zh-CN"
    cards = await rendered_for(session, workers, default, full_card)
    queued = 0
    for worker in workers:
        assert worker.telegram_user_id is not None
        text, markup = cards[worker.id]
        if await outbox.enqueue(
            session,
            clock,
            kind="case_private",
            chat_id=worker.telegram_user_id,
            dedup_key=f"case:{case.id}:grid:{worker.id}",
            payload=outbox.message_payload(text, reply_markup=markup),
            case_id=case.id,
            person_id=worker.id,
        ):
            queued += 1
    return queued


# ---------------------------------------------------------------- acting on cases


ACTIONS: tuple[str, ...] = ("ack", "take", "resolve")
NOTE_MAX = 500


def may_act(identity: Identity, case: Case) -> bool:
    """Officers and admins of the community, the grid worker of the case's grid, and,
    for supplies cases, volunteers of the community or compound (roles from the DB)."""
    if identity.allows(OFFICER_ROLES, community_id=case.community_id, compound_id=case.compound_id):
        return True
    if case.grid_id is not None and identity.allows(
        {Role.GRID_WORKER}, community_id=case.community_id, grid_id=case.grid_id
    ):
        return True
    return case.kind == CaseKind.SUPPLIES and identity.allows(
        {Role.VOLUNTEER}, community_id=case.community_id, compound_id=case.compound_id
    )


async def get_case_for(session: AsyncSession, identity: Identity, case_id: int) -> Case:
    case = await session.get(Case, case_id)
    if case is None:
        raise NotFound("cases.not_found", id=case_id)
    if not may_act(identity, case):
        raise NotAllowed("cases.not_allowed")
    return case


async def act(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    identity: Identity,
    case_id: int,
    action: str,
    note: str | None = None,
) -> Case:
    """Acknowledge, take or resolve (with a note) a case: the role is checked against
    the database; every action becomes a CaseEvent and an audit entry. Resolving tells
    the resident who reported it, where that makes sense (symptoms, supplies)."""
    if action not in ACTIONS:
        raise DomainError("cases.unknown_action")
    case = await get_case_for(session, identity, case_id)
    actor = identity.person
    now = clock.now()
    if case.status == CaseStatus.RESOLVED:
        raise DomainError("cases.already_resolved", id=case.id)
    if action == "ack":
        if case.status != CaseStatus.OPEN:
            raise DomainError("cases.already_acknowledged", id=case.id)
        case.status = CaseStatus.ACKNOWLEDGED.value
        case.acknowledged_at = now
    elif action == "take":
        if case.status == CaseStatus.TAKEN and actor is not None and case.assignee_id == actor.id:
            raise DomainError("cases.already_taken", id=case.id)
        case.status = CaseStatus.TAKEN.value
        case.acknowledged_at = case.acknowledged_at or now
        case.assignee_id = actor.id if actor else None
    else:
        if not note:
            raise DomainError("cases.note_required")
        case.status = CaseStatus.RESOLVED.value
        case.acknowledged_at = case.acknowledged_at or now
        case.resolved_at = now
        case.resolution_note = note
        if case.assignee_id is None and actor is not None:
            case.assignee_id = actor.id
    session.add(
        CaseEvent(case_id=case.id, actor_id=actor.id if actor else None, action=action,
                  note=note, at=now)
    )  # fmt: skip
    await audit.record(
        session, at=now, actor=actor, actor_telegram_id=identity.telegram_user_id,
        action=f"case.{action}", entity="case", entity_id=case.id,
        details={"note": note} if note else {},
    )  # fmt: skip
    if action == "resolve":
        await _tell_reporter(session, clock, catalog, case)
    return case


def reporter_reads_note(case: Case) -> bool:
    """Whether resolving the case sends its note to the resident who reported it
    (symptoms and help requests; never tip-offs)."""
    return (
        bool(case.details.get("notify"))
        and case.reporter_id is not None
        and case.kind in (CaseKind.SYMPTOM, CaseKind.SUPPLIES)
    )


async def _tell_reporter(session: AsyncSession, clock: Clock, catalog: Catalog, case: Case) -> None:
    if not reporter_reads_note(case):
        return
    reporter = await session.get(Person, case.reporter_id)
    if reporter is None or reporter.telegram_user_id is None:
        return
    # Their own language (on record, else chosen with /language), else the community's.
    community = await session.get(Community, case.community_id)
    default = community.locale if community else "zh-CN"
    locale = (await own_locales(session, [reporter], default))[reporter.id]
    text = catalog.render(
        locale, "cases.resolved_for_resident",
        kind=catalog.render(locale, f"cases.kind_{case.kind}"), note=case.resolution_note or "",
    )  # fmt: skip
    await outbox.enqueue(
        session, clock, kind="case_resolved", chat_id=reporter.telegram_user_id,
        dedup_key=f"case:{case.id}:resolved", payload=outbox.message_payload(text),
        case_id=case.id, person_id=reporter.id,
    )  # fmt: skip


def localized_details(catalog: Catalog, locale: str, case: Case) -> dict[str, Any]:
    """The case's details with the summary in `locale` (the reader's language)."""
    details = dict(case.details or {})
    details["summary"] = case_text.summary_text(catalog, locale, case.details)
    return details


async def render_card(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    case: Case,
    *,
    realert: int = 0,
    full: bool = False,
    locale: str | None = None,
) -> tuple[str, Markup | None]:
    """The card's text and buttons (to edit it in place): the anonymised group card in
    the community's language, or with `full` the whole card for a private chat."""
    if locale is None:
        community = await session.get(Community, case.community_id)
        locale = community.locale if community else "zh-CN"
    context = await card_context(session, clock, case)
    context["kind_label"] = catalog.render(locale, f"cases.kind_{case.kind}")
    context["status_label"] = catalog.render(locale, f"cases.status_{case.status}")
    context["details"] = localized_details(catalog, locale, case)
    key = "cases.card_full" if full else "cases.card"
    text = catalog.render(locale, key, case=context, realert=realert, realert_max=0, minutes=0)
    return text, case_card_markup(catalog.translator(locale), case, details=not full)


async def queue_card_refresh(
    session: AsyncSession, clock: Clock, catalog: Catalog, case: Case
) -> bool:
    """After an action taken elsewhere (the grid worker's private card), the card in the
    officers' chat is edited to match: it no longer shows "pending" for a case resolved
    privately. Anonymised, as every group card (R-WHERE)."""
    if case.card_chat_id is None or case.card_message_id is None:
        return False
    text, markup = await render_card(session, clock, catalog, case)
    return await outbox.enqueue(
        session,
        clock,
        kind="case_card_edit",
        method="editMessageText",
        chat_id=case.card_chat_id,
        is_group=True,
        dedup_key=f"case:{case.id}:refresh:{case.status}:{case.assignee_id or 0}",
        payload={
            "message_id": case.card_message_id,
            **outbox.message_payload(text, reply_markup=markup),
        },
        case_id=case.id,
    )


async def bind_officer_chat(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, identity: Identity, chat_id: int
) -> tuple[Community, int]:
    """Make this group the community's officer chat (officer/admin only) and post the
    cards of open cases not posted yet. Returns the community and the cards queued."""
    community_id = identity.acting_community_id(OFFICER_ROLES)
    if community_id is None:
        raise NotAllowed("cases.bind_not_allowed")
    # The officers' chat gets case cards: never a group where residents are (R-WHERE).
    owners = await session.scalar(
        select(GroupChat.id).where(GroupChat.chat_id == chat_id, GroupChat.active.is_(True))
    )
    if owners is not None:
        raise DomainError("privacy.officers_chat_is_owners_group")
    community = await session.get(Community, community_id)
    assert community is not None
    old = community.officer_chat_id
    community.officer_chat_id = chat_id
    await audit.record(
        session, at=clock.now(), actor=identity.person, actor_telegram_id=identity.telegram_user_id,
        action="officer_chat.bind", entity="community", entity_id=community.id,
        details={"chat_id": chat_id, "previous": old},
    )  # fmt: skip
    queued = 0
    for case in await list_open_cases(session, community.id):
        if await queue_card(session, clock, catalog, case):
            queued += 1
    return community, queued


async def list_open_cases(
    session: AsyncSession,
    community_id: int,
    *,
    compound_id: int | None = None,
    grid_id: int | None = None,
    kind: str | None = None,
) -> list[Case]:
    """Open (not resolved) cases, urgent first, then oldest first."""
    query = select(Case).where(
        Case.community_id == community_id, Case.status != CaseStatus.RESOLVED
    )
    if compound_id is not None:
        query = query.where(Case.compound_id == compound_id)
    if grid_id is not None:
        query = query.where(Case.grid_id == grid_id)
    if kind is not None:
        query = query.where(Case.kind == kind)
    return list(await session.scalars(query.order_by(Case.urgent.desc(), Case.id)))


async def realert_due(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, max_reminders: int = 3
) -> int:
    """Raise again every urgent case not acknowledged within the community's
    `case_realert_minutes` since its last alert, at most `max_reminders` times; one period
    after the last reminder the community's officers and admins (and the officers of the
    case's compound) are told privately, once, and the reminders stop. Idempotent: the
    k-th reminder has the dedup key `case:{id}:card:{k}` and the count lives on the case
    (`alert_count`: 1 for the first card, k + 1 after the k-th reminder)."""
    now = clock.now()
    raised = 0
    rows = await session.execute(
        select(Case, Community)
        .join(Community, Community.id == Case.community_id)
        .where(
            Case.urgent.is_(True),
            Case.status == CaseStatus.OPEN,
            Case.alert_count <= max_reminders + 1,
            Community.officer_chat_id.is_not(None),
        )
    )
    for case, community in rows.all():
        last = case.last_alert_at or case.created_at
        if now - last < timedelta(minutes=community.case_realert_minutes):
            continue
        reminder = max(case.alert_count, 1)
        if reminder > max_reminders:
            await _escalate(session, clock, catalog, case, reminders=max_reminders)
            action = "escalate"
        else:
            await queue_card(
                session, clock, catalog, case, realert=reminder, realert_max=max_reminders,
                minutes=community.case_realert_minutes,
            )  # fmt: skip
            action = "realert"
        case.alert_count = reminder + 1
        case.last_alert_at = now
        session.add(CaseEvent(case_id=case.id, action=action, at=now))
        await audit.record(
            session, at=now, action=f"case.{action}", entity="case", entity_id=case.id,
            details={"count": case.alert_count},
        )  # fmt: skip
        raised += 1
    return raised


async def _escalate(
    session: AsyncSession, clock: Clock, catalog: Catalog, case: Case, *, reminders: int
) -> int:
    """The full card, privately, to every officer and admin of the community and every
    officer of the case's compound (roles from the DB), in their language."""
    community = await session.get(Community, case.community_id)
    scopes = [and_(RoleGrant.scope_type == ScopeType.COMMUNITY,
                   RoleGrant.scope_id == case.community_id)]  # fmt: skip
    if case.compound_id is not None:
        scopes.append(
            and_(RoleGrant.scope_type == ScopeType.COMPOUND, RoleGrant.scope_id == case.compound_id)
        )
    people = (
        await session.scalars(
            select(Person)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(
                RoleGrant.revoked_at.is_(None),
                RoleGrant.role.in_(OFFICER_ROLES),
                or_(*scopes),
                Person.telegram_user_id.is_not(None),
            )
            .distinct()
            .order_by(Person.id)
        )
    ).all()

    async def escalated_card(locale: str) -> tuple[str, Markup | None]:
        text, markup = await render_card(session, clock, catalog, case, full=True, locale=locale)
        header = catalog.render(locale, "cases.escalated", id=case.id, reminders=reminders)
        return header + "\n\n" + text, markup

    default = community.locale if community else "zh-CN"
    cards = await rendered_for(session, people, default, escalated_card)
    queued = 0
    for person in people:
        assert person.telegram_user_id is not None
        text, markup = cards[person.id]
        if await outbox.enqueue(
            session,
            clock,
            kind="case_private",
            chat_id=person.telegram_user_id,
            dedup_key=f"case:{case.id}:escalated:{person.id}",
            payload=outbox.message_payload(text, reply_markup=markup),
            case_id=case.id,
            person_id=person.id,
        ):
            queued += 1
    return queued
