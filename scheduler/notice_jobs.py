"""Periodic tasks of notices and the daily public posting (all idempotent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler import JobContext


async def daily_public_posts(ctx: JobContext) -> None:
    """R-PUB: queue today's anonymised counts once the local posting time is reached."""
    from bot.services.public_posts import queue_daily_posts

    async with ctx.sessionmaker.begin() as session:
        await queue_daily_posts(session, ctx.clock, ctx.catalog)


async def due_notices(ctx: JobContext) -> None:
    """R-NOT: queue scheduled and repeating notices whose time has come."""
    from bot.services.notices import dispatch_due

    async with ctx.sessionmaker.begin() as session:
        await dispatch_due(session, ctx.clock, ctx.catalog)


async def notice_cards(ctx: JobContext) -> None:
    """Keep each notice's card in the officer's chat showing its delivery progress."""
    from bot.services.notices import refresh_cards

    async with ctx.sessionmaker.begin() as session:
        await refresh_cards(session, ctx.clock, ctx.catalog)
