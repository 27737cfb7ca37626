"""Rows of every ledger sheet, created directly (other features own the flows)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Case,
    CheckIn,
    Gate,
    GateEntry,
    Isolation,
    Person,
    Report,
)


async def add_person(
    session: AsyncSession, name: str, household_id: int, at: datetime, tg: int | None = None
) -> Person:
    person = Person(name=name, household_id=household_id, telegram_user_id=tg, created_at=at)
    session.add(person)
    await session.flush()
    return person


async def seed_ledger_rows(
    session: AsyncSession,
    *,
    community_id: int,
    compound_id: int,
    household_id: int,
    at: datetime,
    day: date,
    officer_id: int | None,
) -> dict[str, int]:
    """One row per sheet at `at` / `day`; returns their ids."""
    person = await add_person(session, "张<b>三</b>", household_id, at)
    report = Report(
        community_id=community_id, kind="return", household_id=household_id,
        reporter_id=person.id, subject_id=person.id, origin_code="420100",
        arrival_date=day, risk_level="high", details={}, created_at=at,
    )  # fmt: skip
    session.add(report)
    await session.flush()
    isolation = Isolation(
        community_id=community_id, person_id=person.id, report_id=report.id,
        start_date=day, end_date=day, status="active", created_at=at,
    )  # fmt: skip
    session.add(isolation)
    await session.flush()
    session.add(
        CheckIn(
            isolation_id=isolation.id,
            day=day,
            day_number=1,
            status="answered",
            temperature=Decimal("36.6"),
            symptoms=["cough"],
            answered_at=at,
            answered_by_id=person.id,
            created_at=at,
        )
    )
    gate = Gate(
        compound_id=compound_id, name="南门", token=f"tok{household_id}x{at.timestamp():.0f}"
    )
    session.add(gate)
    await session.flush()
    entry = GateEntry(
        compound_id=compound_id, gate_id=gate.id, direction="in", subject_kind="visitor",
        name="李四", origin_code="110000", temperature=Decimal("36.4"),
        recorded_by_id=officer_id, at=at,
    )  # fmt: skip
    session.add(entry)
    case = Case(
        community_id=community_id, kind="gate_fever", urgent=True, status="open",
        compound_id=compound_id, household_id=household_id, subject_id=person.id,
        reporter_id=officer_id, details={"summary": "38.5 °C"}, created_at=at,
    )  # fmt: skip
    session.add(case)
    await session.flush()
    return {"person": person.id, "report": report.id, "gate": gate.id, "case": case.id}
