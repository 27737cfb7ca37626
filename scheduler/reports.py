"""Daily tasks of the ledger/coverage feature: grid workers' unscreened households and
the officers' chart (R-COV, charts)."""

from __future__ import annotations

from scheduler import JobContext


async def coverage_reminders(ctx: JobContext) -> None:
    from bot.services import coverage

    async with ctx.sessionmaker.begin() as session:
        await coverage.queue_daily_reminders(session, ctx.clock, ctx.catalog)


async def daily_charts(ctx: JobContext) -> None:
    """Send each community's chart to its officer chat once a day (from CHART_HOUR).

    Photos need an upload, which outbox payloads (JSON) cannot carry, so this task sends
    directly: it claims the day's JobRun key and sends in one transaction; a failed send
    rolls the claim back and the next tick retries.
    """
    from aiogram.types import BufferedInputFile

    from bot.app import make_bot
    from bot.db.models import JobRun
    from bot.services import charts

    async with ctx.sessionmaker() as session:
        due = await charts.due_daily_charts(session, ctx.clock)
    if not due:
        return
    bot = make_bot(ctx.settings)
    try:
        for community, key in due:
            async with ctx.sessionmaker.begin() as session:
                if await session.get(JobRun, key) is not None:
                    continue
                session.add(JobRun(key=key, at=ctx.clock.now()))
                await session.flush()
                png = await charts.community_chart(
                    session, ctx.clock, community, ctx.catalog, community.locale, 4
                )
                caption = ctx.catalog.render(community.locale, "charts.caption", weeks=4)
                assert community.officer_chat_id is not None
                await bot.send_photo(
                    community.officer_chat_id, BufferedInputFile(png, "chart.png"), caption=caption
                )
    finally:
        await bot.session.close()
