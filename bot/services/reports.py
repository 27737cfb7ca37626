"""Residents' reports (R-RET, R-VIS, R-TEN, R-SYM, R-TIP, R-SUP) and their escalation.

Every `submit_*` stores one Report (kind-specific fields in `details`), matches the
place of origin against the community's risk areas on the arrival date, audits, and
escalates through `bot.services.cases.open_case`:

- return / visit from a risk area: a home isolation for every traveller (members
  without Telegram too: the head reports for them) and an urgent case;
- symptoms: always an urgent case; the reply names the designated fever clinics;
- tenant / relatives coming to stay: registered, and the officers told (a case);
- tip-off: a case whose card never names the reporter (kept only on the Report);
- supplies from a household in isolation: a case of kind supplies.

Submitting is idempotent: the dedup key is the reporter, the kind, the normalised
content and the local day, so the same report sent twice collapses to one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import (
    Case,
    CaseKind,
    CheckIn,
    Community,
    Isolation,
    IsolationStatus,
    Person,
    Report,
    ReportKind,
)
from bot.places import Gazetteer
from bot.services import audit, case_text, cases, risk_areas
from bot.services.checkin_common import can_answer_for
from bot.services.directory import HouseholdPath, household_members, household_path
from bot.services.errors import DomainError
from bot.services.isolation import start_isolation
from messages import Catalog

TRANSPORTS: tuple[str, ...] = ("train", "plane", "car", "bus", "ship", "other")
SYMPTOMS: tuple[str, ...] = ("fever", "cough", "sore_throat", "fatigue", "breath", "taste", "other")
NEEDS: tuple[str, ...] = ("food", "medicine", "other")
CONCERNS: tuple[str, ...] = ("return", "visitor", "tenant", "other")
TEXT_MAX = 300
STAY_MAX_DAYS = 365


@dataclass
class ReportResult:
    """What a submission did: the report (new or the earlier identical one), the risk
    level matched, isolations started or extended, the case opened, fever clinics."""

    report: Report
    created: bool
    risk_level: str | None = None
    isolations: list[Isolation] = field(default_factory=list)
    case: Case | None = None
    clinics: list[dict[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- shared steps


async def reporter_context(session: AsyncSession, reporter: Person) -> HouseholdPath:
    """The registered reporter's household path (community included)."""
    if reporter.household_id is None:
        raise DomainError("reports.not_registered")
    path = await household_path(session, reporter.household_id)
    if path is None:
        raise DomainError("reports.not_registered")
    return path


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def dedup_key(reporter_id: int, kind: ReportKind, content: dict[str, Any], day: date) -> str:
    """`report:<reporter>:<kind>:<local day>:<hash of the normalised content>`."""
    raw = json.dumps(_normalise(content), ensure_ascii=False, sort_keys=True, default=str)
    digest = hashlib.sha256(raw.encode()).hexdigest()[:32]
    return f"report:{reporter_id}:{kind.value}:{day.isoformat()}:{digest}"


async def _existing(session: AsyncSession, key: str) -> ReportResult | None:
    report = await session.scalar(select(Report).where(Report.dedup_key == key))
    if report is None:
        return None
    isolations = list(
        await session.scalars(select(Isolation).where(Isolation.report_id == report.id))
    )
    case = await session.scalar(select(Case).where(Case.report_id == report.id))
    community = await session.get(Community, report.community_id)
    clinics = list(community.fever_clinics or []) if community else []
    return ReportResult(
        report, False, report.risk_level, isolations, case,
        clinics if report.kind == ReportKind.SYMPTOM else [],
    )  # fmt: skip


async def _withdrawn(session: AsyncSession, household_id: int) -> bool:
    from bot.db.models import DataRequest

    found = await session.scalar(
        select(DataRequest.id).where(
            DataRequest.household_id == household_id,
            DataRequest.kind == "withdrawal",
            DataRequest.status == "open",
        )
    )
    return found is not None


async def _store(
    session: AsyncSession,
    clock: Clock,
    *,
    path: HouseholdPath,
    kind: ReportKind,
    reporter: Person,
    details: dict[str, Any],
    key: str,
    subject_id: int | None = None,
    origin_code: str | None = None,
    arrival_date: date | None = None,
    anonymous: bool = False,
) -> Report:
    if await _withdrawn(session, path.household.id):
        # Consent withdrawn: processing stops until the request is closed (issue 11).
        raise DomainError("privacy.withdrawn")
    level = await risk_areas.risk_level(session, path.community.id, origin_code, arrival_date)
    # A tip-off (anonymous) keeps neither who sent it nor their household (R-AUD): nobody,
    # officers and admins included, can find the reporter from the database.
    report = Report(
        community_id=path.community.id,
        kind=kind.value,
        household_id=None if anonymous else path.household.id,
        reporter_id=None if anonymous else reporter.id,
        subject_id=subject_id,
        anonymous=anonymous,
        origin_code=origin_code,
        arrival_date=arrival_date,
        risk_level=level,
        details=details,
        dedup_key=key,
        created_at=clock.now(),
    )
    session.add(report)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=None if anonymous else reporter,
        actor_telegram_id=None, action=f"report.{kind.value}", entity="report",
        entity_id=report.id, details={"risk_level": level, "anonymous": anonymous},
        community_id=path.community.id,
    )  # fmt: skip
    return report


def _check_origin(origin_code: str) -> str:
    if Gazetteer.load().get(origin_code) is None:
        raise DomainError("reports.origin_invalid")
    return origin_code


def _check_date(value: date, today: date, *, allow_future_days: int = 0) -> date:
    from datetime import timedelta

    if value > today + timedelta(days=allow_future_days):
        raise DomainError("reports.date_future")
    if value < today - timedelta(days=60):
        raise DomainError("reports.date_too_old")
    return value


def place_name(code: str | None, locale: str) -> str:
    return Gazetteer.load().full_name(code, locale) if code else ""


def _summary(
    catalog: Catalog, community: Community, key: str, more: list[str] | None = None, **params: Any
) -> dict[str, Any]:
    """A case summary stored as its key and parameters (shown in each reader's language,
    bot.services.case_text), with the text in the community's language."""
    return case_text.summary_details(catalog, community.locale, f"reports.{key}", params, more=more)


def _level(level: str | None) -> dict[str, str] | str:
    return case_text.label(f"reports.level_{level}") if level else ""


# ---------------------------------------------------------------- return (R-RET)


async def submit_return(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    reporter: Person,
    origin_code: str,
    arrival_date: date,
    transport: str,
    traveller_ids: Sequence[int],
) -> ReportResult:
    """A household member (or several) came back from elsewhere. From a risk area each
    traveller starts (or extends) a home isolation and an urgent case is opened."""
    path = await reporter_context(session, reporter)
    community = path.community
    today = local_today(clock, community.timezone)
    _check_origin(origin_code)
    _check_date(arrival_date, today)
    if transport not in TRANSPORTS:
        raise DomainError("reports.choice_invalid")
    members = {m.id: m for m in await household_members(session, path.household.id)}
    travellers = [members[i] for i in dict.fromkeys(traveller_ids) if i in members]
    if not travellers or len(travellers) != len(set(traveller_ids)):
        raise DomainError("reports.travellers_invalid")
    details = {"transport": transport, "travellers": [p.id for p in travellers],
               "traveller_names": [p.name for p in travellers]}  # fmt: skip
    content = {"origin": origin_code, "arrival": arrival_date, **details}
    key = dedup_key(reporter.id, ReportKind.RETURN, content, today)
    if (found := await _existing(session, key)) is not None:
        return found
    report = await _store(
        session, clock, path=path, kind=ReportKind.RETURN, reporter=reporter, details=details,
        key=key, subject_id=travellers[0].id, origin_code=origin_code, arrival_date=arrival_date,
    )  # fmt: skip
    result = ReportResult(report, True, report.risk_level)
    if risk_areas.is_risky(report.risk_level):
        for person in travellers:
            isolation, _ = await start_isolation(
                session, clock, community=community, person=person, start_date=arrival_date,
                report_id=report.id, actor=reporter,
            )  # fmt: skip
            result.isolations.append(isolation)
        summary = _summary(
            catalog, community, "case_return",
            names=[p.name for p in travellers], origin=case_text.place(origin_code),
            level=_level(report.risk_level),
            arrival=arrival_date.isoformat(), end=result.isolations[0].end_date.isoformat(),
            transport=case_text.label(f"reports.transport_{transport}"),
        )  # fmt: skip
        result.case = await cases.open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.RETURN,
            urgent=True, household_id=path.household.id, subject_id=travellers[0].id,
            reporter_id=reporter.id, report_id=report.id, isolation_id=result.isolations[0].id,
            details=summary, dedup_key=f"report:{report.id}:case", actor=reporter,
        )  # fmt: skip
    return result


# ---------------------------------------------------------------- visit (R-VIS)


async def submit_visit(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    reporter: Person,
    visitor_name: str,
    visitor_phone: str | None,
    origin_code: str,
    arrival_date: date,
    stay_days: int,
) -> ReportResult:
    """A visitor stays with the reporter's household. From a risk area the visitor is
    recorded as a member without Telegram (the host reports for them), isolated, and
    an urgent case is opened."""
    path = await reporter_context(session, reporter)
    community = path.community
    today = local_today(clock, community.timezone)
    _check_origin(origin_code)
    _check_date(arrival_date, today)
    if not 1 <= stay_days <= STAY_MAX_DAYS:
        raise DomainError("reports.stay_invalid")
    details = {"visitor": visitor_name, "phone": visitor_phone or "", "stay_days": stay_days}
    content = {"origin": origin_code, "arrival": arrival_date, **details}
    key = dedup_key(reporter.id, ReportKind.VISIT, content, today)
    if (found := await _existing(session, key)) is not None:
        return found
    report = await _store(
        session, clock, path=path, kind=ReportKind.VISIT, reporter=reporter, details=details,
        key=key, origin_code=origin_code, arrival_date=arrival_date,
    )  # fmt: skip
    result = ReportResult(report, True, report.risk_level)
    if risk_areas.is_risky(report.risk_level):
        visitor = await _visitor_person(session, clock, path, reporter, visitor_name, visitor_phone)
        report.subject_id = visitor.id
        isolation, _ = await start_isolation(
            session, clock, community=community, person=visitor, start_date=arrival_date,
            report_id=report.id, actor=reporter,
        )  # fmt: skip
        result.isolations.append(isolation)
        summary = _summary(
            catalog, community, "case_visit", name=visitor_name, host=reporter.name,
            origin=case_text.place(origin_code), level=_level(report.risk_level),
            arrival=arrival_date.isoformat(), stay=stay_days, end=isolation.end_date.isoformat(),
        )  # fmt: skip
        result.case = await cases.open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.VISIT, urgent=True,
            household_id=path.household.id, subject_id=visitor.id, reporter_id=reporter.id,
            report_id=report.id, isolation_id=isolation.id, details=summary,
            dedup_key=f"report:{report.id}:case", actor=reporter,
        )  # fmt: skip
    return result


async def _visitor_person(
    session: AsyncSession,
    clock: Clock,
    path: HouseholdPath,
    reporter: Person,
    name: str,
    phone: str | None,
) -> Person:
    for member in await household_members(session, path.household.id):
        if member.name.casefold() == name.casefold():
            return member
    person = Person(
        household_id=path.household.id, name=name, phone=phone or None, relation="visitor",
        reported_by_id=reporter.id, created_at=clock.now(),
    )  # fmt: skip
    session.add(person)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=reporter, action="person.visitor", entity="person",
        entity_id=person.id, details={"household_id": path.household.id},
    )  # fmt: skip
    return person


# ---------------------------------------------------------------- tenant (R-TEN)


async def submit_tenant(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    reporter: Person,
    names: Sequence[str],
    origin_code: str,
    move_in_date: date,
    phone: str,
    relatives: bool = False,
    room: str = "",
) -> ReportResult:
    """Tenants (or relatives coming to stay) are registered and the officers told with a
    case; it is urgent when they come from a risk area."""
    path = await reporter_context(session, reporter)
    community = path.community
    today = local_today(clock, community.timezone)
    _check_origin(origin_code)
    _check_date(move_in_date, today, allow_future_days=30)
    if not names:
        raise DomainError("reports.names_missing")
    details = {"names": list(names), "phone": phone, "relatives": relatives, "room": room}
    content = {"origin": origin_code, "arrival": move_in_date, **details}
    key = dedup_key(reporter.id, ReportKind.TENANT, content, today)
    if (found := await _existing(session, key)) is not None:
        return found
    report = await _store(
        session, clock, path=path, kind=ReportKind.TENANT, reporter=reporter, details=details,
        key=key, origin_code=origin_code, arrival_date=move_in_date,
    )  # fmt: skip
    # From a risk area: an isolation proposal the officer starts from the card (R-RISK).
    summary = _summary(
        catalog, community, "case_tenant", names=list(names), relatives=relatives, phone=phone,
        origin=case_text.place(origin_code), room=room, landlord=reporter.name,
        level=_level(report.risk_level), arrival=move_in_date.isoformat(),
        more=["monitoring.tenant_proposal"] if risk_areas.is_risky(report.risk_level) else None,
    )  # fmt: skip
    case = await cases.open_case(
        session, clock, catalog, community_id=community.id, kind=CaseKind.TENANT,
        urgent=risk_areas.is_risky(report.risk_level), household_id=path.household.id,
        subject_id=reporter.id, reporter_id=reporter.id, report_id=report.id,
        details=summary, dedup_key=f"report:{report.id}:case", actor=reporter,
    )  # fmt: skip
    return ReportResult(report, True, report.risk_level, case=case)


# ---------------------------------------------------------------- symptoms (R-SYM)


async def submit_symptom(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    reporter: Person,
    subject_id: int,
    symptoms: Sequence[str],
    temperature: Decimal | None,
    since: date,
) -> ReportResult:
    """Fever, cough, …: always an urgent case; the result carries the designated fever
    clinics the resident is told about."""
    path = await reporter_context(session, reporter)
    community = path.community
    today = local_today(clock, community.timezone)
    _check_date(since, today)
    members = {m.id: m for m in await household_members(session, path.household.id)}
    subject = members.get(subject_id)
    if subject is None:
        raise DomainError("reports.travellers_invalid")
    chosen = [s for s in SYMPTOMS if s in set(symptoms)]
    if not chosen or len(chosen) != len(set(symptoms)):
        raise DomainError("reports.symptoms_missing")
    details = {"symptoms": chosen,
               "temperature": str(temperature) if temperature is not None else None,
               "since": since.isoformat()}  # fmt: skip
    key = dedup_key(reporter.id, ReportKind.SYMPTOM, {"subject": subject_id, **details}, today)
    if (found := await _existing(session, key)) is not None:
        return found
    report = await _store(
        session, clock, path=path, kind=ReportKind.SYMPTOM, reporter=reporter, details=details,
        key=key, subject_id=subject.id,
    )  # fmt: skip
    summary = _summary(
        catalog, community, "case_symptom", name=subject.name,
        symptoms=[case_text.label(f"reports.symptom_{s}") for s in chosen],
        temperature=details["temperature"], since=since.isoformat(),
    )  # fmt: skip
    case = await cases.open_case(
        session, clock, catalog, community_id=community.id, kind=CaseKind.SYMPTOM, urgent=True,
        household_id=path.household.id, subject_id=subject.id, reporter_id=reporter.id,
        report_id=report.id, details={**summary, "notify": True},
        dedup_key=f"report:{report.id}:case", actor=reporter,
    )  # fmt: skip
    return ReportResult(report, True, None, case=case, clinics=list(community.fever_clinics or []))


# ---------------------------------------------------------------- tip-off (R-TIP)


async def submit_tipoff(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    reporter: Person,
    concern: str,
    about: str,
    text: str,
) -> ReportResult:
    """A suspected concealment. The reporter is kept on the Report only: the case has
    no reporter, no household of the reporter, and its card never names them."""
    path = await reporter_context(session, reporter)
    community = path.community
    today = local_today(clock, community.timezone)
    if concern not in CONCERNS:
        raise DomainError("reports.choice_invalid")
    details = {"concern": concern, "about": about, "text": text}
    # The same tip-off sent twice the same day collapses; the key names no reporter.
    key = dedup_key(0, ReportKind.TIPOFF, details, today)
    if (found := await _existing(session, key)) is not None:
        return found
    report = await _store(
        session, clock, path=path, kind=ReportKind.TIPOFF, reporter=reporter, details=details,
        key=key, anonymous=True,
    )  # fmt: skip
    summary = _summary(
        catalog, community, "case_tipoff", concern=case_text.label(f"reports.concern_{concern}"),
        about=about, text=text,
    )  # fmt: skip
    case = await cases.open_case(
        session, clock, catalog, community_id=community.id, kind=CaseKind.TIPOFF, urgent=False,
        report_id=report.id, details=summary, dedup_key=f"report:{report.id}:case",
    )  # fmt: skip
    return ReportResult(report, True, None, case=case)


# ---------------------------------------------------------------- supplies (R-SUP)


async def isolated_members(session: AsyncSession, household_id: int) -> list[Person]:
    return list(
        await session.scalars(
            select(Person)
            .join(Isolation, Isolation.person_id == Person.id)
            .where(Person.household_id == household_id, Isolation.status == IsolationStatus.ACTIVE)
            .order_by(Person.id)
        )
    )


async def submit_supplies(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    reporter: Person,
    need: str,
    text: str,
) -> ReportResult:
    """Food, medicine or other help for a household in home isolation: a case of kind
    supplies for the volunteers and the grid worker (urgent for medicine)."""
    path = await reporter_context(session, reporter)
    community = path.community
    today = local_today(clock, community.timezone)
    if need not in NEEDS:
        raise DomainError("reports.choice_invalid")
    isolated = await isolated_members(session, path.household.id)
    if not isolated:
        raise DomainError("reports.supplies_not_isolated")
    subject = reporter if reporter.id in {p.id for p in isolated} else isolated[0]
    isolation = await session.scalar(
        select(Isolation).where(
            Isolation.person_id == subject.id, Isolation.status == IsolationStatus.ACTIVE
        )
    )
    details = {"need": need, "text": text}
    key = dedup_key(reporter.id, ReportKind.SUPPLIES, details, today)
    if (found := await _existing(session, key)) is not None:
        return found
    report = await _store(
        session, clock, path=path, kind=ReportKind.SUPPLIES, reporter=reporter, details=details,
        key=key, subject_id=subject.id,
    )  # fmt: skip
    summary = _summary(
        catalog, community, "case_supplies", need=case_text.label(f"reports.need_{need}"),
        text=text,
    )  # fmt: skip
    case = await cases.open_case(
        session, clock, catalog, community_id=community.id, kind=CaseKind.SUPPLIES,
        urgent=need == "medicine", household_id=path.household.id, subject_id=subject.id,
        reporter_id=reporter.id, report_id=report.id,
        isolation_id=isolation.id if isolation else None,
        details={**summary, "notify": True}, dedup_key=f"report:{report.id}:case",
        actor=reporter,
    )  # fmt: skip
    return ReportResult(report, True, None, case=case)


# ---------------------------------------------------------------- my status (R-ME)


async def my_reports(session: AsyncSession, reporter: Person, limit: int = 10) -> list[Report]:
    """The person's own reports, latest first."""
    return list(
        await session.scalars(
            select(Report)
            .where(Report.reporter_id == reporter.id)
            .order_by(Report.created_at.desc(), Report.id.desc())
            .limit(limit)
        )
    )


@dataclass
class IsolationDays:
    """One active isolation as /me shows it: whose, which day it is today (day 1 is the
    start date, counted in the community's time zone; 0 before it starts), the days
    left including today, and its check-ins so far."""

    person: Person
    isolation: Isolation
    day_number: int
    total_days: int
    days_left: int
    checkins: list[CheckIn]


@dataclass
class MyStatus:
    """R-ME: own reports (latest first), active isolation and days left, check-ins; and
    the isolations of the family members this person answers the check-in for."""

    reports: list[Report]
    isolation: Isolation | None
    days_left: int | None
    checkins: list[CheckIn]
    isolations: list[IsolationDays] = field(default_factory=list)


async def _isolation_days(
    session: AsyncSession, clock: Clock, person: Person, isolation: Isolation
) -> IsolationDays:
    community = await session.get(Community, isolation.community_id)
    today = local_today(clock, community.timezone if community else "Asia/Shanghai")
    total = (isolation.end_date - isolation.start_date).days + 1
    day_number = (today - isolation.start_date).days + 1
    if day_number < 1:
        day_number, days_left = 0, total
    else:
        days_left = max(min((isolation.end_date - today).days + 1, total), 0)
    checkins = list(
        await session.scalars(
            select(CheckIn).where(CheckIn.isolation_id == isolation.id).order_by(CheckIn.day)
        )
    )
    return IsolationDays(person, isolation, day_number, total, days_left, checkins)


async def my_status(session: AsyncSession, clock: Clock, person: Person) -> MyStatus:
    own = await my_reports(session, person)
    people = [person]
    if person.household_id is not None:
        people += [
            p
            for p in await household_members(session, person.household_id)
            if p.id != person.id and can_answer_for(person, p)
        ]
    found: list[IsolationDays] = []
    for someone in people:
        isolation = await session.scalar(
            select(Isolation).where(
                Isolation.person_id == someone.id, Isolation.status == IsolationStatus.ACTIVE
            )
        )
        if isolation is not None:
            found.append(await _isolation_days(session, clock, someone, isolation))
    mine = found[0] if found and found[0].person.id == person.id else None
    if mine is None:
        return MyStatus(own, None, None, [], found)
    return MyStatus(own, mine.isolation, mine.days_left, mine.checkins, found)
