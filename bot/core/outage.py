"""Redis or PostgreSQL unavailable: one clear log line when it starts, one when it ends.

Without this, an outage of either server shows up as a traceback per update (and per
sender pass, per election retry). `Outage` is a small state machine per dependency:
`failed(exc)` logs "<name> unavailable (...)" the first time only, `ok()` logs
"<name> back after N s" once it works again. While Redis is down, the updates that
could not be handled are kept (they are already in the inbox, in PostgreSQL) and a
watcher pings Redis every second; when it answers, they are handled in their order
(docs/scale-out.md, "Outages").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram.types import Update

    from bot.app import Application

log = logging.getLogger("community_guard.outage")


class Outage:
    def __init__(self, name: str, consequence: str = "") -> None:
        self.name = name
        self.consequence = consequence
        self.down_since: float | None = None
        #: How many outages were seen (for tests and metrics).
        self.count = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException) -> bool:
        """Record a failure; True when this starts a new outage (it was logged)."""
        if self.down_since is not None:
            return False
        self.down_since = time.monotonic()
        self.count += 1
        reason = _reason(exc)
        log.error(
            "%s unavailable (%s)%s",
            self.name,
            reason,
            f"; {self.consequence}" if self.consequence else "",
        )
        return True

    def ok(self, detail: str = "") -> bool:
        """Record a success; True when this ends an outage (it was logged)."""
        if self.down_since is None:
            return False
        lasted = time.monotonic() - self.down_since
        self.down_since = None
        log.warning("%s back after %.1f s%s", self.name, lasted, f"; {detail}" if detail else "")
        return True


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or used (not a bug in a handler)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def redis_error(exc: BaseException) -> bool:
    """Redis could not be reached (the FSM storage or the per-user lock)."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


class RedisWatch:
    """Redis is down: keep the updates that failed, ping every `every` seconds, and
    when Redis answers log it once and handle the kept updates in order."""

    def __init__(
        self,
        app: Application,
        ping: Callable[[], Awaitable[Any]],
        *,
        settle: Callable[[], Awaitable[int]] | None = None,
        every: float = 1.0,
    ) -> None:
        self.app = app
        self.ping = ping
        #: Writes the FSM writes owed since Redis failed after a commit (fsm_buffer.py).
        self.settle = settle
        self.every = every
        self.outage = Outage("redis", "updates are kept in the inbox and handled when it is back")
        self.kept: dict[int, Update] = {}
        self._watcher: asyncio.Task[None] | None = None
        self.replayed = 0

    def failed(self, update: Update, exc: BaseException) -> None:
        self.kept.setdefault(update.update_id, update)
        self.owed(exc)

    def owed(self, exc: BaseException) -> None:
        """Redis failed (an update kept, or an FSM write owed): watch for it."""
        self.outage.failed(exc)
        if self._watcher is None or self._watcher.done():
            self._watcher = self.app.start_background(self._watch())

    async def _watch(self) -> None:
        from bot.core.polling import handle_update

        stop = self.app._stop
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(self.ping(), timeout=max(self.every, 1.0))
                # The owed FSM writes first: a kept update continues the step after them.
                settled = await self.settle() if self.settle is not None else 0
            except Exception:  # still down (one line was logged when it started)
                continue
            kept = [self.kept.pop(k) for k in sorted(self.kept)]
            owed = f"; {settled} owed form step(s) written" if settled else ""
            self.outage.ok(f"handling {len(kept)} kept update(s){owed}")
            for update in kept:
                self.replayed += 1
                await handle_update(self.app, update)
            if not self.kept:
                return
