"""Privacy jobs (issue 11): the daily retention purge and due deletion requests.

The purge runs once a local day (DEFAULT_TIMEZONE) after PURGE_HOUR. A tick does at most
`BATCHES_PER_TICK` batches, so the other periodic tasks are never held up for long; the
next tick continues, and the day is done once a purge run has finished after that hour
(its PurgeRun row). Deletion requests whose time has come are carried out by
`due_data_requests`.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select

from bot.clock import local_now
from bot.db.models import PurgeRun
from bot.db.session import database_wide
from bot.services import data_requests, retention
from scheduler import JobContext

BATCHES_PER_TICK = 20


async def daily_purge(ctx: JobContext) -> retention.PurgeResult | None:
    now = local_now(ctx.clock, ctx.settings.default_timezone)
    if now.hour < ctx.settings.purge_hour:
        return None
    # Done for today once a purge (this task's or the CLI's) finished after today's hour.
    since = now.replace(hour=ctx.settings.purge_hour, minute=0, second=0, microsecond=0)
    # The database's, not a district's: whichever district's leader comes first purges
    # every community (a district bot's own sessions would see only its communities,
    # then mark the day done for all).
    whole = database_wide(ctx.sessionmaker)
    async with whole() as session:
        finished = await session.scalar(
            select(PurgeRun.id).where(
                PurgeRun.dry_run.is_(False), PurgeRun.finished_at >= since.astimezone(UTC)
            )
        )
    if finished is not None:
        return None
    return await retention.purge(whole, ctx.clock, ctx.settings, max_batches=BATCHES_PER_TICK)


async def due_data_requests(ctx: JobContext) -> int:
    async with ctx.sessionmaker.begin() as session:
        return await data_requests.carry_out_due(session, ctx.clock, ctx.catalog)
