"""FSM state and data commit with the change, also when they live in Redis.

DatabaseStorage already joins the update's transaction. RedisStorage writes at once, so
a handler that moved the conversation on and then failed (or was cut short before its
commit) left the user a step ahead of the database. This wrapper holds the FSM writes
made while an update is handled and writes them to the inner storage only after the
update's database transaction committed (the commit barrier before a reply, and
DbSessionMiddleware at the end); when the transaction rolls back they are dropped.
Reads within the update see its own pending writes. Outside an update (jobs) writes go
straight through.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.core.context import current_update


class BufferedStorage(BaseStorage):
    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner

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
        return await self.inner.get_data(key)

    async def flush(self, pending: dict[StorageKey, dict[str, Any]]) -> None:
        """Write what the committed transaction decided (called after the commit)."""
        writes = list(pending.items())
        pending.clear()
        for key, values in writes:
            if "state" in values:
                await self.inner.set_state(key, values["state"])
            if "data" in values:
                await self.inner.set_data(key, values["data"])

    async def close(self) -> None:
        await self.inner.close()
