"""Monitoring categories driven by officers (R-CAT), built on the home isolation record.

An `Isolation` row is one monitoring of one person; its `category` says which rules
apply and `category_start` is day 1 of the current category (test days count from it).
Every start, change, step-down, extension and end is a `MonitoringEvent`, so a person
moving between categories keeps their history on the same row.

Categories and their 2022 defaults (each community may override them):

- ``central`` 集中隔离: hand-off only. The row is `handed_off` (no daily check-ins
  here); when its days are over the person steps down to ``home_health``.
- ``home_isolation`` 居家隔离: the community's `isolation_days`, no going out, tests on
  days 1, 4 and 7.
- ``home_health`` 居家健康监测: 7 days, may go out for essentials, tests on days 3, 7.
- ``daily_health`` 日常健康监测: 3 days, may go out, 2 tests (days 1 and 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now, local_today
from bot.db.models import (
    Building,
    Case,
    CaseKind,
    Community,
    Compound,
    Household,
    Isolation,
    IsolationStatus,
    MonitoringEvent,
    MonitoringTest,
    Person,
    Unit,
)
from bot.parsing import id_or_none
from bot.services import audit, case_text, outbox
from bot.services.cases import open_case
from bot.services.directory import address_key
from bot.services.errors import DomainError, NotFound
from messages import Catalog

CATEGORIES: tuple[str, ...] = ("central", "home_isolation", "home_health", "daily_health")
HANDED_OFF = IsolationStatus.HANDED_OFF.value
# Stricter first: a household member's category applies to the gate (R-GATE+).
STRICTNESS = {"central": 0, "home_isolation": 1, "home_health": 2, "daily_health": 3}
_ALIASES = {
    "central": "central", "集中隔离": "central", "集中": "central", "集中医学观察": "central",
    "home_isolation": "home_isolation", "居家隔离": "home_isolation", "居家": "home_isolation",
    "home": "home_isolation", "isolation": "home_isolation",
    "home_health": "home_health", "居家健康监测": "home_health", "健康监测": "home_health",
    "health": "home_health",
    "daily_health": "daily_health", "日常健康监测": "daily_health", "日常": "daily_health",
    "daily": "daily_health",
}  # fmt: skip

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "central": {"days": 7, "tests": [], "go_out": False, "then": "home_health", "then_days": 3},
    "home_isolation": {"days": None, "tests": [1, 4, 7], "go_out": False, "then": None,
                       "then_days": 0},
    "home_health": {"days": 7, "tests": [3, 7], "go_out": True, "then": None, "then_days": 0},
    "daily_health": {"days": 3, "tests": [1, 3], "go_out": True, "then": None, "then_days": 0},
}  # fmt: skip
RULE_FIELDS = ("days", "tests", "go_out", "then", "then_days")
TEST_REMINDER = "monitoring_test"
NOTICE = "monitoring_notice"


def parse_category(text: str) -> str | None:
    return _ALIASES.get(text.strip().lower())


@dataclass(frozen=True)
class Rule:
    category: str
    days: int
    tests: tuple[int, ...]
    go_out: bool
    then: str | None
    then_days: int


def rule(community: Community, category: str) -> Rule:
    """The community's rule for a category: its overrides over the 2022 defaults."""
    if category not in CATEGORIES:
        raise DomainError("monitoring.bad_category", text=category)
    merged = dict(DEFAULT_RULES[category])
    merged.update((community.monitoring_rules or {}).get(category, {}))
    days = merged["days"] if merged["days"] is not None else community.isolation_days
    return Rule(
        category,
        int(days),
        tuple(sorted({int(d) for d in merged["tests"]})),
        bool(merged["go_out"]),
        merged["then"] or None,
        int(merged["then_days"] or 0),
    )


def rules(community: Community) -> list[Rule]:
    return [rule(community, c) for c in CATEGORIES]


def parse_rule_change(category_text: str, words: list[str]) -> tuple[str, dict[str, Any]]:
    """`<category> days=7 tests=1,4,7 go_out=no then=home_health then_days=3`."""
    category = parse_category(category_text)
    if category is None:
        raise DomainError("monitoring.bad_category", text=category_text)
    change: dict[str, Any] = {}
    for word in words:
        name, sep, value = word.partition("=")
        value = value.strip()
        if not sep or name not in RULE_FIELDS:
            raise DomainError("monitoring.rule_usage")
        if name in ("days", "then_days"):
            if (
                not value.isdigit()
                or not 0 <= int(value) <= 60
                or (name == "days" and int(value) < 1)
            ):
                raise DomainError("monitoring.rule_usage")
            change[name] = int(value)
        elif name == "tests":
            parts = [p for p in re.split(r"[,，\s]+", value) if p]
            if value in ("-", "none", "无"):
                parts = []
            if not all(p.isdigit() and 1 <= int(p) <= 60 for p in parts):
                raise DomainError("monitoring.rule_usage")
            change[name] = sorted({int(p) for p in parts})
        elif name == "go_out":
            if value.lower() not in ("yes", "no", "是", "否"):
                raise DomainError("monitoring.rule_usage")
            change[name] = value.lower() in ("yes", "是")
        else:  # then
            then = None if value in ("-", "none", "无") else parse_category(value)
            if value not in ("-", "none", "无") and then is None:
                raise DomainError("monitoring.bad_category", text=value)
            change[name] = then
    if not change:
        raise DomainError("monitoring.rule_usage")
    return category, change


async def change_rule(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    category: str,
    change: dict[str, Any],
    actor: Person | None,
) -> Rule:
    current = dict(community.monitoring_rules or {})
    entry = dict(current.get(category, {}))
    entry.update(change)
    current[category] = entry
    community.monitoring_rules = current  # a new dict: the JSON column sees the change
    await audit.record(
        session, at=clock.now(), actor=actor, action="monitoring.rule", entity="community",
        entity_id=community.id, details={"category": category, "change": change},
    )  # fmt: skip
    return rule(community, category)


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class PersonLine:
    person: Person
    address: str
    household_id: int | None


async def people_of(
    session: AsyncSession, community_id: int, query: str, limit: int = 10
) -> list[PersonLine]:
    """People of the community's register by id or (part of a) name, with address."""
    statement = (
        select(Person, Compound.name, Building.name, Unit.name, Household.room)
        .join(Household, Household.id == Person.household_id)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(Compound.community_id == community_id)
        .order_by(Person.id)
        .limit(limit)
    )
    query = query.strip()
    if query.isdigit():
        # A number is an id; one too large for any id (99999999999999999999) finds no one.
        person_id = id_or_none(query)
        if person_id is None:
            return []
        statement = statement.where(Person.id == person_id)
    elif query:
        statement = statement.where(Person.name.contains(query, autoescape=True))
    else:
        return []
    return [
        PersonLine(p, " ".join((c, b, u, r)), p.household_id)
        for p, c, b, u, r in await session.execute(statement)
    ]


@dataclass(frozen=True)
class MonitoredLine:
    isolation: Isolation
    person: Person
    address: str


async def monitored(
    session: AsyncSession, community_id: int, category: str | None = None
) -> list[MonitoredLine]:
    """Everyone monitored now (handed-off people included, with their record), by
    category then address."""
    statement = (
        select(Isolation, Person, Compound.name, Building.name, Unit.name, Household.room)
        .join(Person, Person.id == Isolation.person_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Unit, Unit.id == Household.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .outerjoin(Compound, Compound.id == Building.compound_id)
        .where(
            Isolation.community_id == community_id,
            Isolation.status.in_((IsolationStatus.ACTIVE.value, HANDED_OFF)),
        )
    )
    if category is not None:
        statement = statement.where(Isolation.category == category)
    rows = sorted(
        await session.execute(statement),
        key=lambda r: (r[0].category, address_key(r[2], r[3], r[4], r[5]), r[0].id),
    )
    return [
        MonitoredLine(i, p, " ".join(x for x in (c, b, u, r) if x)) for i, p, c, b, u, r in rows
    ]


async def current_monitoring(session: AsyncSession, person_id: int) -> Isolation | None:
    """The person's monitoring in progress: active, or handed off to central quarantine."""
    return await session.scalar(
        select(Isolation)
        .where(
            Isolation.person_id == person_id,
            Isolation.status.in_((IsolationStatus.ACTIVE.value, HANDED_OFF)),
        )
        .order_by(Isolation.id.desc())
        .limit(1)
    )


def _status_for(category: str) -> str:
    return HANDED_OFF if category == "central" else IsolationStatus.ACTIVE.value


async def _event(
    session: AsyncSession,
    clock: Clock,
    isolation: Isolation,
    action: str,
    *,
    actor: Person | None,
    reason: str | None = None,
    source: str | None = None,
    category_from: str | None = None,
    end_from: date | None = None,
) -> None:
    session.add(
        MonitoringEvent(
            isolation_id=isolation.id, action=action, category_from=category_from,
            category_to=isolation.category, end_from=end_from, end_to=isolation.end_date,
            reason=reason, source=source, actor_id=actor.id if actor else None, at=clock.now(),
        )
    )  # fmt: skip
    await audit.record(
        session, at=clock.now(), actor=actor, action=f"monitoring.{action}", entity="isolation",
        entity_id=isolation.id,
        details={"category": isolation.category, "from": category_from,
                 "end": isolation.end_date.isoformat(), "reason": reason, "source": source},
    )  # fmt: skip


async def tell_person(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    community: Community,
    isolation: Isolation,
    *,
    what: str,
    key: str,
    reason: str = "",
) -> bool:
    """Queue a private message about this monitoring to the person (or the family
    member who answers for them). False when nobody can be reached by Telegram."""
    from bot.services.checkins import recipients

    person = await session.get(Person, isolation.person_id)
    if person is None:
        return False
    to = (await recipients(session, [person.id], community.locale)).get(person.id)
    if to is None:
        return False
    r = rule(community, isolation.category)
    text = catalog.render(
        to.locale,
        f"monitoring.tell_{what}",
        name=person.name,
        member=to.for_member,
        category=catalog.render(to.locale, f"monitoring.category_{isolation.category}"),
        start=(isolation.category_start or isolation.start_date).isoformat(),
        end=isolation.end_date.isoformat(),
        tests=list(r.tests),
        go_out=r.go_out,
        reason=reason,
        status=catalog.render(to.locale, f"monitoring.status_{isolation.status}"),
    )
    await outbox.enqueue(
        session, clock, kind=NOTICE, chat_id=to.chat_id, dedup_key=key,
        payload=outbox.message_payload(text), person_id=to.person_id,
    )  # fmt: skip
    return True


@dataclass(frozen=True)
class Outcome:
    isolation: Isolation
    person: Person
    action: str  # start / change / extend / end
    told: bool


async def start(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    community: Community,
    person: Person,
    category: str,
    start_date: date | None,
    reason: str,
    actor: Person | None,
    source: str | None = None,
) -> Outcome:
    """Start monitoring in `category` (from `start_date`, day 1), or change the
    category of the person's monitoring in progress. Tells the person."""
    today = local_today(clock, community.timezone)
    first = start_date or today
    if first > today + timedelta(days=7) or first < today - timedelta(days=60):
        raise DomainError("monitoring.bad_date")
    r = rule(community, category)
    current = await current_monitoring(session, person.id)
    if current is not None:
        if current.category == category:
            raise DomainError("monitoring.already", category=category)
        return await change(
            session, clock, catalog, community=community, isolation=current, category=category,
            reason=reason, actor=actor, source=source, start_date=first,
        )  # fmt: skip
    isolation = Isolation(
        community_id=community.id, person_id=person.id, start_date=first,
        end_date=first + timedelta(days=r.days - 1), status=_status_for(category),
        category=category, category_start=first, created_at=clock.now(),
    )  # fmt: skip
    session.add(isolation)
    await session.flush()
    await _event(session, clock, isolation, "start", actor=actor, reason=reason, source=source)
    told = await tell_person(
        session, clock, catalog, community, isolation, what="start", reason=reason,
        key=f"monitoring:{isolation.id}:start",
    )  # fmt: skip
    return Outcome(isolation, person, "start", told)


async def change(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    community: Community,
    isolation: Isolation,
    category: str,
    reason: str,
    actor: Person | None,
    source: str | None = None,
    start_date: date | None = None,
    action: str = "change",
    days: int | None = None,
) -> Outcome:
    """Move a monitoring to another category from `start_date` (today): new day 1, new
    end by the category's days; the history keeps the old category."""
    if isolation.status not in (IsolationStatus.ACTIVE, HANDED_OFF):
        raise DomainError("isolation.not_active")
    r = rule(community, category)
    first = start_date or local_today(clock, community.timezone)
    old_category, old_end = isolation.category, isolation.end_date
    isolation.category = category
    isolation.category_start = first
    isolation.end_date = first + timedelta(days=(days or r.days) - 1)
    isolation.status = _status_for(category)
    await session.flush()
    await _event(
        session, clock, isolation, action, actor=actor, reason=reason, source=source,
        category_from=old_category, end_from=old_end,
    )  # fmt: skip
    person = await session.get(Person, isolation.person_id)
    assert person is not None
    count = await _event_count(session, isolation.id)
    told = await tell_person(
        session, clock, catalog, community, isolation, what=action, reason=reason,
        key=f"monitoring:{isolation.id}:{action}:{count}",
    )  # fmt: skip
    return Outcome(isolation, person, action, told)


async def _event_count(session: AsyncSession, isolation_id: int) -> int:
    return len(
        (
            await session.scalars(
                select(MonitoringEvent.id).where(MonitoringEvent.isolation_id == isolation_id)
            )
        ).all()
    )


async def extend(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    isolation_id: int,
    days: int,
    reason: str,
    actor: Person,
) -> Outcome:
    """Extend by `days` (audited by the isolation service), record it, tell the person."""
    from bot.services.checkins import officer_extend

    before = await session.get(Isolation, isolation_id)
    old_end = before.end_date if before is not None else None
    isolation = await officer_extend(
        session, clock, isolation_id=isolation_id, actor=actor, days=days
    )
    community = await session.get(Community, isolation.community_id)
    assert community is not None
    await _event(
        session, clock, isolation, "extend", actor=actor, reason=reason or None,
        category_from=isolation.category, end_from=old_end,
    )  # fmt: skip
    person = await session.get(Person, isolation.person_id)
    assert person is not None
    count = await _event_count(session, isolation.id)
    told = await tell_person(
        session, clock, catalog, community, isolation, what="extend", reason=reason,
        key=f"monitoring:{isolation.id}:extend:{count}",
    )  # fmt: skip
    return Outcome(isolation, person, "extend", told)


async def end(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    isolation_id: int,
    status: IsolationStatus,
    reason: str,
    actor: Person,
) -> Outcome:
    """End early or record a transfer to hospital; tell the person."""
    from bot.services.checkins import officer_end

    isolation = await session.get(Isolation, isolation_id)
    if isolation is not None and isolation.status == HANDED_OFF:
        isolation.status = IsolationStatus.ACTIVE.value  # ending a hand-off ends it too
    isolation = await officer_end(
        session, clock, isolation_id=isolation_id, actor=actor, status=status, reason=reason
    )
    community = await session.get(Community, isolation.community_id)
    assert community is not None
    await _event(
        session, clock, isolation, "end", actor=actor, reason=reason,
        category_from=isolation.category,
    )  # fmt: skip
    person = await session.get(Person, isolation.person_id)
    assert person is not None
    told = await tell_person(
        session, clock, catalog, community, isolation, what="end", reason=reason,
        key=f"monitoring:{isolation.id}:end",
    )  # fmt: skip
    return Outcome(isolation, person, "end", told)


async def history(session: AsyncSession, isolation_id: int) -> list[MonitoringEvent]:
    return list(
        await session.scalars(
            select(MonitoringEvent)
            .where(MonitoringEvent.isolation_id == isolation_id)
            .order_by(MonitoringEvent.at, MonitoringEvent.id)
        )
    )


async def person_history(
    session: AsyncSession, community_id: int, person_id: int
) -> list[tuple[Isolation, list[MonitoringEvent]]]:
    rows = await session.scalars(
        select(Isolation)
        .where(Isolation.community_id == community_id, Isolation.person_id == person_id)
        .order_by(Isolation.id)
    )
    return [(i, await history(session, i.id)) for i in rows]


# --------------------------------------------------------------------------- the daily run


async def step_downs(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> int:
    """Monitorings whose last day is over and whose category has a `then`: continue in
    the next category on the same row (before the check-in job would release them)."""
    today = local_today(clock, community.timezone)
    due = (
        await session.scalars(
            select(Isolation).where(
                Isolation.community_id == community.id,
                Isolation.status.in_((IsolationStatus.ACTIVE.value, HANDED_OFF)),
                Isolation.end_date < today,
            )
        )
    ).all()
    done = 0
    for isolation in due:
        r = rule(community, isolation.category)
        if r.then is None or r.then_days < 1 or r.then == isolation.category:
            if isolation.status == HANDED_OFF:
                # A hand-off without a step-down simply ends with its record.
                isolation.status = IsolationStatus.RELEASED.value
                isolation.ended_at = clock.now()
                await _event(session, clock, isolation, "end", actor=None, reason="handoff")
                done += 1
            continue
        first = isolation.end_date + timedelta(days=1)
        await change(
            session, clock, catalog, community=community, isolation=isolation, category=r.then,
            reason="", actor=None, source="step_down", start_date=first, action="step_down",
            days=r.then_days,
        )  # fmt: skip
        done += 1
    return done


async def test_days(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> tuple[int, list[int]]:
    """Today's required tests (rows + one reminder each, after the check-in time) and
    the missed ones of earlier days (a case each, once). Returns (reminded, cases)."""
    from bot.services.checkins import recipients

    now_local = local_now(clock, community.timezone)
    today = now_local.date()
    now = clock.now()
    opened: list[int] = []
    # Missed: a test day that is over and was never recorded.
    missed = (
        await session.execute(
            select(MonitoringTest, Isolation)
            .join(Isolation, Isolation.id == MonitoringTest.isolation_id)
            .where(
                Isolation.community_id == community.id,
                MonitoringTest.status == "pending",
                MonitoringTest.day < today,
            )
        )
    ).all()
    for test, isolation in missed:
        test.status = "missed"
        person = await session.get(Person, isolation.person_id)
        summary = case_text.summary_details(
            catalog, community.locale, "monitoring.case_missed_test",
            {"day_number": test.day_number, "day": test.day.isoformat(),
             "category": case_text.label(f"monitoring.category_{isolation.category}")},
        )  # fmt: skip
        case = await open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.MISSED_TEST,
            urgent=False, household_id=person.household_id if person else None,
            subject_id=isolation.person_id, isolation_id=isolation.id,
            details=summary, dedup_key=f"test:{test.id}:missed",
        )  # fmt: skip
        opened.append(case.id)
    if now_local.time() < community.checkin_time:
        return 0, opened
    active = (
        await session.scalars(
            select(Isolation).where(
                Isolation.community_id == community.id,
                Isolation.status == IsolationStatus.ACTIVE,
                Isolation.start_date <= today,
            )
        )
    ).all()
    due: list[tuple[Isolation, int]] = []
    for isolation in active:
        r = rule(community, isolation.category)
        number = (today - (isolation.category_start or isolation.start_date)).days + 1
        if number in r.tests and isolation.end_date >= today:
            due.append((isolation, number))
    if not due:
        return 0, opened
    existing = {
        (t.isolation_id, t.day)
        for t in await session.scalars(
            select(MonitoringTest).where(
                MonitoringTest.isolation_id.in_([i.id for i, _ in due]), MonitoringTest.day == today
            )
        )
    }
    to = await recipients(session, [i.person_id for i, _ in due], community.locale)
    reminded = 0
    for isolation, number in due:
        if (isolation.id, today) in existing:
            continue
        test = MonitoringTest(
            isolation_id=isolation.id, day=today, day_number=number, status="pending",
            created_at=now,
        )  # fmt: skip
        session.add(test)
        await session.flush()
        recipient = to.get(isolation.person_id)
        if recipient is None:
            continue
        person = await session.get(Person, isolation.person_id)
        text = catalog.render(
            recipient.locale, "monitoring.test_reminder", name=person.name if person else "",
            member=recipient.for_member, day_number=number,
            category=catalog.render(recipient.locale, f"monitoring.category_{isolation.category}"),
        )  # fmt: skip
        from bot.presentation.callbacks import MonTestCb

        markup = {
            "inline_keyboard": [
                [
                    {
                        "text": catalog.render(recipient.locale, "monitoring.button_test_done"),
                        "callback_data": MonTestCb(test_id=test.id).pack(),
                    }
                ]
            ]
        }
        await outbox.enqueue(
            session, clock, kind=TEST_REMINDER, chat_id=recipient.chat_id,
            dedup_key=f"test:{test.id}:reminder",
            payload={"text": text, "parse_mode": "HTML", "reply_markup": markup},
            person_id=recipient.person_id,
        )  # fmt: skip
        reminded += 1
    return reminded, opened


async def record_test(
    session: AsyncSession, clock: Clock, *, test_id: int, actor: Person
) -> tuple[MonitoringTest, Person]:
    """The person (or who answers for them) says today's test is done."""
    from bot.services.checkins import can_answer_for

    row = (
        await session.execute(
            select(MonitoringTest, Isolation, Person)
            .join(Isolation, Isolation.id == MonitoringTest.isolation_id)
            .join(Person, Person.id == Isolation.person_id)
            .where(MonitoringTest.id == test_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("monitoring.test_not_found")
    test, _isolation, person = row
    if not can_answer_for(actor, person):
        raise DomainError("checkin.not_yours")
    if test.status == "done":
        raise DomainError("monitoring.test_already")
    if test.status != "pending":
        raise DomainError("checkin.day_over")
    test.status = "done"
    test.done_at = clock.now()
    test.done_by_id = actor.id
    await audit.record(
        session, at=clock.now(), actor=actor, action="monitoring.test", entity="monitoring_test",
        entity_id=test.id, details={"day_number": test.day_number},
    )  # fmt: skip
    return test, person


async def run_for_community(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community
) -> tuple[int, int, list[int]]:
    stepped = await step_downs(session, clock, catalog, community)
    reminded, opened = await test_days(session, clock, catalog, community)
    return stepped, reminded, opened


# --------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class GateStatus:
    """What the gate should know of a person: the strictest monitoring of the person
    or their household, and whether it forbids going out."""

    category: str
    own: bool
    forbidden: bool


async def gate_status(
    session: AsyncSession, community: Community, person: Person
) -> GateStatus | None:
    people = [person.id]
    if person.household_id is not None:
        people += list(
            await session.scalars(
                select(Person.id).where(Person.household_id == person.household_id)
            )
        )
    rows = (
        await session.execute(
            select(Isolation.person_id, Isolation.category).where(
                Isolation.person_id.in_(set(people)),
                Isolation.status.in_((IsolationStatus.ACTIVE.value, HANDED_OFF)),
            )
        )
    ).all()
    if not rows:
        return None
    own = {c for pid, c in rows if pid == person.id}
    # A household member's category counts only when it confines the home.
    counted = own | {c for pid, c in rows if pid != person.id and not rule(community, c).go_out}
    if not counted:
        return None
    category = min(counted, key=lambda c: STRICTNESS.get(c, 9))
    forbidden = not rule(community, category).go_out
    return GateStatus(category, category in own, forbidden)


async def case_exists(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(Case.id).where(Case.dedup_key == key)) is not None
