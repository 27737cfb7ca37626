"""Check-ins, the daily run: rows for the day, prompts, reminders, misses, releases.

Split from bot/services/checkins.py (which re-exports every name)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    join,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock, local_now
from bot.db.models import (
    Case,
    CaseKind,
    CheckIn,
    CheckInStatus,
    Community,
    DataRequest,
    Delivery,
    DeliveryStatus,
    Isolation,
    IsolationStatus,
    Person,
)
from bot.db.session import bot_of
from bot.services import audit, case_text, checkin_daily_pg, outbox
from bot.services.cases import open_case
from bot.services.checkin_common import (
    ANSWER_FEVER,
    ANSWER_NORMAL,
    ANSWER_OTHER,
    ANSWERS,
    PROMPT,
    RELEASE,
    REMINDER,
    Recipient,
    _chunks,
    _insert,
    parse_slot,
    prompt_key,
    recipients,
    reminder_key,
)
from messages import LOCALES, Catalog

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
        self._json: dict[str, str] = {}
        # "ci:normal:0" -> "ci:normal:" + id: aiogram's packing, without a model per row.
        self._prefix = {
            a: CheckinCb(answer=a, checkin_id=0).pack()[:-1] for a in (*ANSWERS, "type")
        }

    def json(self, locale: str, checkin_id: int) -> str:
        """The same markup as JSON text, from a per-locale template (no dicts per row)."""
        shell = self._json.get(locale)
        if shell is None:
            shell = self._json[locale] = json.dumps(self(locale, -1), ensure_ascii=False)
        return shell.replace(':-1"', f':{checkin_id}"')

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
    statements whatever the number of isolations. On PostgreSQL the rows, and the
    prompts of people with Telegram of their own, are each one INSERT … SELECT
    (checkin_daily_pg); elsewhere, and for the other prompts, in chunks from here."""
    run = DailyRun()
    now_local = local_now(clock, community.timezone)
    today = now_local.date()
    zone = ZoneInfo(community.timezone)
    in_community = select(Isolation.id).where(Isolation.community_id == community.id)

    # Past days' open rows become MISSED; their prompts that never went out (the bot was
    # down) must not go out today.
    if _postgres(session):
        run.missed += await checkin_daily_pg.close_past_days(session, community.id, today=today)
    else:
        run.missed += await _close_past_days(session, in_community, today)

    last_due = today if now_local.time() >= community.checkin_time else today - timedelta(1)
    # Only isolations without the row of their latest due day need work: an index
    # lookup per isolation on (isolation_id, day), nothing when all is done already.
    due_day = case((Isolation.end_date < last_due, Isolation.end_date), else_=literal(last_due))
    needs_rows = and_(
        Isolation.community_id == community.id,
        Isolation.status == IsolationStatus.ACTIVE,
        Isolation.start_date <= last_due,
        ~exists().where(CheckIn.isolation_id == Isolation.id, CheckIn.day == due_day),
    )
    now = clock.now()
    cutoff = late_recording_cutoff(community)
    if _postgres(session):
        created, missed_days = await checkin_daily_pg.insert_due_rows(
            session, community, today=today, last_due=last_due, now=now, cutoff=cutoff
        )
        run.created, run.missed = created, run.missed + missed_days
        run.prompted = await _queue_prompts(session, clock, catalog, community, today)
        return run
    # Plain ids through Core (no ORM row processing on the event loop).
    missing_ids = list(
        await (await session.connection()).scalars(
            select(Isolation.id).where(needs_rows).order_by(Isolation.id)
        )
    )
    latest_day = (
        select(func.max(CheckIn.day))
        .where(CheckIn.isolation_id == Isolation.id)
        .correlate(Isolation)
        .scalar_subquery()
    )
    # In chunks (ranges of ids: no long IN lists), yielding to the event loop in
    # between: residents' answers keep being handled while 50,000 rows are prepared.
    for chunk in _chunks(missing_ids, DAILY_CHUNK):
        missing = (
            await (await session.connection()).execute(
                select(
                    Isolation.id,
                    Isolation.start_date,
                    Isolation.end_date,
                    Isolation.created_at,
                    latest_day,
                ).where(needs_rows, Isolation.id.between(chunk[0], chunk[-1]))
            )
        ).all()
        last_days: dict[int, date] = {m[0]: m[4] for m in missing if m[4] is not None}
        rows: list[tuple[int, date, int, str]] = []
        pending, missed = CheckInStatus.PENDING.value, CheckInStatus.MISSED.value
        for iso_id, start, end, created_at, _ in missing:
            last_day = last_days.get(iso_id)
            begin = last_day + timedelta(1) if last_day is not None else start
            if last_day is None:
                begin = max(start, first_monitored_day(created_at.astimezone(zone), cutoff))
            upto = min(last_due, end)
            day = begin
            while day <= upto:
                rows.append(
                    (iso_id, day, (day - start).days + 1, pending if day == today else missed)
                )
                day += timedelta(1)
        if rows:
            run.created += await _insert_checkins(session, rows, now)
            run.missed += sum(1 for r in rows if r[3] == missed)
        await asyncio.sleep(0)
    run.prompted = await _queue_prompts(session, clock, catalog, community, today)
    return run


async def _close_past_days(session: AsyncSession, in_community: Any, today: date) -> int:
    """Past days' PENDING rows become MISSED, their unsent prompts and reminders are
    cancelled; returns how many rows were missed. (PostgreSQL: checkin_daily_pg.)"""
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
    return int(getattr(result, "rowcount", 0) or 0)


def late_recording_cutoff(community: Community) -> time | None:
    """Recorded at or after the day's last reminder time (default 18:00), an isolation's
    first check-in is the next day: asked that late, with no reminder to follow, an
    unanswered first day would count as missed (and open a case) at midnight. None (no
    reminders set): every recording is asked the same day."""
    slots = [parse_slot(value) for value in community.reminder_times or []]
    return max(slots) if slots else None


def first_monitored_day(created_local: datetime, cutoff: time | None) -> date:
    """The first day an isolation recorded at `created_local` is asked to check in."""
    late = cutoff is not None and created_local.time() >= cutoff
    return created_local.date() + timedelta(1 if late else 0)


#: Isolations (or prompts) handled between two yields to the event loop.
DAILY_CHUNK = 2000


def _postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def _insert_checkins(
    session: AsyncSession, rows: list[tuple[int, date, int, str]], now: datetime
) -> int:
    """Insert check-in rows (isolation, day, day number, status), skipping existing
    (isolation, day) ones; returns how many were inserted. (PostgreSQL makes them in
    one statement instead: checkin_daily_pg.)"""
    dicts = [
        {
            "isolation_id": iso_id,
            "day": day,
            "day_number": number,
            "status": status,
            "symptoms": [],
            "reminders_sent": 0,
            "created_at": now,
        }
        for iso_id, day, number, status in rows
    ]
    return await _insert_ignoring_conflicts(
        session, CheckIn.__table__, dicts, ["isolation_id", "day"]
    )


def _not_withdrawn() -> Any:
    """The isolated person's household has not withdrawn consent: a withdrawal stops its
    check-ins (prompts, reminders, miss cases) until the request is closed (issue 11)."""
    # Correlated with the enclosing query's isolation explicitly: SQLAlchemy correlates
    # only with the directly enclosing SELECT (here the EXISTS), so without it this was
    # the household of any isolation (PostgreSQL: an error with two of them).
    household = (
        select(Person.household_id).where(Person.id == Isolation.person_id).correlate(Isolation)
    )
    return ~exists().where(
        DataRequest.kind == "withdrawal",
        DataRequest.status == "open",
        DataRequest.household_id == household.scalar_subquery(),
    )


def _no_delivery(key: Any) -> Any:
    return ~exists().where(Delivery.dedup_key == key)


def _with_rows(session: AsyncSession, day: date, *conditions: Any) -> tuple[Any, Any, Any]:
    """Isolations joined to their check-in rows of `day` that meet `conditions` and to
    their person: the FROM, the rows' columns (id, day_number, isolation_id) and the
    person's (id, name, telegram_user_id, language, household_id). On PostgreSQL the rows
    come from a LATERAL subquery with OFFSET 0, which the planner cannot flatten: an index
    lookup per isolation of the community, never a hash join over the whole table,
    whatever its estimates after a day's rows were just inserted (issue 17). There the
    day is compared as `day + 0`, no index condition, so the lookup is by isolation in
    (isolation_id, day): the day's rows are new to the statistics, which make
    (day, status) look like one row and walk the whole day per isolation. The person
    the same way (joined plainly, 2,000 isolations were merged with 300,000 persons)."""
    people: tuple[Any, ...] = (Person.id, Person.name, Person.telegram_user_id)
    people += (Person.language, Person.household_id)
    if _postgres(session):
        rows = (
            select(CheckIn.id, CheckIn.day_number, CheckIn.isolation_id)
            .where(
                CheckIn.isolation_id == Isolation.id,
                CheckIn.day + literal_column("0") == day,
                *conditions,
            )
            .offset(literal_column("0"))
            .lateral("day_rows")
        )
        person = (
            select(*people)
            .where(Person.id == Isolation.person_id)
            .offset(literal_column("0"))
            .lateral("person")
        )
        return join(Isolation, rows, true()).join(person, true()), rows.c, person.c
    on = and_(CheckIn.isolation_id == Isolation.id, CheckIn.day == day, *conditions)
    joined = join(Isolation, CheckIn.__table__, on).join(
        Person.__table__, Person.id == Isolation.person_id
    )
    return joined, CheckIn.__table__.c, Person.__table__.c


async def _queue_prompts(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community, today: date
) -> int:
    key = literal("checkin:") + cast(CheckIn.id, String(20)) + literal(":prompt")
    with_rows, row, person = _with_rows(
        session, today, CheckIn.status == CheckInStatus.PENDING, _no_delivery(key)
    )
    is_due = and_(
        Isolation.community_id == community.id,
        Isolation.status == IsolationStatus.ACTIVE,
        _not_withdrawn(),
    )
    markup = PromptMarkup(catalog)
    prompts = PromptTexts(catalog)
    queued = 0
    due_query = select(row.id).select_from(with_rows)
    if _postgres(session):
        shells = {
            locale: checkin_daily_pg.PromptShell(shell, markup.json(locale, -1))
            for locale in LOCALES
            if (shell := prompts.shell(locale, False)) is not None
        }
        queued = await checkin_daily_pg.queue_own_prompts(
            session, community, shells, prompts.marks, today=today, now=clock.now()
        )
        # What is left: people without Telegram, languages outside the catalog's.
        own_locale = func.coalesce(func.nullif(person.language, ""), community.locale)
        due_query = due_query.where(
            person.telegram_user_id.is_(None) | own_locale.not_in(list(shells))
        )
    due_ids = list(
        await (await session.connection()).scalars(due_query.where(is_due).order_by(row.id))
    )
    if not due_ids:
        return queued
    for chunk in _chunks(due_ids, DAILY_CHUNK):
        # Plain rows (Core, no ORM row processing); the person's own chat and language
        # come with them, so only people without Telegram need `recipients`.
        connection = await session.connection()
        due = (
            await connection.execute(
                select(
                    row.id,
                    row.day_number,
                    Isolation.end_date,
                    person.id,
                    person.name,
                    person.telegram_user_id,
                    person.language,
                )
                .select_from(with_rows)
                .where(is_due, row.id.between(chunk[0], chunk[-1]))
                .order_by(row.id)
            )
        ).all()
        to = await recipients(session, (r[3] for r in due if r[5] is None), community.locale)

        def build(due: Sequence[Any] = due, to: dict[int, Recipient] = to) -> list[Prompt]:
            built: list[Prompt] = []
            for checkin_id, day_number, end_date, person_id, name, chat_id, language in due:
                if chat_id is not None:
                    recipient: Recipient | None = Recipient(
                        person_id, chat_id, language or community.locale, False
                    )
                else:
                    recipient = to.get(person_id)
                if recipient is None:
                    continue  # nobody with Telegram: the officers' views list them as pending
                text_ = prompts(
                    recipient.locale, name, recipient.for_member, day_number, end_date.isoformat()
                )
                built.append(Prompt(checkin_id, recipient, text_))
            return built

        # Rendering a chunk's prompts is the CPU-heavy part: done in a worker thread,
        # so the event loop keeps answering residents meanwhile.
        prompts_of_chunk = await asyncio.to_thread(build)
        queued += await _enqueue_prompts(session, clock, markup, prompts_of_chunk)
        await asyncio.sleep(0)
    return queued


class Prompt(NamedTuple):
    checkin_id: int
    to: Recipient
    text: str


class PromptTexts:
    """The check-in prompt rendered once per (locale, for a member) with stand-ins, then
    filled in per person (the name HTML-escaped, as the template's autoescape would).
    Each variant's fill is checked against real renders first; a template whose output
    does not take the stand-ins verbatim is rendered per person instead."""

    # Private-use characters: PostgreSQL fills the same shells (no NUL in its text).
    marks = checkin_daily_pg.Marks(name="\ue000N\ue000", day="\ue000D\ue000", end="\ue000E\ue000")
    #: Filled and rendered to check a variant: markup to escape, a one-digit and a
    #: two-digit day.
    _SAMPLES = (('<Zhang & "Li">', 1, "2022-03-14"), ("O'Brien 王", 12, "2022-12-31"))

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._variants: dict[tuple[str, bool], str | None] = {}

    def render(self, locale: str, name: str, member: bool, day_number: int, end: str) -> str:
        return self.catalog.render(
            locale, "checkin.prompt", name=name, member=member, day_number=day_number,
            end_date=end,
        )  # fmt: skip

    def shell(self, locale: str, member: bool) -> str | None:
        """The variant rendered with stand-ins (`marks`), or None when filling it in
        does not give what the template renders."""
        variant = (locale, member)
        if variant not in self._variants:
            marks = self.marks
            shell = self.render(locale, marks.name, member, marks.day, marks.end)  # type: ignore[arg-type]
            exact = all(
                self._fill(shell, name, day, end) == self.render(locale, name, member, day, end)
                for name, day, end in self._SAMPLES
            )
            self._variants[variant] = shell if exact else None
        return self._variants[variant]

    def __call__(self, locale: str, name: str, member: bool, day_number: int, end: str) -> str:
        shell = self.shell(locale, member)
        if shell is None:
            return self.render(locale, name, member, day_number, end)
        return self._fill(shell, name, day_number, end)

    def _fill(self, shell: str, name: str, day_number: int, end: str) -> str:
        # The name last: a name is never searched for stand-ins.
        return (
            shell.replace(self.marks.day, str(day_number))
            .replace(self.marks.end, str(escape(end)))
            .replace(self.marks.name, str(escape(name)))
        )


async def _enqueue_prompts(
    session: AsyncSession, clock: Clock, markup: PromptMarkup, prompts: list[Prompt]
) -> int:
    """Bulk enqueue of prompts (idempotent by dedup key). PostgreSQL: one statement
    over arrays, each payload's JSON made from per-locale pieces."""
    if not prompts:
        return 0
    if not _postgres(session):
        deliveries = [
            {
                "kind": PROMPT,
                "chat_id": p.to.chat_id,
                "payload": {
                    "text": p.text,
                    "parse_mode": "HTML",
                    "reply_markup": markup(p.to.locale, p.checkin_id),
                },
                "dedup_key": prompt_key(p.checkin_id),
                "checkin_id": p.checkin_id,
                "person_id": p.to.person_id,
            }
            for p in prompts
        ]
        return await _enqueue_many(session, clock, deliveries)
    now = clock.now()
    dumps = json.JSONEncoder(ensure_ascii=False).encode

    def columns() -> dict[str, list[Any]]:
        return {
            "chats": [p.to.chat_id for p in prompts],
            "payloads": [
                f'{{"text": {dumps(p.text)}, "parse_mode": "HTML", "reply_markup": '
                f"{markup.json(p.to.locale, p.checkin_id)}}}"
                for p in prompts
            ],
            "keys": [prompt_key(p.checkin_id) for p in prompts],
            "checkins": [p.checkin_id for p in prompts],
            "people": [p.to.person_id for p in prompts],
        }

    arrays = await asyncio.to_thread(columns)  # off the event loop, like the rendering
    result = await session.execute(
        text(
            "INSERT INTO deliveries (kind, chat_id, is_group, method, payload, dedup_key, "
            "checkin_id, person_id, pin, status, attempts, not_before, created_at, bot_id) "
            "SELECT :kind, c, false, 'sendMessage', CAST(p AS JSON), k, ci, pi, false, "
            ":status, 0, :now, :now, :bot FROM unnest(CAST(:chats AS BIGINT[]), "
            "CAST(:payloads AS VARCHAR[]), CAST(:keys AS VARCHAR[]), "
            "CAST(:checkins AS BIGINT[]), CAST(:people AS BIGINT[])) AS t(c, p, k, ci, pi) "
            "ON CONFLICT (dedup_key) DO NOTHING"
        ),
        {
            "kind": PROMPT,
            "status": DeliveryStatus.PENDING.value,
            "now": now,
            "bot": bot_of(session),
            **arrays,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
    with_rows, row, person = _with_rows(
        session,
        today,
        CheckIn.status == CheckInStatus.PENDING,
        CheckIn.created_at < slot_at,
        _no_delivery(key),
    )
    due = (
        await session.execute(
            select(row.id, person.id, person.name)
            .select_from(with_rows)
            .where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                _not_withdrawn(),
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
    needed = max(1, community.misses_for_case)
    # Set-based: per isolation missed yesterday, its streak (the rows after its last day
    # not missed) in the same query: the count and the first day, both index lookups on
    # (isolation_id, day).
    ok = aliased(CheckIn)
    last_ok = (
        select(func.max(ok.day))
        .where(
            ok.isolation_id == Isolation.id,
            ok.day < today,
            ok.status != CheckInStatus.MISSED.value,
        )
        .correlate(Isolation)
        .scalar_subquery()
    )
    in_streak = and_(
        CheckIn.isolation_id == Isolation.id,
        CheckIn.day < today,
        or_(last_ok.is_(None), CheckIn.day > last_ok),
    )
    streak = select(func.count()).where(in_streak).correlate(Isolation).scalar_subquery()
    since = select(func.min(CheckIn.day)).where(in_streak).correlate(Isolation).scalar_subquery()
    with_rows, _, person = _with_rows(session, yesterday, CheckIn.status == CheckInStatus.MISSED)
    inner = (
        select(
            Isolation.id.label("iso_id"),
            person.id.label("person_id"),
            person.household_id.label("household_id"),
            streak.label("streak"),
            since.label("since"),
        )
        .select_from(with_rows)
        .where(
            Isolation.community_id == community.id,
            Isolation.status == IsolationStatus.ACTIVE,
            _not_withdrawn(),
        )
        .subquery()
    )
    due = (
        await session.execute(
            select(inner).where(inner.c.streak >= needed).order_by(inner.c.iso_id)
        )
    ).all()
    keys = {row.iso_id: f"missed:{row.iso_id}:{row.since.isoformat()}" for row in due}
    opened_before = await _existing_cases(session, list(keys.values()))
    opened: list[int] = []
    for iso_id, person_id, household_id, days, since_day in due:
        dedup = keys[iso_id]
        if dedup in opened_before:
            continue
        summary = case_text.summary_details(
            catalog, community.locale, "checkin.case_missed",
            {"days": days, "since": since_day.isoformat()},
        )  # fmt: skip
        case = await open_case(
            session,
            clock,
            catalog,
            community_id=community.id,
            kind=CaseKind.MISSED_CHECKIN,
            urgent=False,
            household_id=household_id,
            subject_id=person_id,
            isolation_id=iso_id,
            details={**summary, "missed": days},
            dedup_key=dedup,
        )
        opened.append(case.id)
    return opened


async def _existing_cases(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these dedup keys name a case already (one query per 500 keys)."""
    found: set[str] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update(await session.scalars(select(Case.dedup_key).where(Case.dedup_key.in_(chunk))))
    return found


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
    blocked = or_(
        Person.unreachable_since.is_not(None),
        and_(
            Person.telegram_user_id.is_(None),
            exists().where(
                reporter.id == Person.reported_by_id, reporter.unreachable_since.is_not(None)
            ),
        ),
    )
    if _postgres(session):
        # The person of each isolation of the community by a LATERAL lookup (see
        # _with_rows): never a scan of every person for "unreachable".
        person = (
            select(Person.id, Person.household_id)
            .where(Person.id == Isolation.person_id, blocked)
            .offset(literal_column("0"))
            .lateral("person")
        )
        query = select(Isolation.id, person.c.id, person.c.household_id).select_from(
            join(Isolation, person, true())
        )
    else:
        query = select(Isolation.id, Person.id, Person.household_id).join(
            Person, and_(Person.id == Isolation.person_id, blocked)
        )
    rows = (
        await session.execute(
            query.where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
            )
        )
    ).all()
    keys = [f"unreachable:{row[0]}" for row in rows]
    opened_before = await _existing_cases(session, keys)
    opened: list[int] = []
    for iso_id, person_id, household_id in rows:
        dedup = f"unreachable:{iso_id}"
        if dedup in opened_before:
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
            details=case_text.summary_details(
                catalog, community.locale, "checkin.case_unreachable", {}
            ),
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
