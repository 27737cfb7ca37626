"""Leader election: one process at a time runs the scheduler's tick and the sender.

PostgreSQL: a *session-level* advisory lock (``pg_try_advisory_lock``) taken on a
dedicated connection that the leader keeps open. When the leader dies, PostgreSQL ends
its session and frees the lock; a follower, retrying every ``retry_seconds``, takes
over. The leader checks its connection every ``check_seconds``; if the connection is
gone it stops its workers at once (the lock may already be someone else's).

Fencing: on taking the lock the new leader increments ``leader_terms.epoch`` and keeps
its value (``epoch``); the sender claims rows only while that epoch is still current
(bot/sender.py), so an old leader that has not noticed yet claims nothing.

A leader cut off from PostgreSQL (network partition, frozen process) must not keep the
lock forever: the lock session sets ``idle_session_timeout`` (PostgreSQL 14+) to
``LEADER_SESSION_TIMEOUT`` seconds (default 12, longer than ``check_seconds``), so
PostgreSQL itself ends a silent leader's session and frees the lock; a standby retrying
every ``retry_seconds`` takes over within about ``timeout + retry_seconds`` (killed or disconnected
leaders: within ``retry_seconds``).

One bot per district (issue 17): the lock key and the fencing row are the bot's
(`lock_key`, `term_of`: from the token's bot id), so the leaders of two bots sharing
one database never exclude each other, while two processes of one bot do.

SQLite is the embedded single-process setup: that process is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.outage import database_unavailable

log = logging.getLogger(__name__)

#: Seconds of silence after which PostgreSQL ends the leader's lock session (0: never).
SESSION_TIMEOUT = 12

#: The advisory lock's key ("CGLEADER" as a 63-bit number); the same for every process.
LOCK_KEY = 0x43474C4541444552 & 0x7FFFFFFFFFFFFFFF


def lock_key(bot_id: int) -> int:
    """The advisory lock of one bot's leader (LOCK_KEY for no bot): distinct bots,
    distinct keys (bot ids are below 2**40, the sum stays a positive 63-bit number)."""
    return (LOCK_KEY + bot_id) & 0x7FFFFFFFFFFFFFFF


def term_of(bot_id: int) -> int:
    """The leader_terms row of one bot: its id (1 for no bot)."""
    return bot_id or 1


_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid::bigint = :hi AND objid::bigint = :lo"
    " AND objsubid = 1)"
)

WorkerFactory = Callable[[asyncio.Event], list[Coroutine[Any, Any, Any]]]


class LeaderElection:
    """Try to become (and stay) the leader on one engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        key: int = LOCK_KEY,
        holder: str = "",
        session_timeout: int = SESSION_TIMEOUT,
        term_id: int = 1,
    ) -> None:
        self.engine = engine
        self.session_timeout = session_timeout
        self.key = key
        #: This bot's row of leader_terms (its fencing epoch).
        self.term_id = term_id
        self.holder = holder[:80]
        self.connection: AsyncConnection | None = None
        self.is_leader = False
        #: This leadership's fencing token (None: SQLite, or not leading).
        self.epoch: int | None = None
        self.acquired_at: float | None = None

    @property
    def always_leader(self) -> bool:
        return self.engine.dialect.name != "postgresql"

    async def try_acquire(self) -> bool:
        """Become the leader if nobody is; True when this process now leads."""
        if self.always_leader:
            self.is_leader = True
            return True
        if self.is_leader and await self.still_held():
            return True
        await self._drop_connection()
        connection = await self.engine.connect()
        try:
            got = bool(
                await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            )
            # Leave no transaction open on the dedicated connection.
            await connection.commit()
            if got and self.session_timeout > 0:
                timeout = int(self.session_timeout)
                await connection.execute(text(f"SET idle_session_timeout = '{timeout}s'"))
                await connection.commit()
            if got:
                self.epoch = await _next_epoch(connection, self.holder, self.term_id)
        except Exception:
            await connection.invalidate()
            await connection.close()
            raise
        if not got:
            await connection.close()
            return False
        self.connection = connection
        self.is_leader = True
        self.acquired_at = time.monotonic()
        log.info("this process is now the leader (epoch %s)", self.epoch)
        return True

    async def still_held(self) -> bool:
        """Whether the dedicated connection (and so the lock) is still alive."""
        if self.always_leader:
            return True
        if self.connection is None:
            return False
        try:
            # Not just "is the connection alive": a reconnect would be a new session
            # without the lock, so ask PostgreSQL whether *this* session holds it.
            held = bool(
                await self.connection.scalar(
                    _HELD, {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF}
                )
            )
            await self.connection.commit()
        except Exception:
            held = False
        if not held:
            log.warning("leader connection lost; stepping down (epoch %s)", self.epoch)
            self.is_leader = False
            self.epoch = None
            await self._drop_connection()
            return False
        return True

    async def release(self) -> None:
        """Step down: unlock and drop the dedicated connection."""
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": self.key}
                )
                await self.connection.commit()
        await self._drop_connection()
        self.is_leader = False

    async def _drop_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        # Invalidate so that the pooled DBAPI connection (which would keep a session
        # lock) is really closed, never handed to someone else.
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()


async def lead(
    election: LeaderElection,
    stop: asyncio.Event,
    workers: WorkerFactory,
    *,
    retry_seconds: float = 5.0,
    check_seconds: float = 5.0,
    database: Any = None,
) -> None:
    """Until `stop`: become leader when possible, run `workers(inner_stop)` while
    leading, stop them when leadership is lost, and try again (a database outage is
    logged once through `database`, an `Outage`)."""
    try:
        while not stop.is_set():
            if not await _safe_acquire(election, database):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
                continue
            inner = asyncio.Event()
            tasks = [asyncio.create_task(coro) for coro in workers(inner)]
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=check_seconds)
                    if not stop.is_set() and not await election.still_held():
                        break
            finally:
                inner.set()
                for task in tasks:
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await asyncio.wait_for(task, timeout=10)
    finally:
        await election.release()


async def _next_epoch(connection: AsyncConnection, holder: str, term_id: int = 1) -> int:
    """Increment the fencing epoch of row `term_id` (creating it the first time); the
    new value."""
    values = {"holder": holder, "term": term_id}
    epoch = await connection.scalar(
        text(
            "UPDATE leader_terms SET epoch = epoch + 1, holder = :holder, since = now()"
            " WHERE id = :term RETURNING epoch"
        ),
        values,
    )
    if epoch is None:
        epoch = await connection.scalar(
            text(
                "INSERT INTO leader_terms (id, epoch, holder, since)"
                " VALUES (:term, 1, :holder, now())"
                " ON CONFLICT (id) DO UPDATE SET epoch = leader_terms.epoch + 1,"
                " holder = EXCLUDED.holder, since = now() RETURNING epoch"
            ),
            values,
        )
    await connection.commit()
    return int(epoch)


async def _safe_acquire(election: LeaderElection, database: Any = None) -> bool:
    try:
        got = await election.try_acquire()
    except Exception as exc:
        if database is not None and database_unavailable(exc):
            database.failed(exc)  # one line per outage, not a traceback every retry
        else:
            log.exception("leader election failed; retrying")
        return False
    if database is not None:
        database.ok()
    return got
