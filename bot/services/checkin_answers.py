"""Check-ins, answering: who may answer what, recording an answer and after.

Split from bot/services/checkins.py (which re-exports every name)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.clock import Clock, local_now
from bot.db.models import (
    CaseKind,
    CheckIn,
    CheckInStatus,
    Community,
    Isolation,
    IsolationStatus,
    Person,
)
from bot.services import audit, case_text
from bot.services.cases import open_case
from bot.services.checkin_common import (
    ANSWER_FEVER,
    can_answer_for,
)
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import PREFETCHED_CHECKIN
from messages import Catalog

# --------------------------------------------------------------------------- answering


@dataclass(frozen=True)
class Answer:
    """A recorded answer and what followed from it."""

    checkin: CheckIn
    person: Person
    community: Community
    fever: bool
    symptom: bool
    case_id: int | None


@dataclass(frozen=True)
class PendingCheckin:
    checkin_id: int
    person_id: int
    name: str


async def _load(
    session: AsyncSession, checkin_id: int
) -> tuple[CheckIn, Isolation, Person, Community]:
    """The check-in with its isolation, person and community: the row the identity
    middleware read with the actor for this button (same transaction, no second
    query), else one query."""
    prefetched = session.info.pop(PREFETCHED_CHECKIN, None)
    if prefetched is not None and prefetched[0] == checkin_id:
        return prefetched[1]  # type: ignore[no-any-return]
    row = (
        await session.execute(
            select(CheckIn, Isolation, Person, Community)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .join(Person, Person.id == Isolation.person_id)
            .join(Community, Community.id == Isolation.community_id)
            .where(CheckIn.id == checkin_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("checkin.not_found")
    return row[0], row[1], row[2], row[3]


async def answerable(
    session: AsyncSession, clock: Clock, *, checkin_id: int, actor: Person
) -> tuple[CheckIn, Isolation, Person, Community]:
    """The check-in if `actor` may answer it now; DomainError (with a message key) if
    it is someone else's, of another day, or already answered."""
    checkin, isolation, person, community = await _load(session, checkin_id)
    if not can_answer_for(actor, person):
        raise NotAllowed("checkin.not_yours")
    today = local_now(clock, community.timezone).date()
    if checkin.status == CheckInStatus.ANSWERED:
        raise DomainError("checkin.already_answered", name=person.name)
    if (
        isolation.status != IsolationStatus.ACTIVE
        or checkin.day != today
        or checkin.status != CheckInStatus.PENDING
    ):
        raise DomainError("checkin.day_over")
    return checkin, isolation, person, community


async def answer_checkin(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    checkin_id: int,
    actor: Person,
    temperature: Decimal | None = None,
    symptoms: Sequence[str] = (),
) -> Answer:
    """Record today's answer for one person (by them or the family member who reports
    for them). A temperature at or above the community's threshold, or any symptom,
    opens an urgent case at once. Refuses answers for another day and second answers."""
    checkin, isolation, person, community = await answerable(
        session, clock, checkin_id=checkin_id, actor=actor
    )
    now = clock.now()
    # Conditional update: of two simultaneous answers, exactly one wins.
    if not await _record_answer(
        session, checkin.id, actor, now, temperature, list(symptoms), community.id
    ):
        raise DomainError("checkin.already_answered", name=person.name)
    # What the statement wrote, without reading it back (and without marking it dirty).
    for name, value in (
        ("status", CheckInStatus.ANSWERED.value),
        ("temperature", temperature),
        ("symptoms", list(symptoms)),
        ("answered_at", now),
        ("answered_by_id", actor.id),
    ):
        set_committed_value(checkin, name, value)
    fever = (temperature is not None and temperature >= community.fever_threshold) or (
        ANSWER_FEVER in symptoms
    )
    symptom = any(s != ANSWER_FEVER for s in symptoms)
    case_id = None
    if fever or symptom:
        summary = case_text.summary_details(
            catalog,
            community.locale,
            "checkin.case_summary",
            {
                "temperature": str(temperature) if temperature is not None else "",
                "symptoms": [case_text.label(f"checkin.symptom_{s}") for s in symptoms],
                "day_number": checkin.day_number,
            },
        )
        case = await open_case(
            session,
            clock,
            catalog,
            community_id=community.id,
            kind=CaseKind.FEVER if fever else CaseKind.SYMPTOM,
            urgent=True,
            household_id=person.household_id,
            subject_id=person.id,
            reporter_id=actor.id,
            isolation_id=isolation.id,
            details=summary,
            dedup_key=f"checkin:{checkin.id}:case",
            actor=actor,
        )
        case_id = case.id
    return Answer(checkin, person, community, fever, symptom, case_id)


_checkins_t: Table = CheckIn.__table__  # type: ignore[assignment]
# Built once (a reused statement keeps its compiled form and cache key): the answer,
# only while the check-in is pending.
_ANSWER = (
    update(_checkins_t)
    .where(
        _checkins_t.c.id == bindparam("checkin_id"),
        _checkins_t.c.status == CheckInStatus.PENDING.value,
    )
    .values(
        status=CheckInStatus.ANSWERED.value,
        temperature=bindparam("temperature"),
        symptoms=bindparam("symptoms"),
        answered_at=bindparam("at"),
        answered_by_id=bindparam("actor_id"),
    )
    .returning(_checkins_t.c.id)
)


async def _record_answer(
    session: AsyncSession,
    checkin_id: int,
    actor: Person,
    now: datetime,
    temperature: Decimal | None,
    symptoms: list[str],
    community_id: int,
) -> bool:
    """Set the answer if the check-in is still pending, and append its entry to the
    audit chain (`audit.record`: hashed, of the check-in's community). False when it
    was no longer pending (nothing written)."""
    params = {
        "checkin_id": checkin_id,
        "temperature": temperature,
        "symptoms": symptoms,
        "at": now,
        "actor_id": actor.id,
    }
    if (await session.execute(_ANSWER, params)).first() is None:
        return False
    await audit.record(
        session,
        at=now,
        action="checkin.answer",
        entity="checkin",
        entity_id=checkin_id,
        actor=actor,
        details={
            "temperature": str(temperature) if temperature is not None else None,
            "symptoms": symptoms,
        },
        community_id=community_id,
    )
    return True


async def pending_today(session: AsyncSession, clock: Clock, actor: Person) -> list[PendingCheckin]:
    """Today's unanswered check-ins this person answers: their own and those of the
    household members without Telegram they report for."""
    if actor.household_id is None:
        people = [actor]
    else:
        people = [
            p
            for p in await session.scalars(
                select(Person)
                .where(Person.household_id == actor.household_id)
                .order_by(Person.id)  # the buttons' order: the same on every database
            )
            if can_answer_for(actor, p)
        ]
    found: list[PendingCheckin] = []
    for person in people:
        row = (
            await session.execute(
                select(CheckIn.id, CheckIn.day, Community.timezone)
                .join(Isolation, Isolation.id == CheckIn.isolation_id)
                .join(Community, Community.id == Isolation.community_id)
                .where(
                    Isolation.person_id == person.id,
                    Isolation.status == IsolationStatus.ACTIVE,
                    CheckIn.status == CheckInStatus.PENDING,
                )
                .order_by(CheckIn.day.desc())
                .limit(1)
            )
        ).one_or_none()
        if row is not None and row[1] == local_now(clock, row[2]).date():
            found.append(PendingCheckin(row[0], person.id, person.name))
    return found
