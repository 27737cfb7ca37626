"""The periodic task of isolation monitoring: check-in rows and prompts, reminders,
missed check-ins, unreachable people and releases, per community (its own time zone)."""

from __future__ import annotations

import logging

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.outage import database_unavailable
from bot.db.models import Community
from bot.services import downtime
from bot.services.checkins import (
    escalate_unreachable,
    run_for_community,
    send_reminders,
)
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
                await _custom_plans(session)
                community = await session.get(Community, community_id)
                if community is not None:
                    await _run_or_hold(session, ctx, community)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # the tick logs the outage once (scheduler.tick)
            log.exception("check-ins of community %s failed", community_id)


async def _custom_plans(session: AsyncSession) -> None:
    """PostgreSQL: plan each statement for its own values in this transaction. asyncpg
    prepares every statement, and after five runs PostgreSQL may switch to a generic plan
    chosen without the values: the tick runs the same statements for 150 communities,
    and a generic plan made while a table was small or one community empty (a hash join
    over the whole table) was then reused for all of them (issue 17: 398 s of the city
    day's database time)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # Index lookups per isolation: compiling them (JIT, for plans the stale
        # statistics of a day's new rows cost high) took longer than running them.
        await session.execute(text("SET LOCAL jit = off"))


async def _run_or_hold(session: AsyncSession, ctx: JobContext, community: Community) -> None:
    """The daily run, unless the bot was down for more than a day and no officer has
    confirmed yet: then only the safe part (reminders, unreachable people) runs, and no
    day is marked missed and no isolation released (bot/services/downtime.py)."""
    gap = await downtime.note_tick(session, ctx.clock, community)
    if gap is not None:
        await downtime.hold(session, ctx.clock, ctx.catalog, community, gap)
    if await downtime.held_since(session, community.id) is None:
        await run_for_community(session, ctx.clock, ctx.catalog, community)
        return
    await send_reminders(session, ctx.clock, ctx.catalog, community)
    await escalate_unreachable(session, ctx.clock, ctx.catalog, community)
