"""FSM state and data commit with the change, also when they live in Redis.

DatabaseStorage already joins the update's transaction. RedisStorage writes at once, so
a handler that moved the conversation on and then failed (or was cut short before its
commit) left the user a step ahead of the database. This wrapper holds the FSM writes
made while an update is handled and writes them to the inner storage only after the
update's database transaction committed (the commit barrier before a reply, and
DbSessionMiddleware at the end); when the transaction rolls back they are dropped.
Reads within the update see its own pending writes. Outside an update (jobs) writes go
straight through.

Redis may fail *between* the commit and the write: the step is saved in the database but
the form would stay on it, and answering the step again could save it twice. Those writes
are not dropped: they are *owed* (held in this process), read in place of what Redis has,
and written by `settle` when Redis answers again (RedisWatch, bot/core/outage.py, pings it
every second and settles before it replays the updates it kept). The user gets the
handler's reply as usual; their next update finds the form on the next step.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.core.context import current_update
from bot.core.outage import redis_error

log = logging.getLogger(__name__)
SETTLE_ROUNDS = 3


class BufferedStorage(BaseStorage):
    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner
        #: Writes of committed updates that Redis did not take, by key (see above).
        self.owed: dict[StorageKey, dict[str, Any]] = {}
        #: Told when a write becomes owed (RedisWatch starts watching for Redis).
        self.on_owed: Callable[[BaseException], None] | None = None
        self._settling = asyncio.Lock()

    def _pending(self) -> dict[StorageKey, dict[str, Any]] | None:
        ctx = current_update.get()
        if ctx is None:
            return None
        ctx.fsm_storage = self
        return ctx.fsm_writes

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        pending = self._pending()
        if pending is None:
            await self.inner.set_state(key, value)
            return
        pending.setdefault(key, {})["state"] = value

    async def get_state(self, key: StorageKey) -> str | None:
        pending = self._pending()
        if pending is not None and "state" in pending.get(key, {}):
            value: str | None = pending[key]["state"]
            return value
        if "state" in self.owed.get(key, {}):
            owed: str | None = self.owed[key]["state"]
            return owed
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        pending = self._pending()
        if pending is None:
            await self.inner.set_data(key, data)
            return
        pending.setdefault(key, {})["data"] = copy.deepcopy(dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        pending = self._pending()
        if pending is not None and "data" in pending.get(key, {}):
            return copy.deepcopy(dict(pending[key]["data"]))
        if "data" in self.owed.get(key, {}):
            return copy.deepcopy(dict(self.owed[key]["data"]))
        return await self.inner.get_data(key)

    async def flush(self, pending: dict[StorageKey, dict[str, Any]]) -> None:
        """Write what the committed transaction decided (called after the commit). When
        Redis fails, the writes are owed instead: the commit stands, so does the step."""
        writes = list(pending.items())
        pending.clear()
        for done, (key, values) in enumerate(writes):
            if key in self.owed:  # behind an owed write of the same conversation
                self._owe(key, values)
                continue
            try:
                await self._write(key, values)
            except Exception as exc:
                if not redis_error(exc):
                    raise
                for later_key, later in writes[done:]:
                    self._owe(later_key, later)
                log.warning("fsm write after the commit failed; owed until redis answers")
                if self.on_owed is not None:
                    self.on_owed(exc)
                return

    async def settle(self) -> int:
        """Write the owed writes (Redis answers again); how many were written. A Redis
        failure propagates and leaves the rest owed."""
        written = 0
        async with self._settling:
            # A write owed meanwhile (an update of the same user) is taken next round.
            for _ in range(SETTLE_ROUNDS):
                for key in list(self.owed):
                    values = self.owed[key]
                    await self._write(key, values)
                    if self.owed.get(key) is values:
                        del self.owed[key]
                    written += 1
                if not self.owed:
                    break
        return written

    def _owe(self, key: StorageKey, values: dict[str, Any]) -> None:
        self.owed[key] = {**self.owed.get(key, {}), **values}

    async def _write(self, key: StorageKey, values: dict[str, Any]) -> None:
        if "state" in values:
            await self.inner.set_state(key, values["state"])
        if "data" in values:
            await self.inner.set_data(key, values["data"])

    async def close(self) -> None:
        await self.inner.close()
