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


async def care_checks(ctx: JobContext) -> None:
    """The daily "are you all right?" of people who need care under a seal, and the
    call tasks of those who did not answer."""
    from bot.services import care

    async with ctx.sessionmaker.begin() as session:
        await care.daily_checks(session, ctx.clock, ctx.catalog)
        await care.missed_checks(
            session, ctx.clock, ctx.catalog, ctx.settings.care_check_answer_hours
        )


async def rosters(ctx: JobContext) -> None:
    """Shift reminders, start-of-shift self-checks, unfilled / unconfirmed alerts."""
    from bot.services import rosters as roster_service

    async with ctx.sessionmaker.begin() as session:
        await roster_service.roster_tick(
            session, ctx.clock, ctx.catalog,
            remind_minutes=ctx.settings.shift_reminder_minutes,
            grace_minutes=ctx.settings.shift_confirm_grace_minutes,
        )  # fmt: skip
