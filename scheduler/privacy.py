"""Privacy jobs (issue 11): the daily retention purge and due deletion requests.

The purge runs once a local day (DEFAULT_TIMEZONE) after PURGE_HOUR. A tick does at most
`BATCHES_PER_TICK` batches, so the other periodic tasks are never held up for long; the
next tick continues, and the day is marked done (JobRun `purge:<date>`) when nothing is
left. Deletion requests whose time has come are carried out by `due_data_requests`.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import local_now
from bot.db.models import JobRun
from bot.services import data_requests, retention
from scheduler import JobContext

BATCHES_PER_TICK = 20


async def daily_purge(ctx: JobContext) -> retention.PurgeResult | None:
    now = local_now(ctx.clock, ctx.settings.default_timezone)
    if now.hour < ctx.settings.purge_hour:
        return None
    key = f"purge:{now.date().isoformat()}"
    async with ctx.sessionmaker() as session:
        if await session.scalar(select(JobRun.key).where(JobRun.key == key)) is not None:
            return None
    result = await retention.purge(
        ctx.sessionmaker, ctx.clock, ctx.settings, max_batches=BATCHES_PER_TICK
    )
    if result.finished:
        async with ctx.sessionmaker.begin() as session:
            if await session.get(JobRun, key) is None:
                session.add(JobRun(key=key, at=ctx.clock.now()))
    return result


async def due_data_requests(ctx: JobContext) -> int:
    async with ctx.sessionmaker.begin() as session:
        return await data_requests.carry_out_due(session, ctx.clock, ctx.catalog)
