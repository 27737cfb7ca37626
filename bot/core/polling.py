"""Long polling through the inbox, with a graceful stop.

aiogram's own polling acknowledges an update (asks for the next offset) before its
handler has finished and cancels handlers in flight when stopped. This loop instead:

- stores each batch in the inbox *before* the next getUpdates acknowledges it;
- skips updates the inbox already has as done (Telegram re-sends a batch whose
  acknowledgement was lost, e.g. when the process stopped right after handling it);
- on stop, stops asking for updates, lets handlers in flight finish (bounded by
  `shutdown_timeout`), acknowledges what was handled, and returns. A handler still
  running after the timeout is cancelled: its transaction rolls back and its update,
  not done in the inbox, is replayed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.core import inbox
from bot.core.context import UpdateContext, current_update
from bot.core.outage import database_unavailable

if TYPE_CHECKING:
    from bot.app import Application

log = logging.getLogger(__name__)


async def handle_update(app: Application, update: Update) -> None:
    """Feed one update to the dispatcher with the core's context set (so the error
    handler's reply also goes through the commit barrier's retry). Never raises."""
    try:
        user = getattr(update.event, "from_user", None)
    except Exception:  # an update type this aiogram does not know
        user = None
    token = current_update.set(
        UpdateContext(update_id=update.update_id, user_id=user.id if user else None)
    )
    try:
        await app.dispatcher.feed_update(app.bot, update)
    except Exception:
        log.exception("update %s failed", update.update_id)
    finally:
        current_update.reset(token)


async def replay(app: Application) -> int:
    """Handle, in order, the stored updates that were not done (a crash or kill -9
    after they were acknowledged). Returns how many were replayed.

    Several processes on PostgreSQL (docs/scale-out.md): a row not done may be in
    flight in another live process; its inbox row lock makes one of the two handle
    it and the other skip it (DbSessionMiddleware)."""
    payloads = await inbox.pending(app.sessionmaker)
    for payload in payloads:
        update = Update.model_validate(payload, context={"bot": app.bot})
        log.info("replaying update %s from the inbox", update.update_id)
        await handle_update(app, update)
    return len(payloads)


#: An update not done this long after it was received is an orphan: the process that
#: acknowledged it died (kill -9) before its handler committed.
ORPHAN_AFTER = timedelta(seconds=10)


async def sweep_orphans(app: Application, stop: asyncio.Event, every: float = 5.0) -> None:
    """The leader's inbox sweeper (several processes, PostgreSQL): every `every`
    seconds replay the updates acknowledged more than ORPHAN_AFTER ago and still not
    done. Each is replayed at most once per leadership (a handler that keeps failing
    is not retried for ever). One still in flight elsewhere is not handled twice: the
    inbox row's lock and `done_at` make the replay skip it (DbSessionMiddleware)."""
    tried: set[int] = set()
    while not stop.is_set():
        try:
            payloads = await inbox.pending(
                app.sessionmaker, received_before=app.clock.now() - ORPHAN_AFTER
            )
            for payload in payloads:
                update = Update.model_validate(payload, context={"bot": app.bot})
                if update.update_id in tried or stop.is_set():
                    continue
                tried.add(update.update_id)
                log.warning("replaying orphaned update %s from the inbox", update.update_id)
                await handle_update(app, update)
        except Exception as exc:
            if database_unavailable(exc):
                app.database_outage.failed(exc)  # one line per outage
            else:
                log.exception("inbox sweep failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


class Poller:
    def __init__(
        self,
        app: Application,
        *,
        handle_as_tasks: bool = True,
        polling_timeout: int = 25,
        allowed_updates: list[str] | None = None,
    ) -> None:
        self.app = app
        self.handle_as_tasks = handle_as_tasks
        self.polling_timeout = polling_timeout
        self.allowed_updates = allowed_updates
        self.offset: int | None = None
        self.stopping = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()
        self._confirmed: int | None = None

    async def run(self) -> None:
        """Replay the inbox, then poll until `stop()`."""
        await replay(self.app)
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                updates = await self._fetch()
            except Exception as exc:  # Telegram unreachable: keep trying, gently
                log.error("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if updates is None or not updates:
                continue
            self._confirmed = self.offset
            await self._dispatch(updates)

    async def _fetch(self) -> list[Update] | None:
        """One long poll, abandoned (None) when a stop is asked for meanwhile: updates
        the server meant to give are not acknowledged, so they come again next time."""
        call = GetUpdates(
            offset=self.offset, timeout=self.polling_timeout, allowed_updates=self.allowed_updates
        )
        session_timeout = self.app.bot.session.timeout or 60
        fetch = asyncio.ensure_future(
            self.app.bot(call, request_timeout=int(session_timeout + self.polling_timeout))
        )
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return None
        return fetch.result()

    async def _dispatch(self, updates: list[Update]) -> None:
        try:
            await inbox.store(self.app.sessionmaker, self.app.clock, updates)
            done = await self._done_ids([u.update_id for u in updates])
        except Exception as exc:
            # The database is down: handle anyway, so the user is told to retry.
            if database_unavailable(exc):
                self.app.database_outage.failed(exc)
                log.info("could not store %d update(s) in the inbox", len(updates))
            else:
                log.exception("could not store %d update(s) in the inbox", len(updates))
            done = set()
        else:
            self.app.database_outage.ok()
        self.offset = updates[-1].update_id + 1
        for update in updates:
            if update.update_id in done:
                continue
            if self.handle_as_tasks:
                task = asyncio.create_task(handle_update(self.app, update))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
            else:
                await handle_update(self.app, update)

    async def _done_ids(self, ids: list[int]) -> set[int]:
        async with self.app.sessionmaker() as session:
            rows = await session.scalars(inbox.done_ids(session, ids))
            return set(rows)

    async def stop(self, grace: float) -> None:
        """Stop asking for updates and let the handlers in flight finish (bounded)."""
        self.stopping.set()
        if self.in_flight:
            _, pending = await asyncio.wait(set(self.in_flight), timeout=grace)
            for task in pending:
                log.warning("stopping: a handler did not finish in %.0f s; cancelled", grace)
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def acknowledge(self) -> None:
        """Tell Telegram what was handled (the next start would get it again otherwise;
        the inbox would skip it, but there is no need to fetch it)."""
        if self.offset is None or self.offset == self._confirmed:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.app.bot(GetUpdates(offset=self.offset, limit=1, timeout=0)), timeout=5
            )


def allowed(app: Application) -> list[str]:
    return app.dispatcher.resolve_used_update_types()
