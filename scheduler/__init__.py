"""When things are due. APScheduler runs one short `tick` job every TICK_SECONDS; the
tick asks each registered periodic task what is due *now* (in each community's own
time zone) and writes it to durable tables (the outbox, check-in rows, job runs).

A task never sends directly and is idempotent: running a tick twice, or after the bot
was stopped for hours, does no harm, because what was done is recorded in our tables,
not in APScheduler's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.core.outage import database_unavailable
from bot.settings import Settings
from messages import Catalog

log = logging.getLogger(__name__)
TICK_SECONDS = 30


@dataclass(frozen=True)
class JobContext:
    """What a periodic task needs; handed in, never global."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    settings: Settings
    catalog: Catalog
    on_tick: Callable[[datetime], None] | None = None  # metrics: when the last tick ran
    #: The process's database outage record (bot/core/outage.py): one log line per outage.
    database: Any = None


PeriodicTask = Callable[[JobContext], Awaitable[object]]


def periodic_tasks() -> list[tuple[str, PeriodicTask]]:
    """Every periodic task, in the order a tick runs them (features add theirs here)."""
    from scheduler.checkins import checkin_tick
    from scheduler.monitoring import monitoring_tick
    from scheduler.notice_jobs import daily_public_posts, due_notices, notice_cards
    from scheduler.privacy import daily_purge, due_data_requests
    from scheduler.reports import coverage_reminders, daily_charts
    from scheduler.rounds import testing_rounds
    from scheduler.sealing import care_checks, overdue_supplies, rosters

    return [
        ("case_realert", realert_cases),
        # Step-downs first: a category that continues is not released by the check-ins.
        ("monitoring", monitoring_tick),
        ("join_requests", escalate_join_requests),
        ("checkins", checkin_tick),
        ("notices_due", due_notices),
        ("notice_cards", notice_cards),
        ("public_posts", daily_public_posts),
        ("coverage_reminders", coverage_reminders),
        ("daily_charts", daily_charts),
        ("testing_rounds", testing_rounds),
        ("data_requests", due_data_requests),
        ("retention_purge", daily_purge),
        ("inbox_purge", purge_inbox),
        ("overdue_supplies", overdue_supplies),
        ("care_checks", care_checks),
        ("rosters", rosters),
    ]


async def purge_inbox(ctx: JobContext) -> None:
    """Handled updates are kept a day (bot/core/inbox.py), then forgotten."""
    from bot.core import inbox

    await inbox.purge(ctx.sessionmaker, ctx.clock)


async def realert_cases(ctx: JobContext) -> None:
    """Urgent cases not acknowledged in time are raised again (R-ESC)."""
    from bot.services.cases import realert_due

    async with ctx.sessionmaker.begin() as session:
        await realert_due(
            session, ctx.clock, ctx.catalog, max_reminders=ctx.settings.case_realert_max
        )


async def escalate_join_requests(ctx: JobContext) -> None:
    """Join requests the head did not answer in time go to the grid worker / officers."""
    from bot.services.households import escalate_due

    async with ctx.sessionmaker.begin() as session:
        await escalate_due(session, ctx.clock, ctx.catalog)


async def tick(ctx: JobContext) -> None:
    """Run each periodic task once; one failing task does not stop the others."""
    for name, task in periodic_tasks():
        try:
            await task(ctx)
        except Exception as exc:
            if ctx.database is not None and database_unavailable(exc):
                ctx.database.failed(exc)
                return  # the other tasks would fail the same way; the next tick retries
            log.exception("periodic task %s failed", name)
        else:
            if ctx.database is not None:
                ctx.database.ok()
    if ctx.on_tick is not None:
        ctx.on_tick(ctx.clock.now())


async def _tick_holding(ctx: JobContext, running: asyncio.Lock) -> None:
    async with running:
        await tick(ctx)


def build_scheduler(ctx: JobContext, running: asyncio.Lock | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        _tick_holding,
        "interval",
        seconds=TICK_SECONDS,
        args=[ctx, running or asyncio.Lock()],
        id="tick",
        max_instances=1,
        coalesce=True,
        next_run_time=None,
    )
    return scheduler


async def run_ticks(ctx: JobContext, stop: asyncio.Event) -> None:
    """The scheduler's loop for one process (the leader): tick until stopped; a tick
    that is running when the stop comes finishes first (a graceful stop)."""
    running = asyncio.Lock()
    scheduler = build_scheduler(ctx, running)
    scheduler.start()
    job = scheduler.get_job("tick")
    if job is not None:
        job.modify(next_run_time=ctx.clock.now())
    try:
        await stop.wait()
    finally:
        scheduler.pause()  # no new tick; the one in progress, if any, finishes
        async with running:
            scheduler.shutdown(wait=False)
