"""The periodic task of isolation monitoring: check-in rows and prompts, reminders,
missed check-ins, unreachable people and releases, per community (its own time zone)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.db.models import Community
from bot.services.checkins import run_for_community
from scheduler import JobContext

log = logging.getLogger(__name__)


async def checkin_tick(ctx: JobContext) -> None:
    """Each community in its own transaction: one community's failure does not stop
    the others, and what is done is committed with the rows that record it."""
    async with ctx.sessionmaker() as session:
        community_ids = list(await session.scalars(select(Community.id).order_by(Community.id)))
    for community_id in community_ids:
        try:
            async with ctx.sessionmaker.begin() as session:
                community = await session.get(Community, community_id)
                if community is not None:
                    await run_for_community(session, ctx.clock, ctx.catalog, community)
        except Exception:
            log.exception("check-ins of community %s failed", community_id)
