"""The report kinds (R-RET, R-VIS, R-TEN, R-SYM, R-TIP, R-SUP): what each one asks and
how its answers are submitted. The questions are asked by the form engine
(handlers/forms.py); the handlers are in handlers/reports.py and report_steps.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.presentation.callbacks import MenuCb
from bot.presentation.keyboards import buttons
from bot.services import reports
from messages import Catalog, Translator

KINDS: tuple[str, ...] = ("return", "visit", "tenant", "symptom", "tipoff", "supplies")


@dataclass(frozen=True)
class Step:
    """One question: `field` is where the answer goes, `kind` how it is asked/parsed."""

    field: str
    kind: str  # place | date | choice | multi | member | text | name | names | phone | temp | int
    options: tuple[str, ...] = ()
    max_len: int = 0
    optional: bool = False
    # Free text of several lines (what happened, what is needed); a flat or "about whom"
    # is one line, as it is shown on one line of the summary and the case card.
    multiline: bool = False


STEPS: dict[str, tuple[Step, ...]] = {
    "return": (
        Step("origin", "place"),
        Step("arrival", "date"),
        Step("transport", "choice", reports.TRANSPORTS),
        Step("travellers", "multi"),
    ),
    "visit": (
        Step("visitor", "name"),
        Step("visitor_phone", "phone", optional=True),
        Step("origin", "place"),
        Step("arrival", "date"),
        Step("stay", "int"),
    ),
    "tenant": (
        Step("who", "choice", ("tenant", "relatives")),
        Step("names", "names", max_len=200),
        Step("origin", "place"),
        Step("arrival", "date"),
        Step("phone", "phone"),
        Step("room", "text", max_len=40, optional=True),
    ),
    "symptom": (
        Step("subject", "member"),
        Step("symptoms", "multi", reports.SYMPTOMS),
        Step("temperature", "temp", optional=True),
        Step("since", "date"),
    ),
    "tipoff": (
        Step("concern", "choice", reports.CONCERNS),
        Step("about", "text", max_len=100),
        Step("text", "text", max_len=reports.TEXT_MAX, multiline=True),
    ),
    "supplies": (
        Step("need", "choice", reports.NEEDS),
        Step("text", "text", max_len=reports.TEXT_MAX, multiline=True),
    ),
}
BUTTON_STEPS = {"choice", "multi", "member"}


def report_menu_markup(t: Translator) -> InlineKeyboardMarkup:
    rows = [
        [(t(f"reports.menu_{k}"), MenuCb(action=f"report_{k}")) for k in KINDS[i : i + 2]]
        for i in range(0, len(KINDS), 2)
    ]
    return buttons(rows)


# ---------------------------------------------------------------- submitting

Submitter = Callable[
    [AsyncSession, Clock, Catalog, Any, dict[str, Any]], Awaitable[reports.ReportResult]
]


async def _return(
    session: AsyncSession, clock: Clock, catalog: Catalog, person: Any, a: dict[str, Any]
) -> reports.ReportResult:
    return await reports.submit_return(
        session,
        clock,
        catalog,
        reporter=person,
        origin_code=str(a["origin"]),
        arrival_date=date.fromisoformat(a["arrival"]),
        transport=str(a["transport"]),
        traveller_ids=[int(v) for v in a["travellers"]],
    )


async def _visit(
    session: AsyncSession, clock: Clock, catalog: Catalog, person: Any, a: dict[str, Any]
) -> reports.ReportResult:
    return await reports.submit_visit(
        session,
        clock,
        catalog,
        reporter=person,
        visitor_name=str(a["visitor"]),
        visitor_phone=a.get("visitor_phone"),
        origin_code=str(a["origin"]),
        arrival_date=date.fromisoformat(a["arrival"]),
        stay_days=int(a["stay"]),
    )


async def _tenant(
    session: AsyncSession, clock: Clock, catalog: Catalog, person: Any, a: dict[str, Any]
) -> reports.ReportResult:
    return await reports.submit_tenant(
        session,
        clock,
        catalog,
        reporter=person,
        names=list(a["names"]),
        origin_code=str(a["origin"]),
        move_in_date=date.fromisoformat(a["arrival"]),
        phone=str(a["phone"]),
        relatives=a["who"] == "relatives",
        room=a.get("room") or "",
    )


async def _symptom(
    session: AsyncSession, clock: Clock, catalog: Catalog, person: Any, a: dict[str, Any]
) -> reports.ReportResult:
    temp = a.get("temperature")
    return await reports.submit_symptom(
        session,
        clock,
        catalog,
        reporter=person,
        subject_id=int(a["subject"]),
        symptoms=list(a["symptoms"]),
        temperature=Decimal(temp) if temp else None,
        since=date.fromisoformat(a["since"]),
    )


async def _tipoff(
    session: AsyncSession, clock: Clock, catalog: Catalog, person: Any, a: dict[str, Any]
) -> reports.ReportResult:
    return await reports.submit_tipoff(
        session,
        clock,
        catalog,
        reporter=person,
        concern=str(a["concern"]),
        about=str(a["about"]),
        text=str(a["text"]),
    )


async def _supplies(
    session: AsyncSession, clock: Clock, catalog: Catalog, person: Any, a: dict[str, Any]
) -> reports.ReportResult:
    return await reports.submit_supplies(
        session, clock, catalog, reporter=person, need=str(a["need"]), text=str(a["text"])
    )


SUBMITTERS: dict[str, Submitter] = {
    "return": _return,
    "visit": _visit,
    "tenant": _tenant,
    "symptom": _symptom,
    "tipoff": _tipoff,
    "supplies": _supplies,
}


async def submit(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    person: Any,
    kind: str,
    answers: dict[str, Any],
) -> reports.ReportResult:
    """Save a confirmed report of `kind` (one of STEPS) from the answers collected."""
    return await SUBMITTERS[kind](session, clock, catalog, person, answers)
