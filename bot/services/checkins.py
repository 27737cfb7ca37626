"""Daily health check-ins of people in home isolation (R-CHK, R-ISO, R-END).

Everything here decides from the injected clock in the *community's* time zone and
from durable rows, so a task that runs twice, or after the bot was down for days,
does no harm:

- one CheckIn row per (isolation, day), inserted in bulk with ON CONFLICT DO NOTHING;
- past days that were never answered are MISSED (rows are created for them too);
- prompts, reminders and release messages are outbox rows with dedup keys;
- cases (missed check-ins, unreachable) carry dedup keys as well.

The first monitored day is the later of the arrival date (day 1) and the local date
the isolation was recorded: a return reported three days late does not count three
misses the resident could never have answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock, local_now
from bot.db.models import (
    Building,
    Case,
    CaseKind,
    CheckIn,
    CheckInStatus,
    Community,
    Compound,
    Delivery,
    DeliveryStatus,
    Household,
    Isolation,
    IsolationStatus,
    Person,
    Unit,
)
from bot.parsing import parse_id
from bot.services import audit, outbox
from bot.services.cases import open_case
from bot.services.errors import DomainError, NotAllowed, NotFound
from messages import Catalog

PROMPT = "checkin_prompt"
REMINDER = "checkin_reminder"
RELEASE = "isolation_release"
# Answers a button can give; "fever" and "other" are symptoms and escalate at once.
ANSWER_NORMAL = "normal"
ANSWER_FEVER = "fever"
ANSWER_OTHER = "other"
ANSWERS = (ANSWER_NORMAL, ANSWER_FEVER, ANSWER_OTHER)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


def prompt_key(checkin_id: int) -> str:
    return f"checkin:{checkin_id}:prompt"


def reminder_key(checkin_id: int, slot: str) -> str:
    return f"checkin:{checkin_id}:reminder:{slot}"


def parse_slot(value: str) -> time:
    """A reminder time "HH:MM" (a community setting)."""
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes))


# --------------------------------------------------------------------------- recipients


@dataclass(frozen=True)
class Recipient:
    """Who gets the messages about a person: the person, or (without Telegram) the
    family member who reports for them."""

    person_id: int
    chat_id: int
    locale: str
    for_member: bool


async def recipients(
    session: AsyncSession, person_ids: Iterable[int], default_locale: str
) -> dict[int, Recipient]:
    """The recipient of each person: themself when they have Telegram, otherwise the
    member who reported them, otherwise the household's head (with Telegram)."""
    ids = list(set(person_ids))
    found: dict[int, Recipient] = {}
    if not ids:
        return found
    people: list[tuple[int, int | None, int | None, int | None, str | None]] = []
    for chunk in _chunks(ids, 5000):
        rows = await session.execute(
            select(
                Person.id,
                Person.telegram_user_id,
                Person.reported_by_id,
                Person.household_id,
                Person.language,
            ).where(Person.id.in_(chunk))
        )
        people.extend(tuple(r) for r in rows)  # type: ignore[misc]
    without = [p for p in people if p[1] is None]
    for pid, tg, _, _, language in people:
        if tg is not None:
            found[pid] = Recipient(pid, tg, language or default_locale, False)
    if not without:
        return found
    reporters = {p[2] for p in without if p[2] is not None}
    households = {p[3] for p in without if p[3] is not None}
    by_id: dict[int, tuple[int, str | None]] = {}
    heads: dict[int, tuple[int, int, str | None]] = {}
    if reporters:
        for pid, tg, language in await session.execute(
            select(Person.id, Person.telegram_user_id, Person.language).where(
                Person.id.in_(reporters), Person.telegram_user_id.is_not(None)
            )
        ):
            if tg is not None:
                by_id[pid] = (tg, language)
    if households:
        candidates = await session.execute(
            select(Person.household_id, Person.id, Person.telegram_user_id, Person.language)
            .where(Person.household_id.in_(households), Person.telegram_user_id.is_not(None))
            .order_by(Person.is_head.desc(), Person.id)
        )
        for hid, pid, tg, language in candidates:
            if hid is not None and tg is not None:
                heads.setdefault(hid, (pid, tg, language))
    for pid, _, reporter, household, _ in without:
        if reporter is not None and reporter in by_id:
            tg, language = by_id[reporter]
            found[pid] = Recipient(reporter, tg, language or default_locale, True)
        elif household is not None and household in heads:
            head_id, tg, language = heads[household]
            found[pid] = Recipient(head_id, tg, language or default_locale, True)
    return found


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def can_answer_for(actor: Person, person: Person) -> bool:
    """The person themself, or for a member without Telegram the member who reported
    them or the head of their household."""
    if actor.id == person.id:
        return True
    if person.telegram_user_id is not None or person.household_id is None:
        return False
    return actor.household_id == person.household_id and (
        actor.is_head or person.reported_by_id == actor.id
    )


# --------------------------------------------------------------------------- the daily run


@dataclass
class DailyRun:
    """What one run did for one community (for logs, tests and the bench)."""

    created: int = 0
    missed: int = 0
    prompted: int = 0
    reminded: int = 0
    released: int = 0
    cases: list[int] = field(default_factory=list)


class PromptMarkup:
    """The prompt's buttons, rendered once per locale: building 50,000 prompts must
    not render the same four labels 200,000 times."""

    def __init__(self, catalog: Catalog) -> None:
        from bot.presentation.callbacks import CheckinCb

        self.catalog = catalog
        self._labels: dict[str, dict[str, str]] = {}
        # "ci:normal:0" -> "ci:normal:" + id: aiogram's packing, without a model per row.
        self._prefix = {
            a: CheckinCb(answer=a, checkin_id=0).pack()[:-1] for a in (*ANSWERS, "type")
        }

    def __call__(self, locale: str, checkin_id: int) -> dict[str, Any]:
        labels = self._labels.get(locale)
        if labels is None:
            labels = {
                key: self.catalog.render(locale, f"checkin.button_{key}")
                for key in ("normal", "fever", "other", "type")
            }
            self._labels[locale] = labels

        def button(key: str, answer: str) -> dict[str, str]:
            return {"text": labels[key], "callback_data": f"{self._prefix[answer]}{checkin_id}"}

        return {
            "inline_keyboard": [
                [button("normal", ANSWER_NORMAL)],
                [button("fever", ANSWER_FEVER), button("other", ANSWER_OTHER)],
                [button("type", "type")],
            ]
        }


async def _enqueue_many(session: AsyncSession, clock: Clock, rows: list[dict[str, Any]]) -> int:
    """Kept for callers of the old name: the one writer is `outbox.enqueue_many`."""
    return await outbox.enqueue_many(session, clock, rows)


async def _insert_ignoring_conflicts(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], keys: list[str]
) -> int:
    """INSERT … ON CONFLICT DO NOTHING for many rows; returns how many were inserted.

    RETURNING makes SQLAlchemy batch the rows into multi-row VALUES statements
    ("insertmanyvalues", 1000 rows a statement) on both SQLite and PostgreSQL instead
    of one round trip per row; a concurrent run inserts nothing twice."""
    statement = (
        _insert(session)(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
    )
    result = await session.execute(statement, rows)
    return len(result.all())


async def prepare_checkins(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> DailyRun:
    """Create the check-in rows that are due (past days as MISSED, today's as PENDING
    once the check-in time has passed) and queue today's prompts. Set-based: a few
    statements whatever the number of isolations."""
    run = DailyRun()
    now_local = local_now(clock, community.timezone)
    today = now_local.date()
    zone = ZoneInfo(community.timezone)
    in_community = select(Isolation.id).where(Isolation.community_id == community.id)

    result = await session.execute(
        update(CheckIn)
        .where(
            CheckIn.status == CheckInStatus.PENDING,
            CheckIn.day < today,
            CheckIn.isolation_id.in_(in_community),
        )
        .values(status=CheckInStatus.MISSED.value)
        .execution_options(synchronize_session=False)
    )
    run.missed += int(getattr(result, "rowcount", 0) or 0)
    # Yesterday's prompts that never went out (the bot was down) must not go out today.
    await session.execute(
        update(Delivery)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.kind.in_((PROMPT, REMINDER)),
            Delivery.checkin_id.in_(
                select(CheckIn.id).where(
                    CheckIn.day < today, CheckIn.isolation_id.in_(in_community)
                )
            ),
        )
        .values(status=DeliveryStatus.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )

    last_due = today if now_local.time() >= community.checkin_time else today - timedelta(1)
    # Only isolations without the row of their latest due day need work: an index
    # lookup per isolation on (isolation_id, day), nothing when all is done already.
    due_day = case((Isolation.end_date < last_due, Isolation.end_date), else_=literal(last_due))
    missing = (
        await session.execute(
            select(
                Isolation.id, Isolation.start_date, Isolation.end_date, Isolation.created_at
            ).where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                Isolation.start_date <= last_due,
                ~exists().where(CheckIn.isolation_id == Isolation.id, CheckIn.day == due_day),
            )
        )
    ).all()
    last_days: dict[int, date] = {}
    for chunk in _chunks([m[0] for m in missing], 5000):
        for iso_id, latest in await session.execute(
            select(CheckIn.isolation_id, func.max(CheckIn.day))
            .where(CheckIn.isolation_id.in_(chunk))
            .group_by(CheckIn.isolation_id)
        ):
            if latest is not None:
                last_days[iso_id] = latest
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for iso_id, start, end, created_at in missing:
        last_day = last_days.get(iso_id)
        first = max(start, created_at.astimezone(zone).date())
        begin = last_day + timedelta(1) if last_day is not None else first
        upto = min(last_due, end)
        day = begin
        while day <= upto:
            status = CheckInStatus.PENDING if day == today else CheckInStatus.MISSED
            rows.append(
                {
                    "isolation_id": iso_id,
                    "day": day,
                    "day_number": (day - start).days + 1,
                    "status": status.value,
                    "symptoms": [],
                    "reminders_sent": 0,
                    "created_at": now,
                }
            )
            day += timedelta(1)
    if rows:
        run.created = await _insert_ignoring_conflicts(
            session, CheckIn.__table__, rows, ["isolation_id", "day"]
        )
        run.missed += sum(1 for r in rows if r["status"] == CheckInStatus.MISSED)
    run.prompted = await _queue_prompts(session, clock, catalog, community, today)
    return run


def _no_delivery(key: Any) -> Any:
    return ~exists().where(Delivery.dedup_key == key)


async def _queue_prompts(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community, today: date
) -> int:
    key = literal("checkin:") + cast(CheckIn.id, String(20)) + literal(":prompt")
    due = (
        await session.execute(
            select(CheckIn.id, CheckIn.day_number, Isolation.end_date, Person.id, Person.name)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .join(Person, Person.id == Isolation.person_id)
            .where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                CheckIn.day == today,
                CheckIn.status == CheckInStatus.PENDING,
                _no_delivery(key),
            )
        )
    ).all()
    if not due:
        return 0
    to = await recipients(session, (r[3] for r in due), community.locale)
    markup = PromptMarkup(catalog)
    deliveries: list[dict[str, Any]] = []
    for checkin_id, day_number, end_date, person_id, name in due:
        recipient = to.get(person_id)
        if recipient is None:
            continue  # nobody with Telegram: the officers' views list them as pending
        text = catalog.render(
            recipient.locale,
            "checkin.prompt",
            name=name,
            member=recipient.for_member,
            day_number=day_number,
            end_date=end_date.isoformat(),
        )
        payload: dict[str, Any] = {
            "text": text,
            "parse_mode": "HTML",
            "reply_markup": markup(recipient.locale, checkin_id),
        }
        deliveries.append(
            {
                "kind": PROMPT,
                "chat_id": recipient.chat_id,
                "payload": payload,
                "dedup_key": prompt_key(checkin_id),
                "checkin_id": checkin_id,
                "person_id": recipient.person_id,
            }
        )
    return await _enqueue_many(session, clock, deliveries)


async def send_reminders(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> int:
    """Remind those who have not answered today, at the latest reminder time that has
    passed. Only check-ins prompted before that time are reminded (after downtime the
    prompt and a reminder do not arrive together), and each slot at most once."""
    now_local = local_now(clock, community.timezone)
    slots = []
    for value in community.reminder_times or []:
        slot = parse_slot(value)
        if community.checkin_time < slot <= now_local.time():
            slots.append((slot, value))
    if not slots:
        return 0
    slot, label = max(slots)
    today = now_local.date()
    slot_at = datetime.combine(today, slot, tzinfo=ZoneInfo(community.timezone))
    key = literal("checkin:") + cast(CheckIn.id, String(20)) + literal(f":reminder:{label}")
    due = (
        await session.execute(
            select(CheckIn.id, Person.id, Person.name)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .join(Person, Person.id == Isolation.person_id)
            .where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                CheckIn.day == today,
                CheckIn.status == CheckInStatus.PENDING,
                CheckIn.created_at < slot_at,
                _no_delivery(key),
            )
        )
    ).all()
    if not due:
        return 0
    to = await recipients(session, (r[1] for r in due), community.locale)
    markup = PromptMarkup(catalog)
    deliveries: list[dict[str, Any]] = []
    for checkin_id, person_id, name in due:
        recipient = to.get(person_id)
        if recipient is None:
            continue
        text = catalog.render(
            recipient.locale, "checkin.reminder", name=name, member=recipient.for_member
        )
        deliveries.append(
            {
                "kind": REMINDER,
                "chat_id": recipient.chat_id,
                "payload": {
                    "text": text,
                    "parse_mode": "HTML",
                    "reply_markup": markup(recipient.locale, checkin_id),
                },
                "dedup_key": reminder_key(checkin_id, label),
                "checkin_id": checkin_id,
                "person_id": recipient.person_id,
            }
        )
    await _enqueue_many(session, clock, deliveries)
    await session.execute(
        update(CheckIn)
        .where(CheckIn.id.in_([d["checkin_id"] for d in deliveries]))
        .values(reminders_sent=CheckIn.reminders_sent + 1)
        .execution_options(synchronize_session=False)
    )
    return len(deliveries)


async def escalate_misses(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> list[int]:
    """After `misses_for_case` consecutive missed days, a missed_checkin case (once per
    streak: the dedup key names the streak's first day)."""
    today = local_now(clock, community.timezone).date()
    yesterday = today - timedelta(1)
    candidates = (
        await session.scalars(
            select(CheckIn.isolation_id)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                CheckIn.day == yesterday,
                CheckIn.status == CheckInStatus.MISSED,
            )
        )
    ).all()
    opened: list[int] = []
    needed = max(1, community.misses_for_case)
    for iso_id in candidates:
        days = (
            await session.execute(
                select(CheckIn.day, CheckIn.status)
                .where(CheckIn.isolation_id == iso_id, CheckIn.day < today)
                .order_by(CheckIn.day.desc())
                .limit(needed + 60)
            )
        ).all()
        streak = 0
        streak_start = yesterday
        for day, status in days:
            if status != CheckInStatus.MISSED:
                break
            streak, streak_start = streak + 1, day
        if streak < needed:
            continue
        dedup = f"missed:{iso_id}:{streak_start.isoformat()}"
        if await session.scalar(select(Case.id).where(Case.dedup_key == dedup)) is not None:
            continue
        isolation = await session.get(Isolation, iso_id)
        person = await session.get(Person, isolation.person_id) if isolation else None
        if isolation is None or person is None:
            continue
        summary = catalog.render(
            community.locale, "checkin.case_missed", days=streak, since=streak_start.isoformat()
        )
        case = await open_case(
            session,
            clock,
            catalog,
            community_id=community.id,
            kind=CaseKind.MISSED_CHECKIN,
            urgent=False,
            household_id=person.household_id,
            subject_id=person.id,
            isolation_id=iso_id,
            details={"summary": summary, "missed": streak},
            dedup_key=dedup,
        )
        opened.append(case.id)
    return opened


async def release_due(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> int:
    """Release every active isolation whose last day has ended (local date > end_date)."""
    today = local_now(clock, community.timezone).date()
    due = (
        await session.scalars(
            select(Isolation).where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                Isolation.end_date < today,
            )
        )
    ).all()
    if not due:
        return 0
    now = clock.now()
    found = await session.execute(
        select(Person.id, Person.name).where(Person.id.in_([i.person_id for i in due]))
    )
    names: dict[int, str] = dict(found.all())
    to = await recipients(session, (i.person_id for i in due), community.locale)
    for isolation in due:
        isolation.status = IsolationStatus.RELEASED.value
        isolation.ended_at = now
        await audit.record(
            session,
            at=now,
            action="isolation.release",
            entity="isolation",
            entity_id=isolation.id,
            details={"end": isolation.end_date.isoformat()},
        )
        recipient = to.get(isolation.person_id)
        if recipient is None:
            continue
        text = catalog.render(
            recipient.locale,
            "checkin.released",
            name=names.get(isolation.person_id, ""),
            member=recipient.for_member,
            end_date=isolation.end_date.isoformat(),
        )
        await outbox.enqueue(
            session,
            clock,
            kind=RELEASE,
            chat_id=recipient.chat_id,
            dedup_key=f"isolation:{isolation.id}:release",
            payload=outbox.message_payload(text),
            person_id=recipient.person_id,
        )
    return len(due)


async def escalate_unreachable(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> list[int]:
    """A person in active isolation whom the bot cannot reach (403: they, or the family
    member who answers for them, blocked the bot) becomes a case for the grid worker."""
    reporter = aliased(Person)
    rows = (
        await session.execute(
            select(Isolation.id, Person.id, Person.household_id)
            .join(Person, Person.id == Isolation.person_id)
            .outerjoin(reporter, reporter.id == Person.reported_by_id)
            .where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                (Person.unreachable_since.is_not(None))
                | and_(Person.telegram_user_id.is_(None), reporter.unreachable_since.is_not(None)),
            )
        )
    ).all()
    opened: list[int] = []
    for iso_id, person_id, household_id in rows:
        dedup = f"unreachable:{iso_id}"
        if await session.scalar(select(Case.id).where(Case.dedup_key == dedup)) is not None:
            continue
        case = await open_case(
            session,
            clock,
            catalog,
            community_id=community.id,
            kind=CaseKind.UNREACHABLE,
            urgent=False,
            household_id=household_id,
            subject_id=person_id,
            isolation_id=iso_id,
            details={"summary": catalog.render(community.locale, "checkin.case_unreachable")},
            dedup_key=dedup,
        )
        opened.append(case.id)
    return opened


async def run_for_community(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> DailyRun:
    """One tick's work for one community, in the order that keeps days right:
    rows and misses first, then reminders, escalations, and last the releases."""
    run = await prepare_checkins(session, clock, catalog, community)
    run.reminded = await send_reminders(session, clock, catalog, community)
    run.cases = await escalate_misses(session, clock, catalog, community)
    run.cases += await escalate_unreachable(session, clock, catalog, community)
    run.released = await release_due(session, clock, catalog, community)
    return run


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
    result = await session.execute(
        update(CheckIn)
        .where(CheckIn.id == checkin.id, CheckIn.status == CheckInStatus.PENDING)
        .values(
            status=CheckInStatus.ANSWERED.value,
            temperature=temperature,
            symptoms=list(symptoms),
            answered_at=now,
            answered_by_id=actor.id,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise DomainError("checkin.already_answered", name=person.name)
    await session.refresh(checkin)
    await audit.record(
        session,
        at=now,
        actor=actor,
        action="checkin.answer",
        entity="checkin",
        entity_id=checkin.id,
        details={
            "temperature": str(temperature) if temperature is not None else None,
            "symptoms": list(symptoms),
        },
    )
    fever = (temperature is not None and temperature >= community.fever_threshold) or (
        ANSWER_FEVER in symptoms
    )
    symptom = any(s != ANSWER_FEVER for s in symptoms)
    case_id = None
    if fever or symptom:
        summary = catalog.render(
            community.locale,
            "checkin.case_summary",
            temperature=str(temperature) if temperature is not None else "",
            symptoms=[catalog.render(community.locale, f"checkin.symptom_{s}") for s in symptoms],
            day_number=checkin.day_number,
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
            details={"summary": summary},
            dedup_key=f"checkin:{checkin.id}:case",
            actor=actor,
        )
        case_id = case.id
    return Answer(checkin, person, community, fever, symptom, case_id)


async def pending_today(session: AsyncSession, clock: Clock, actor: Person) -> list[PendingCheckin]:
    """Today's unanswered check-ins this person answers: their own and those of the
    household members without Telegram they report for."""
    if actor.household_id is None:
        people = [actor]
    else:
        people = [
            p
            for p in await session.scalars(
                select(Person).where(Person.household_id == actor.household_id)
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


# --------------------------------------------------------------------------- officer views


@dataclass(frozen=True)
class IsolationLine:
    isolation: Isolation
    person: Person
    compound: str
    address: str
    today_status: str | None


async def isolations_of(
    session: AsyncSession, clock: Clock, community: Community, compound: str | None = None
) -> list[IsolationLine]:
    """People in active isolation, with their address and today's check-in status."""
    today = local_now(clock, community.timezone).date()
    statement = (
        select(
            Isolation,
            Person,
            Compound.name,
            Building.name,
            Unit.name,
            Household.room,
            CheckIn.status,
        )
        .join(Person, Person.id == Isolation.person_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Unit, Unit.id == Household.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .outerjoin(Compound, Compound.id == Building.compound_id)
        .outerjoin(CheckIn, and_(CheckIn.isolation_id == Isolation.id, CheckIn.day == today))
        .where(Isolation.community_id == community.id, Isolation.status == IsolationStatus.ACTIVE)
        .order_by(Compound.name, Building.name, Unit.name, Household.room, Person.id)
    )
    if compound:
        statement = statement.where(Compound.name == compound)
    lines = []
    for isolation, person, comp, building, unit, room, status in await session.execute(statement):
        address = " ".join(x for x in (comp, building, unit, room) if x)
        lines.append(IsolationLine(isolation, person, comp or "", address, status))
    return lines


@dataclass
class CompoundStatus:
    compound: str
    answered: int = 0
    pending: int = 0
    missed: int = 0
    not_prepared: int = 0
    pending_names: list[str] = field(default_factory=list)


async def checkin_status(
    session: AsyncSession, clock: Clock, community: Community, compound: str | None = None
) -> list[CompoundStatus]:
    """Today's check-in status per compound (answered / pending / missed) and who is
    still pending. Before the check-in time, people are counted as not yet prompted."""
    by_compound: dict[str, CompoundStatus] = {}
    for line in await isolations_of(session, clock, community, compound):
        entry = by_compound.setdefault(line.compound, CompoundStatus(line.compound))
        if line.today_status == CheckInStatus.ANSWERED:
            entry.answered += 1
        elif line.today_status == CheckInStatus.MISSED:
            entry.missed += 1
        elif line.today_status == CheckInStatus.PENDING:
            entry.pending += 1
            entry.pending_names.append(line.person.name)
        else:
            entry.not_prepared += 1
    return list(by_compound.values())


async def find_isolations(
    session: AsyncSession, community: Community, query: str
) -> list[tuple[Isolation, Person]]:
    """Active isolations of the person with this id, or whose name matches."""
    statement = (
        select(Isolation, Person)
        .join(Person, Person.id == Isolation.person_id)
        .where(Isolation.community_id == community.id, Isolation.status == IsolationStatus.ACTIVE)
    )
    query = query.strip()
    if query.isdigit():
        statement = statement.where(Person.id == parse_id(query))
    else:
        statement = statement.where(Person.name.contains(query, autoescape=True))
    return [(i, p) for i, p in await session.execute(statement.limit(10))]


async def isolation_with_person(
    session: AsyncSession, isolation_id: int
) -> tuple[Isolation, Person]:
    row = (
        await session.execute(
            select(Isolation, Person)
            .join(Person, Person.id == Isolation.person_id)
            .where(Isolation.id == isolation_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("isolation.not_found")
    return row[0], row[1]


async def in_isolation(session: AsyncSession, actor: Person) -> bool:
    """Whether the actor, or a member they answer for, is in active isolation."""
    people = [actor.id]
    if actor.household_id is not None:
        people += [
            p.id
            for p in await session.scalars(
                select(Person).where(Person.household_id == actor.household_id)
            )
            if can_answer_for(actor, p)
        ]
    found = await session.scalar(
        select(Isolation.id)
        .where(Isolation.person_id.in_(people), Isolation.status == IsolationStatus.ACTIVE)
        .limit(1)
    )
    return found is not None


async def officer_end(
    session: AsyncSession,
    clock: Clock,
    *,
    isolation_id: int,
    actor: Person,
    status: IsolationStatus,
    reason: str,
) -> Isolation:
    """End an isolation early or record a transfer to hospital, with who and why."""
    isolation = await session.get(Isolation, isolation_id)
    if isolation is None:
        raise NotFound("isolation.not_found")
    if isolation.status != IsolationStatus.ACTIVE:
        raise DomainError("isolation.not_active")
    now = clock.now()
    isolation.status = status.value
    isolation.ended_at = now
    isolation.ended_by_id = actor.id
    isolation.end_reason = reason
    await audit.record(
        session,
        at=now,
        actor=actor,
        action=f"isolation.{status.value}",
        entity="isolation",
        entity_id=isolation.id,
        details={"reason": reason},
    )
    return isolation


async def officer_extend(
    session: AsyncSession, clock: Clock, *, isolation_id: int, actor: Person, days: int
) -> Isolation:
    """Extend an active isolation by `days` (1–30), recorded with who."""
    if not 1 <= days <= 30:
        raise DomainError("isolation.bad_days")
    isolation = await session.get(Isolation, isolation_id)
    if isolation is None:
        raise NotFound("isolation.not_found")
    if isolation.status != IsolationStatus.ACTIVE:
        raise DomainError("isolation.not_active")
    old = isolation.end_date
    isolation.end_date = old + timedelta(days=days)
    await audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="isolation.extend",
        entity="isolation",
        entity_id=isolation.id,
        details={"from": old.isoformat(), "to": isolation.end_date.isoformat(), "days": days},
    )
    return isolation
