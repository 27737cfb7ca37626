"""Daily tasks of the ledger/coverage feature: grid workers' unscreened households and
the officers' chart (R-COV, charts)."""

from __future__ import annotations

from scheduler import JobContext


async def coverage_reminders(ctx: JobContext) -> None:
    from bot.services import coverage

    async with ctx.sessionmaker.begin() as session:
        await coverage.queue_daily_reminders(session, ctx.clock, ctx.catalog)
