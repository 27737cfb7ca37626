"""Deletion requests and consent withdrawal (R-PRIV, issue 11).

A resident asks for deletion (/forgetme) or withdraws consent (/withdraw). Either makes
an open DataRequest for their household; a withdrawal also records "not granted" for
every purpose, and from that moment the household's check-ins stop (officers are told,
privately, with the address, because they may need to follow an isolation by phone).

The request is carried out when nothing legally open remains (no active isolation and
no open case about the household), either when an officer confirms it (button sent to
the community's officers and admins in private) or automatically DELETION_AUTO_DAYS
after it was made. An officer may also decline it (the resident is told). Carrying it
out erases the resident and the members without Telegram they report for: reports,
isolations and check-ins, gate passages, consents, preferences and drafts are deleted;
cases about them lose the link to them; their person rows are blanked (kept as empty
rows so the audit log's links stay valid). The resident is told the outcome.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import (
    Case,
    CaseStatus,
    CheckIn,
    Consent,
    DataRequest,
    Delivery,
    FsmRecord,
    GateEntry,
    Isolation,
    IsolationStatus,
    Person,
    Report,
    Role,
    RoleGrant,
    ScopeType,
    UserPreference,
)
from bot.presentation.cards import privacy_request_markup
from bot.services import audit, outbox
from bot.services.directory import household_path
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import OFFICER_ROLES, Identity, rendered_for
from bot.services.registration import PURPOSES, consent_version
from bot.settings import Settings
from messages import Catalog

OPEN = "open"
DONE = "done"
DECLINED = "declined"
KIND_DELETION = "deletion"
KIND_WITHDRAWAL = "withdrawal"


def stopped_households() -> Any:
    """Households whose check-ins stop: an open consent withdrawal (for check-in queries)."""
    return select(DataRequest.household_id).where(
        DataRequest.kind == KIND_WITHDRAWAL,
        DataRequest.status == OPEN,
        DataRequest.household_id.is_not(None),
    )


async def legally_open(
    session: AsyncSession, household_id: int | None, person_id: int
) -> list[str]:
    """What keeps the data: an active isolation or an open case about the household."""
    people = select(Person.id).where(
        or_(Person.id == person_id, Person.household_id == (household_id or -1))
    )
    reasons = []
    if await session.scalar(
        select(
            exists().where(
                Isolation.person_id.in_(people), Isolation.status == IsolationStatus.ACTIVE.value
            )
        )
    ):
        reasons.append("isolation")
    if await session.scalar(
        select(
            exists().where(
                Case.status != CaseStatus.RESOLVED.value,
                or_(Case.subject_id.in_(people), Case.household_id == (household_id or -1)),
            )
        )
    ):
        reasons.append("case")
    return reasons


async def _officers(session: AsyncSession, community_id: int) -> list[Person]:
    rows = await session.scalars(
        select(Person)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(
            RoleGrant.role.in_([Role.OFFICER.value, Role.ADMIN.value]),
            RoleGrant.scope_type == ScopeType.COMMUNITY.value,
            RoleGrant.scope_id == community_id,
            RoleGrant.revoked_at.is_(None),
            Person.telegram_user_id.is_not(None),
        )
        .order_by(Person.id)
    )
    return list(dict.fromkeys(rows))


async def request(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    settings: Settings,
    *,
    person: Person | None,
    kind: str,
    locale: str,
) -> tuple[DataRequest, list[str], bool]:
    """Open a deletion request or a withdrawal (idempotent: an open one is returned).
    Returns the request, what keeps the data now, and whether it is new."""
    if person is None or person.household_id is None or person.telegram_user_id is None:
        raise DomainError("privacy.not_registered")
    staff = await session.scalar(
        select(RoleGrant.id)
        .where(RoleGrant.person_id == person.id, RoleGrant.revoked_at.is_(None))
        .limit(1)
    )
    if staff is not None:
        # Erasing a staff member would erase who did what: roles are revoked first.
        raise DomainError("privacy.staff_first")
    now = clock.now()
    existing = await session.scalar(
        select(DataRequest).where(DataRequest.person_id == person.id, DataRequest.status == OPEN)
    )
    blockers = await legally_open(session, person.household_id, person.id)
    if existing is not None:
        if kind == KIND_WITHDRAWAL and existing.kind != KIND_WITHDRAWAL:
            # A deletion request becomes a withdrawal: processing stops now, and the
            # officers are told (the household's check-ins stop).
            existing.kind = KIND_WITHDRAWAL
            await _withdraw(session, clock, catalog, existing, person, locale)
            await _tell_officers(session, clock, catalog, existing, blockers)
        return existing, blockers, False
    path = await household_path(session, person.household_id)
    community_id = path.community.id if path else None
    req = DataRequest(
        kind=kind, status=OPEN, person_id=person.id, household_id=person.household_id,
        community_id=community_id, telegram_user_id=person.telegram_user_id, locale=locale,
        requested_at=now, due_at=now + timedelta(days=settings.deletion_auto_days),
    )  # fmt: skip
    session.add(req)
    await session.flush()
    await audit.record(
        session, at=now, actor=person, action=f"privacy.{kind}", entity="data_request",
        entity_id=req.id, details={"blocked_by": blockers},
    )  # fmt: skip
    if kind == KIND_WITHDRAWAL:
        await _withdraw(session, clock, catalog, req, person, locale)
    await _tell_officers(session, clock, catalog, req, blockers)
    return req, blockers, True


async def _withdraw(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    req: DataRequest,
    person: Person,
    locale: str,
) -> None:
    """Consent withdrawn for every purpose: recorded, and processing stops."""
    assert person.telegram_user_id is not None
    for purpose in PURPOSES:
        session.add(
            Consent(
                telegram_user_id=person.telegram_user_id, person_id=person.id,
                text_version=consent_version(purpose), locale=locale, granted=False,
                purpose=purpose, at=clock.now(),
            )
        )  # fmt: skip
    await session.flush()


async def _tell_officers(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    req: DataRequest,
    blockers: list[str],
) -> None:
    """Each officer and admin of the community gets, in private, the request with the
    address (they may have to follow an isolation by phone) and two buttons."""
    if req.community_id is None or req.household_id is None:
        return
    path = await household_path(session, req.household_id)
    address = (
        f"{path.compound.name} {path.building.name} {path.unit.name} {path.household.room}"
        if path
        else ""
    )
    officers = await _officers(session, req.community_id)

    async def request_card(locale: str) -> dict[str, Any]:
        text = catalog.render(
            locale, "privacy.officer_request", kind=req.kind, id=req.id, address=address,
            blockers=blockers, days=max(0, (req.due_at - req.requested_at).days),
        )  # fmt: skip
        markup = privacy_request_markup(catalog.translator(locale), req.id)
        return outbox.message_payload(text, reply_markup=markup)

    default = path.community.locale if path else "zh-CN"
    payloads = await rendered_for(session, officers, default, request_card)
    for officer in officers:
        assert officer.telegram_user_id is not None
        await outbox.enqueue(
            session, clock, kind="privacy_request", chat_id=officer.telegram_user_id,
            dedup_key=f"privacy:{req.id}:{req.kind}:{officer.id}",
            payload=payloads[officer.id], person_id=officer.id,
        )  # fmt: skip


async def _tell_resident(
    session: AsyncSession, clock: Clock, catalog: Catalog, req: DataRequest, blockers: list[str]
) -> None:
    if req.telegram_user_id is None:
        return
    key = f"privacy.outcome_{req.outcome}" if req.status != OPEN else "privacy.outcome_postponed"
    text = catalog.render(req.locale, key, id=req.id, blockers=blockers)
    await outbox.enqueue(
        session, clock, kind="privacy_outcome", chat_id=req.telegram_user_id,
        dedup_key=f"privacy:{req.id}:outcome:{req.status}:{','.join(blockers)}",
        payload=outbox.message_payload(text),
    )  # fmt: skip


async def erase(session: AsyncSession, clock: Clock, req: DataRequest) -> dict[str, int]:
    """Delete or blank everything about the requester and the members without Telegram
    they report for. Returns counts per table (audited, no names)."""
    person = await session.get(Person, req.person_id) if req.person_id else None
    if person is None:
        return {}
    people = [person.id]
    if person.household_id is not None:
        others_with_telegram = await session.scalar(
            select(
                exists().where(
                    Person.household_id == person.household_id,
                    Person.telegram_user_id.is_not(None),
                    Person.id != person.id,
                )
            )
        )
        # Members without Telegram go with the requester when they report for them, or
        # when nobody else in the household has Telegram.
        members_stmt = select(Person.id).where(
            Person.household_id == person.household_id,
            Person.telegram_user_id.is_(None),
            Person.id != person.id,
        )
        if others_with_telegram:
            members_stmt = members_stmt.where(Person.reported_by_id == person.id)
        members = await session.scalars(members_stmt)
        people.extend(members)
    counts: dict[str, int] = {}

    async def count(name: str, stmt: Any) -> None:
        result = await session.execute(stmt)
        counts[name] = int(getattr(result, "rowcount", 0) or 0)

    tg = person.telegram_user_id
    isolations = select(Isolation.id).where(Isolation.person_id.in_(people))
    # Cases about them keep their kind and dates only; cases they reported about
    # someone else lose only the link to the reporter.
    await count("cases_unlinked", update(Case).where(
        or_(Case.subject_id.in_(people), Case.isolation_id.in_(isolations))
    ).values(subject_id=None, reporter_id=None, isolation_id=None, report_id=None,
             details={}, household_id=None))  # fmt: skip
    await session.execute(update(Case).where(Case.reporter_id.in_(people)).values(reporter_id=None))
    await count("checkins", delete(CheckIn).where(CheckIn.isolation_id.in_(isolations)))
    await count("isolations", delete(Isolation).where(Isolation.person_id.in_(people)))
    await session.execute(
        update(Case)
        .where(Case.report_id.in_(select(Report.id).where(
            or_(Report.reporter_id.in_(people), Report.subject_id.in_(people)))))
        .values(report_id=None)
    )  # fmt: skip
    await count("reports", delete(Report).where(
        or_(Report.reporter_id.in_(people), Report.subject_id.in_(people))))  # fmt: skip
    await count("gate_entries", delete(GateEntry).where(GateEntry.person_id.in_(people)))
    await count("outbox_payloads", update(Delivery).where(Delivery.person_id.in_(people))
                .values(payload={}, person_id=None))  # fmt: skip
    if tg is not None:
        await count("consents", delete(Consent).where(
            or_(Consent.telegram_user_id == tg, Consent.person_id.in_(people))))  # fmt: skip
        await count("preferences", delete(UserPreference).where(
            UserPreference.telegram_user_id == tg))  # fmt: skip
        await count("fsm_drafts", delete(FsmRecord).where(
            or_(FsmRecord.key.contains(f":{tg}:"), FsmRecord.key.endswith(f":{tg}"))))  # fmt: skip
        await session.execute(
            update(Delivery)
            .where(Delivery.chat_id == tg, Delivery.status != "pending")
            .values(payload={})
        )
    await count("people", update(Person).where(Person.id.in_(people)).values(
        name="", phone=None, relation=None, telegram_user_id=None, household_id=None,
        language=None, reported_by_id=None, updated_at=clock.now()))  # fmt: skip
    return counts


async def _carry_out(
    session: AsyncSession, clock: Clock, catalog: Catalog, req: DataRequest, by: Person | None
) -> list[str]:
    """Erase now if nothing legally open remains; returns the blockers otherwise."""
    blockers = await legally_open(session, req.household_id, req.person_id or -1)
    if blockers:
        return blockers
    counts = await erase(session, clock, req)
    req.status, req.outcome = DONE, "erased"
    req.decided_at, req.decided_by_id = clock.now(), by.id if by else None
    req.person_id = None
    await audit.record(
        session, at=clock.now(), actor=by, action="privacy.erase", entity="data_request",
        entity_id=req.id, details={"counts": counts, "automatic": by is None},
    )  # fmt: skip
    await _tell_resident(session, clock, catalog, req, [])
    req.telegram_user_id = None
    return []


async def decide(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    request_id: int,
    confirm: bool,
) -> tuple[DataRequest, list[str]]:
    """An officer confirms (erase now, if nothing is open) or declines a request."""
    req = await session.get(DataRequest, request_id)
    if req is None:
        raise NotFound("privacy.request_unknown")
    if req.community_id is None or not identity.allows(
        OFFICER_ROLES, community_id=req.community_id
    ):
        raise NotAllowed()
    if req.status != OPEN:
        raise DomainError("privacy.request_closed", id=req.id)
    if not confirm:
        req.status, req.outcome = DECLINED, "declined"
        req.decided_at = clock.now()
        req.decided_by_id = identity.person.id if identity.person else None
        await audit.record(
            session, at=clock.now(), actor=identity.person, action="privacy.decline",
            entity="data_request", entity_id=req.id,
        )  # fmt: skip
        await _tell_resident(session, clock, catalog, req, [])
        return req, []
    blockers = await _carry_out(session, clock, catalog, req, identity.person)
    return req, blockers


async def carry_out_due(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """Requests past their automatic date, with nothing legally open, are carried out."""
    due = (
        await session.scalars(
            select(DataRequest)
            .where(DataRequest.status == OPEN, DataRequest.due_at <= clock.now())
            .order_by(DataRequest.id)
            .limit(100)
        )
    ).all()
    done = 0
    for req in due:
        blockers = await _carry_out(session, clock, catalog, req, None)
        if blockers:
            # Told once per reason: the request waits for the isolation / case to end.
            await _tell_resident(session, clock, catalog, req, blockers)
        else:
            done += 1
    return done
