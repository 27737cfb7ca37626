"""Periodic work of sealed buildings (R-SUPPLY, R-CARE, R-ROSTER)."""

from __future__ import annotations

from scheduler import JobContext


async def overdue_supplies(ctx: JobContext) -> None:
    """Requests not delivered within `supply_overdue_minutes` become cases."""
    from bot.services import supplies

    async with ctx.sessionmaker.begin() as session:
        await supplies.raise_overdue(
            session, ctx.clock, ctx.catalog, ctx.settings.supply_overdue_minutes
        )
