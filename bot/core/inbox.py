"""The inbox: updates survive a kill -9 between their acknowledgement and their commit.

Polling acknowledges an update by asking for the next offset; a webhook by answering
200. Both happen before the handler has finished, so each update is first stored here
(one short transaction per batch), then acknowledged, then handled. The handler's own
transaction marks the row done (DbSessionMiddleware), so "done" commits with what the
handler saved. At start, rows not done are replayed in order before polling begins.
Done rows are purged after a day.

Rows are keyed by (bot, update id): update ids are counted per bot, and several bots
(one per district) may share the database; the bot is the session's (`bot_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from aiogram.types import Update
from sqlalchemy import Table, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import InboxUpdate
from bot.db.session import bot_of

log = logging.getLogger(__name__)

KEEP_DONE = timedelta(days=1)


async def store(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, updates: Sequence[Update]
) -> None:
    """Store received updates (a row already there is left alone: Telegram may send an
    update again when its acknowledgement was lost)."""
    if not updates:
        return
    async with sessionmaker.begin() as session:
        await _store(session, clock, updates)


def _rows(bot_id: int, clock: Clock, updates: Sequence[Update]) -> list[dict[str, Any]]:
    now = clock.now()
    return [
        {
            "bot_id": bot_id,
            "update_id": u.update_id,
            "payload": u.model_dump(mode="json", exclude_none=True, exclude_unset=True),
            "received_at": now,
        }
        for u in updates
    ]


def _insert(dialect: str, rows: list[dict[str, Any]]) -> Any:
    """INSERT of inbox rows that leaves an update already there as it is."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(InboxUpdate)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
    )


async def _store(session: AsyncSession, clock: Clock, updates: Sequence[Update]) -> None:
    rows = _rows(bot_of(session) or 0, clock, updates)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.execute(_insert(dialect, rows))


async def receive(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, update: Update
) -> bool:
    """Store one received update (webhook); False when the inbox has it as done already
    (Telegram re-sending an update whose 200 was lost): it is not handled again.

    PostgreSQL: one statement (the INSERT in a CTE; the outer query's snapshot does not
    see the row the CTE inserts, so it reads the row only when it was there already).
    SQLite: the store, then the read."""
    async with sessionmaker.begin() as session:
        bind = session.bind
        if bind is None or bind.dialect.name != "postgresql":
            await _store(session, clock, [update])
            return not await is_done(session, update.update_id)
        bot_id = bot_of(session) or 0
        stored = _insert("postgresql", _rows(bot_id, clock, [update])).cte("stored")
        done = exists().where(
            InboxUpdate.bot_id == bot_id,
            InboxUpdate.update_id == update.update_id,
            InboxUpdate.done_at.is_not(None),
        )
        return not await session.scalar(select(done).add_cte(stored))


async def is_done(session: AsyncSession, update_id: int) -> bool:
    done = await session.scalar(
        select(InboxUpdate.done_at).where(
            InboxUpdate.bot_id == (bot_of(session) or 0), InboxUpdate.update_id == update_id
        )
    )
    return done is not None


def done_ids(session: AsyncSession, ids: list[int]) -> Any:
    """The query of which of `ids` (this bot's) are done."""
    return select(InboxUpdate.update_id).where(
        InboxUpdate.bot_id == (bot_of(session) or 0),
        InboxUpdate.update_id.in_(ids),
        InboxUpdate.done_at.is_not(None),
    )


_inbox: Table = InboxUpdate.__table__  # type: ignore[assignment]
_MARK = (
    update(_inbox)
    .where(
        _inbox.c.bot_id == bindparam("bot"),
        _inbox.c.update_id == bindparam("uid"),
        _inbox.c.done_at.is_(None),
    )
    .values(done_at=bindparam("now"))
)
# PostgreSQL, one round trip: mark the row, and say whether the statement's snapshot
# had the row at all. Not marked but stored means another handling marked it (before,
# or while this UPDATE waited for its row lock); not stored means the inbox missed it.
_marked = _MARK.returning(_inbox.c.update_id).cte("marked")
_MARK_PG = select(
    select(func.count()).select_from(_marked).scalar_subquery().label("marked"),
    exists()
    .where(_inbox.c.bot_id == bindparam("bot"), _inbox.c.update_id == bindparam("uid"))
    .label("stored"),
)
#: The same as a one-row FROM item (columns `marked`, `stored`; parameters `uid` and
#: `now`, `bot`: `mark_params`), for a query that marks the update while reading something else
#: (`bot.services.identity.load_identity_marking`: one round trip for both).
MARK_PG_ROW = _MARK_PG.subquery("inbox_mark")


def marked_outcome(marked: object, stored: object) -> bool:
    """`mark_done`'s answer from the two columns of `MARK_PG_ROW`."""
    return bool(marked) or not stored


def mark_params(session: AsyncSession, clock: Clock, update_id: int) -> dict[str, object]:
    """The parameters of the mark statements (`MARK_PG_ROW`)."""
    return {"uid": update_id, "now": clock.now(), "bot": bot_of(session) or 0}


async def mark_done(session: AsyncSession, clock: Clock, update_id: int) -> bool:
    """Within the handler's transaction: the update counts as handled when it commits.

    False when another handling of this update already committed it done. On
    PostgreSQL the UPDATE waits for the row lock of a handling in flight in another
    process (several processes, a replay), so exactly one of them goes on."""
    params = mark_params(session, clock, update_id)
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        marked, stored = (await session.execute(_MARK_PG, params)).one()
        return marked_outcome(marked, stored)
    result = await session.execute(_MARK, params)
    if getattr(result, "rowcount", 1):
        return True
    # Not stored at all (the inbox was unreachable when it arrived): handle it.
    return not await is_done(session, update_id)


async def pending(
    sessionmaker: async_sessionmaker[AsyncSession], *, received_before: datetime | None = None
) -> list[dict[str, object]]:
    """Payloads of the updates not handled yet, oldest first (only those received
    before `received_before`, when given)."""
    async with sessionmaker() as session:
        query = select(InboxUpdate.payload).where(
            InboxUpdate.bot_id == (bot_of(session) or 0), InboxUpdate.done_at.is_(None)
        )
        if received_before is not None:
            query = query.where(InboxUpdate.received_at < received_before)
        rows = await session.scalars(query.order_by(InboxUpdate.update_id))
        return list(rows)


async def purge(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> int:
    """Forget this bot's updates handled more than KEEP_DONE ago (and rows from before
    migration 0020, bot 0); another district's bot purges its own."""
    async with sessionmaker.begin() as session:
        bots = sorted({bot_of(session) or 0, 0})
        result = await session.execute(
            delete(InboxUpdate).where(
                InboxUpdate.bot_id.in_(bots),
                InboxUpdate.done_at.is_not(None),
                InboxUpdate.done_at < clock.now() - KEEP_DONE,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
