"""The periodic task of monitoring categories (R-CAT): step-downs at the end of a
category (before the check-in task would release the person), test-day reminders and
missed-test cases, per community in its own time zone and transaction."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.core.outage import database_unavailable
from bot.db.models import Community
from bot.services.monitoring import run_for_community
from scheduler import JobContext

log = logging.getLogger(__name__)


async def monitoring_tick(ctx: JobContext) -> None:
    async with ctx.sessionmaker() as session:
        community_ids = list(await session.scalars(select(Community.id).order_by(Community.id)))
    for community_id in community_ids:
        try:
            async with ctx.sessionmaker.begin() as session:
                community = await session.get(Community, community_id)
                if community is not None:
                    await run_for_community(session, ctx.clock, ctx.catalog, community)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # the tick logs the outage once (scheduler.tick)
            log.exception("monitoring of community %s failed", community_id)
