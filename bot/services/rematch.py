"""Risk areas re-match what was already reported (R-RISK).

A risk area added today, or added with an earlier start ("backdated"), is matched
against the returns, visits, tenants and gate passages of its window that were not
matched when they were reported. Each match acts once (dedup keys per report / gate
passage): a return or visit starts home isolations and opens an urgent case; a tenant
report opens a case proposing monitoring for the tenants; a visitor's gate passage
opens a case. Risk areas can also be imported from a bulletin (one line per area).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import (
    CaseKind,
    Community,
    Compound,
    GateEntry,
    Person,
    Report,
    ReportKind,
    RiskArea,
)
from bot.places import Gazetteer
from bot.services import case_text, cases, monitoring, risk_areas
from bot.services.directory import household_members, household_path
from bot.services.errors import DomainError
from bot.services.isolation import start_isolation
from messages import Catalog

KINDS = (ReportKind.RETURN.value, ReportKind.VISIT.value, ReportKind.TENANT.value)


@dataclass
class Rematch:
    reports: int = 0
    passages: int = 0
    isolations: int = 0
    cases: list[int] = field(default_factory=list)


async def rematch_area(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, area: RiskArea, actor: Person | None
) -> Rematch:
    community = await session.get(Community, area.community_id)
    assert community is not None
    gaz = Gazetteer.load()
    today = local_today(clock, community.timezone)
    last = min(area.valid_to or today, today)
    result = Rematch()
    level_label = case_text.label(f"reports.level_{area.level}")
    reports = (
        await session.scalars(
            select(Report)
            .where(
                Report.community_id == community.id,
                Report.kind.in_(KINDS),
                Report.arrival_date >= area.valid_from,
                Report.arrival_date <= last,
                Report.origin_code.is_not(None),
                Report.risk_level.is_(None),
            )
            .order_by(Report.id)
        )
    ).all()
    for report in reports:
        if not report.origin_code or not gaz.is_within(report.origin_code, area.place_code):
            continue
        key = f"rematch:report:{report.id}"
        if await monitoring.case_exists(session, key):
            continue
        report.risk_level = area.level
        result.reports += 1
        names, isolation_id, subject_id = await _act_on_report(
            session, clock, catalog, community, report, actor
        )
        result.isolations += len(names) if report.kind != ReportKind.TENANT else 0
        summary = case_text.summary_details(
            catalog, community.locale, f"monitoring.case_rematch_{report.kind}",
            {"names": names, "origin": case_text.place(report.origin_code),
             "level": level_label,
             "arrival": report.arrival_date.isoformat() if report.arrival_date else "",
             "reported": report.created_at.date().isoformat()},
        )  # fmt: skip
        case = await cases.open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.RISK_MATCH,
            urgent=True, household_id=report.household_id, subject_id=subject_id,
            report_id=report.id, isolation_id=isolation_id, details=summary,
            dedup_key=key, actor=actor,
        )  # fmt: skip
        result.cases.append(case.id)
    start = clock.now() - timedelta(days=(today - area.valid_from).days + 1)
    entries = (
        await session.scalars(
            select(GateEntry)
            .where(
                GateEntry.origin_code.is_not(None),
                GateEntry.at >= start,
                GateEntry.compound_id.in_(_compounds(community.id)),
            )
            .order_by(GateEntry.id)
        )
    ).all()
    for entry in entries:
        if not entry.origin_code or not gaz.is_within(entry.origin_code, area.place_code):
            continue
        key = f"rematch:gate:{entry.id}"
        if await monitoring.case_exists(session, key) or await monitoring.case_exists(
            session, f"gate_risk:{entry.id}"
        ):
            continue
        result.passages += 1
        summary = case_text.summary_details(
            catalog, community.locale, "monitoring.case_rematch_gate",
            {"who": entry.name or "", "origin": case_text.place(entry.origin_code),
             "level": level_label, "at": entry.at.date().isoformat()},
        )  # fmt: skip
        case = await cases.open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.RISK_MATCH,
            urgent=False, compound_id=entry.compound_id, subject_id=entry.person_id,
            details=summary, dedup_key=key, actor=actor,
        )  # fmt: skip
        result.cases.append(case.id)
    return result


def _compounds(community_id: int) -> Select[Any]:
    return select(Compound.id).where(Compound.community_id == community_id)


async def _act_on_report(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    community: Community,
    report: Report,
    actor: Person | None,
) -> tuple[list[str], int | None, int | None]:
    """Returns and visits: home isolation from the arrival date (the person is told by
    their check-in prompts and a message). Tenants: no person to isolate yet, the case
    proposes monitoring (names listed, an officer starts it from the card)."""
    assert report.arrival_date is not None
    details = report.details or {}
    if report.kind == ReportKind.TENANT:
        return list(details.get("names", [])), None, report.reporter_id
    people: list[Person] = []
    if report.kind == ReportKind.RETURN:
        wanted = set(details.get("travellers", []))
        if report.household_id is not None:
            people = [
                m for m in await household_members(session, report.household_id) if m.id in wanted
            ]
    elif report.household_id is not None:
        path = await household_path(session, report.household_id)
        reporter = await session.get(Person, report.reporter_id) if report.reporter_id else None
        if path is not None and reporter is not None:
            from bot.services.reports import _visitor_person

            visitor = await _visitor_person(
                session, clock, path, reporter, str(details.get("visitor", "")),
                details.get("phone") or None,
            )  # fmt: skip
            report.subject_id = visitor.id
            people = [visitor]
    first_id = None
    for person in people:
        isolation, new = await start_isolation(
            session, clock, community=community, person=person, start_date=report.arrival_date,
            report_id=report.id, actor=actor,
        )  # fmt: skip
        first_id = first_id or isolation.id
        if new:
            await monitoring.tell_person(
                session, clock, catalog, community, isolation, what="rematch",
                key=f"monitoring:{isolation.id}:rematch",
            )  # fmt: skip
    return [p.name for p in people], first_id, people[0].id if people else None


# --------------------------------------------------------------------------- import


@dataclass
class ImportedAreas:
    added: list[RiskArea] = field(default_factory=list)
    # line, text, message key and its parameters
    errors: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)
    rematched: Rematch = field(default_factory=Rematch)


async def import_areas(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    community: Community,
    text: str,
    actor: Person | None,
) -> ImportedAreas:
    """One area a line, as bulletins list them: "province city district [street],
    level, from, to" (commas, tabs or spaces). Bad lines are reported, not fatal."""
    today = local_today(clock, community.timezone)
    result = ImportedAreas()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"[,，\t;；]+", " ", raw).strip()
        if not line or line.startswith("#"):
            continue
        try:
            args = risk_areas.parse_add_args(line, today)
        except DomainError as exc:
            result.errors.append((number, raw.strip()[:60], exc.key, exc.params))
            continue
        area = await risk_areas.add_risk_area(
            session, clock, community_id=community.id, args=args, actor=actor
        )
        result.added.append(area)
        found = await rematch_area(session, clock, catalog, area=area, actor=actor)
        result.rematched.reports += found.reports
        result.rematched.passages += found.passages
        result.rematched.isolations += found.isolations
        result.rematched.cases += found.cases
    return result


async def districts_at_risk(
    session: AsyncSession, community_id: int, place_code: str, on: date
) -> bool:
    """True when `place_code` (a city or province) is not itself a risk area but has
    areas in some of its districts: the resident is asked which district."""
    gaz = Gazetteer.load()
    place = gaz.get(place_code)
    if place is None or place.level == "district":
        return False
    inner = False
    for area in await risk_areas.list_risk_areas(session, community_id):
        if area.valid_to is not None and area.valid_to < on:
            continue
        if gaz.is_within(place_code, area.place_code):
            return False  # the whole city is an area: no need to ask
        if area.place_code != place_code and gaz.is_within(area.place_code, place_code):
            inner = True
    return inner
