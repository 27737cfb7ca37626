"""Daily tasks of the ledger/coverage feature: grid workers' unscreened households and
the officers' chart (R-COV, charts)."""

from __future__ import annotations

from scheduler import JobContext


async def coverage_reminders(ctx: JobContext) -> None:
    from bot.services import coverage

    async with ctx.sessionmaker.begin() as session:
        await coverage.queue_daily_reminders(session, ctx.clock, ctx.catalog)


async def daily_charts(ctx: JobContext) -> None:
    """Queue each community's chart for its officer chat once a local day (from its
    `chart_time`): the PNG travels in the outbox row, the sender uploads it."""
    from bot.db.models import JobRun
    from bot.services import charts, outbox

    async with ctx.sessionmaker() as session:
        due = await charts.due_daily_charts(session, ctx.clock)
    for community, key in due:
        async with ctx.sessionmaker.begin() as session:
            if await session.get(JobRun, key) is not None:
                continue
            session.add(JobRun(key=key, at=ctx.clock.now()))
            png = await charts.community_chart(
                session, ctx.clock, community, ctx.catalog, community.locale, 4
            )
            caption = ctx.catalog.render(community.locale, "charts.caption", weeks=4)
            assert community.officer_chat_id is not None
            await outbox.enqueue(
                session, ctx.clock, kind="daily_chart", chat_id=community.officer_chat_id,
                is_group=True, dedup_key=key, method="sendPhoto",
                payload=outbox.photo_payload(png, caption=caption),
            )  # fmt: skip
