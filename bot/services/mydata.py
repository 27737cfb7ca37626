"""/mydata (R-PRIV, issue 11): everything held about a resident and their household, as
JSON and as a readable HTML page, audited as a read.

Included: the person's profile and household address, the household's members,
consent decisions, reports the person made or that are about a member, isolations and
check-ins of members, gate passages of members, and cases about the household or a
member. Excluded: who made a tip-off (the reporter of a case or report made by someone
outside the household is never named) and staff notes (case events, resolution notes),
which may identify a tip-off's author.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import (
    Case,
    CheckIn,
    Consent,
    DataRequest,
    GateEntry,
    Isolation,
    Person,
    Report,
)
from bot.services import audit
from bot.services.directory import household_members, household_path
from bot.services.errors import DomainError

# Report details that may name someone else (a tip-off's target is the household's own
# business; free text by the reporter stays, it is the resident's own words).
_HIDDEN_CASE_DETAIL_KEYS = {"reporter", "reporter_name", "reporter_phone", "note", "notes"}


@dataclass(frozen=True)
class MyData:
    data: dict[str, Any]
    json_bytes: bytes
    html_bytes: bytes


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: _value(getattr(obj, f)) for f in fields}


async def collect(session: AsyncSession, person: Person) -> dict[str, Any]:
    """Everything held about `person` and their household, as plain JSON values."""
    members = (
        await household_members(session, person.household_id) if person.household_id else [person]
    )
    if person not in members:
        members = [person, *members]
    ids = [m.id for m in members]
    inside = set(ids)
    out: dict[str, Any] = {
        "person": _row(person, ("id", "name", "phone", "relation", "is_head", "language",
                                "created_at", "updated_at")),
    }  # fmt: skip
    if person.household_id is not None:
        path = await household_path(session, person.household_id)
        if path is not None:
            out["household"] = {
                "id": path.household.id,
                "community": path.community.name,
                "compound": path.compound.name,
                "building": path.building.name,
                "unit": path.unit.name,
                "room": path.household.room,
            }
    out["members"] = [
        _row(m, ("id", "name", "phone", "relation", "is_head", "created_at")) | {
            "has_telegram": m.telegram_user_id is not None}
        for m in members
    ]  # fmt: skip
    consents = await session.scalars(
        select(Consent)
        .where(
            or_(
                Consent.person_id == person.id,
                Consent.telegram_user_id == (person.telegram_user_id or -1),
            )
        )
        .order_by(Consent.at, Consent.id)
    )
    out["consents"] = [
        _row(c, ("purpose", "text_version", "locale", "granted", "at")) for c in consents
    ]
    reports = await session.scalars(
        select(Report)
        .where(
            or_(
                Report.reporter_id == person.id,
                Report.subject_id.in_(ids),
                Report.household_id == (person.household_id or -1),
            )
        )
        .order_by(Report.created_at, Report.id)
    )
    out["reports"] = []
    for r in reports:
        row = _row(r, ("id", "kind", "origin_code", "arrival_date", "risk_level", "created_at"))
        # A report made by someone outside the household (a tip-off about it) is listed
        # without its reporter and details.
        own = r.reporter_id in inside
        row["made_by_household"] = own
        row["details"] = dict(r.details or {}) if own else {}
        out["reports"].append(row)
    isolations = (
        await session.scalars(
            select(Isolation).where(Isolation.person_id.in_(ids)).order_by(Isolation.id)
        )
    ).all()
    out["isolations"] = []
    for iso in isolations:
        row = _row(iso, ("id", "person_id", "start_date", "end_date", "status", "ended_at"))
        checkins = await session.scalars(
            select(CheckIn).where(CheckIn.isolation_id == iso.id).order_by(CheckIn.day)
        )
        row["checkins"] = [
            _row(c, ("day", "day_number", "status", "temperature", "symptoms", "answered_at"))
            for c in checkins
        ]
        out["isolations"].append(row)
    gates = await session.scalars(
        select(GateEntry).where(GateEntry.person_id.in_(ids)).order_by(GateEntry.at)
    )
    out["gate_passages"] = [
        _row(g, ("at", "direction", "subject_kind", "origin_code", "plate", "temperature"))
        for g in gates
    ]
    cases = await session.scalars(
        select(Case)
        .where(
            or_(
                Case.subject_id.in_(ids),
                Case.household_id == (person.household_id or -1),
                Case.reporter_id == person.id,
            )
        )
        .order_by(Case.created_at, Case.id)
    )
    out["cases"] = []
    for case in cases:
        row = _row(case, ("id", "kind", "status", "urgent", "created_at", "resolved_at"))
        details = dict(case.details or {})
        row["summary"] = "" if case.kind == "tipoff" else str(details.get("summary", ""))
        # Staff notes and the tip-off's author are never shown (case events, the
        # resolution note and the reporter are left out).
        row["reported_by_household"] = case.reporter_id in inside
        out["cases"].append(row)
    requests = await session.scalars(
        select(DataRequest).where(DataRequest.person_id == person.id).order_by(DataRequest.id)
    )
    out["data_requests"] = [
        _row(d, ("id", "kind", "status", "requested_at", "due_at", "decided_at", "outcome"))
        for d in requests
    ]
    return out


def render_html(data: dict[str, Any], labels: dict[str, str], title: str) -> bytes:
    """A self-contained page: one table per section, every value escaped."""

    def cell(value: Any) -> str:
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        return html.escape("" if value is None else str(value))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;margin:0 0 1.5em}"
        "td,th{border:1px solid #999;padding:2px 6px;text-align:left;vertical-align:top}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for key, section in data.items():
        parts.append(f"<h2>{html.escape(labels.get(key, key))}</h2>")
        rows = section if isinstance(section, list) else [section]
        if not rows:
            parts.append("<p>—</p>")
            continue
        columns = list(rows[0].keys())
        parts.append("<table><tr>" + "".join(f"<th>{cell(c)}</th>" for c in columns) + "</tr>")
        for row in rows:
            parts.append(
                "<tr>" + "".join(f"<td>{cell(row.get(c))}</td>" for c in columns) + "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")


async def export_my_data(
    session: AsyncSession,
    clock: Clock,
    person: Person | None,
    *,
    labels: dict[str, str],
    title: str,
) -> MyData:
    """The resident's file, audited as a read of personal data by its subject."""
    if person is None or person.household_id is None:
        raise DomainError("privacy.not_registered")
    data = await collect(session, person)
    await audit.record_read(
        session, at=clock.now(), actor=person, what="mydata", entity="person",
        entity_id=person.id,
        details={k: len(v) for k, v in data.items() if isinstance(v, list)},
    )  # fmt: skip
    return MyData(
        data,
        json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
        render_html(data, labels, title),
    )
