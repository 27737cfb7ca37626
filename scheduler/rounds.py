"""Testing rounds (issue 15): reminders before each building's slot and, once a grid's
last slot has ended, the grid workers' lists of people not yet tested."""

from __future__ import annotations

from scheduler import JobContext


async def testing_rounds(ctx: JobContext) -> None:
    from bot.services import rounds

    async with ctx.sessionmaker.begin() as session:
        await rounds.due_work(session, ctx.clock, ctx.catalog)
