"""The officers' daily chart: returns per day, people in isolation, check-in rate and
open cases over the last weeks, as one PNG (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_days_utc, local_now, local_today
from bot.db.models import (
    Building,
    Case,
    CheckIn,
    CheckInStatus,
    Community,
    Household,
    Isolation,
    JobRun,
    Person,
    Report,
    ReportKind,
    Unit,
)
from bot.services.gate_poster import cjk_font_path
from messages import Catalog

MAX_WEEKS = 12


@dataclass
class DailySeries:
    days: list[date]
    returns: list[int] = field(default_factory=list)
    isolated: list[int] = field(default_factory=list)
    checkin_rate: list[float] = field(default_factory=list)
    open_cases: list[int] = field(default_factory=list)


def _households_in(compound_ids: frozenset[int]) -> Select[int]:
    return (
        select(Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .where(Building.compound_id.in_(compound_ids))
    )


async def daily_series(
    session: AsyncSession,
    community: Community,
    last: date,
    weeks: int,
    compound_ids: frozenset[int] | None = None,
) -> DailySeries:
    """Per local day from `weeks` weeks before `last` up to `last` (inclusive); with
    `compound_ids`, only the reports, isolations, check-ins and cases of those compounds
    (a compound officer's chart)."""
    report_where: list[ColumnElement[bool]] = []
    isolation_where: list[ColumnElement[bool]] = []
    case_where: list[ColumnElement[bool]] = []
    if compound_ids is not None:
        households = _households_in(compound_ids)
        report_where.append(Report.household_id.in_(households))
        isolation_where.append(
            Isolation.person_id.in_(select(Person.id).where(Person.household_id.in_(households)))
        )
        case_where.append(Case.compound_id.in_(compound_ids))
    zone = ZoneInfo(community.timezone)
    first = last - timedelta(days=7 * weeks - 1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    series = DailySeries(days)
    start, end = local_days_utc(first, last, community.timezone)
    index = {d: i for i, d in enumerate(days)}
    returns = [0] * len(days)
    for created in await session.scalars(
        select(Report.created_at).where(
            Report.community_id == community.id,
            Report.kind == ReportKind.RETURN,
            Report.created_at >= start,
            Report.created_at < end,
            *report_where,
        )
    ):
        returns[index[created.astimezone(zone).date()]] += 1
    isolated = [0] * len(days)
    for start_date, end_date, ended_at in await session.execute(
        select(Isolation.start_date, Isolation.end_date, Isolation.ended_at).where(
            Isolation.community_id == community.id,
            Isolation.start_date <= last,
            Isolation.end_date >= first,
            *isolation_where,
        )
    ):
        stop = min(end_date, ended_at.astimezone(zone).date() if ended_at else end_date)
        for d in days:
            if start_date <= d <= stop:
                isolated[index[d]] += 1
    answered, total = [0] * len(days), [0] * len(days)
    for day, status in await session.execute(
        select(CheckIn.day, CheckIn.status)
        .join(Isolation, CheckIn.isolation_id == Isolation.id)
        .where(
            Isolation.community_id == community.id,
            CheckIn.day >= first,
            CheckIn.day <= last,
            *isolation_where,
        )
    ):
        total[index[day]] += 1
        answered[index[day]] += status == CheckInStatus.ANSWERED
    open_cases = [0] * len(days)
    for created, resolved in await session.execute(
        select(Case.created_at, Case.resolved_at).where(
            Case.community_id == community.id,
            Case.created_at < end,
            (Case.resolved_at.is_(None)) | (Case.resolved_at >= start),
            *case_where,
        )
    ):
        for i, d in enumerate(days):
            day_end = datetime.combine(d + timedelta(days=1), time(0), tzinfo=zone)
            if created < day_end and (resolved is None or resolved >= day_end):
                open_cases[i] += 1
    series.returns, series.isolated, series.open_cases = returns, isolated, open_cases
    series.checkin_rate = [100 * a / t if t else 0.0 for a, t in zip(answered, total, strict=True)]
    return series


def chart_uses_cjk() -> bool:
    """Whether labels may be Chinese (a CJK font is installed); else use English ones."""
    return cjk_font_path() is not None


def render_chart(series: DailySeries, labels: dict[str, str]) -> bytes:
    """Four small panels, one per measure; `labels` has title, returns, isolated,
    checkin_rate, open_cases (already in the reader's language)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    font = cjk_font_path()
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        matplotlib.rcParams["font.family"] = font_manager.FontProperties(fname=str(font)).get_name()
    figure = Figure(figsize=(10, 7), dpi=100)
    figure.suptitle(labels["title"])
    axes = figure.subplots(2, 2, sharex=True)
    panels = (
        (axes[0][0], series.returns, labels["returns"], "bar"),
        (axes[0][1], series.isolated, labels["isolated"], "line"),
        (axes[1][0], series.checkin_rate, labels["checkin_rate"], "line"),
        (axes[1][1], series.open_cases, labels["open_cases"], "line"),
    )
    for ax, values, title, kind in panels:
        if kind == "bar":
            ax.bar(series.days, values, color="#c0392b")
        else:
            ax.plot(series.days, values, marker=".", color="#2c3e50")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes[1][0].set_ylim(0, 105)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_labels(render: Callable[..., str], weeks: int) -> dict[str, str]:
    keys = ("returns", "isolated", "checkin_rate", "open_cases")
    labels = {k: render(f"charts.{k}") for k in keys}
    labels["title"] = render("charts.title", weeks=weeks)
    return labels


async def community_chart(
    session: AsyncSession, clock: Clock, community: Community, catalog: Catalog, locale: str,
    weeks: int, compound_ids: frozenset[int] | None = None,
) -> bytes:  # fmt: skip
    """The chart PNG of `community` (or of only `compound_ids` in it) for the last
    `weeks` weeks (labels in `locale`, or in English when no CJK font is installed)."""
    weeks = min(max(weeks, 1), MAX_WEEKS)
    today = local_today(clock, community.timezone)
    series = await daily_series(session, community, today, weeks, compound_ids)
    label_locale = locale if chart_uses_cjk() or not locale.startswith("zh") else "en"
    return render_chart(series, chart_labels(catalog.translator(label_locale), weeks))


async def due_daily_charts(session: AsyncSession, clock: Clock) -> list[tuple[Community, str]]:
    """Communities whose daily chart (from their `chart_time`, 20:00 unless /set) is
    due, each with its JobRun key; claiming the key is the caller's job (in the
    transaction that enqueues)."""
    due = []
    for community in await session.scalars(
        select(Community).where(Community.officer_chat_id.is_not(None))
    ):
        now_local = local_now(clock, community.timezone)
        if now_local.time() < community.chart_time:
            continue
        key = f"chart:{community.id}:{now_local.date().isoformat()}"
        if await session.get(JobRun, key) is None:
            due.append((community, key))
    return due
