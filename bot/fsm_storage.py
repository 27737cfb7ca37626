"""FSM storage in our own database, so a conversation survives a restart of the
embedded default without Redis."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import FsmRecord

# The session of the update being handled (set by DbSessionMiddleware). FSM writes made
# by a handler join that transaction: the conversation's state and the data it saved
# commit together or not at all, and SQLite never sees two writers for one update.
current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


class DatabaseStorage(BaseStorage):
    """aiogram storage backed by the `fsm_records` table.

    Inside a handler, writes join the update's transaction (see `current_session`);
    elsewhere (aiogram reading the state before handlers run) each call has its own
    short transaction. What earlier updates committed is never lost when a later
    handler fails.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        key_builder: KeyBuilder | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    async def _save(self, key: StorageKey, *, state: Any = ..., data: Any = ...) -> None:
        shared = current_session.get()
        if shared is not None:
            await self._write(shared, key, state=state, data=data)
            await shared.flush()
            return
        async with self._sessionmaker.begin() as session:
            await self._write(session, key, state=state, data=data)

    async def _write(
        self, session: AsyncSession, key: StorageKey, *, state: Any, data: Any
    ) -> None:
        storage_key = self._keys.build(key)
        record = await session.get(FsmRecord, storage_key)
        new_state = (record.state if record else None) if state is ... else state
        new_data = (record.data if record else {}) if data is ... else data
        if new_state is None and not new_data:
            if record is not None:
                await session.delete(record)
            return
        if record is None:
            record = FsmRecord(key=storage_key)
            session.add(record)
        record.state = new_state
        record.data = new_data
        record.updated_at = self._clock.now()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._save(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._read(key)
        return record[0] if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._save(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._read(key)
        return dict(record[1]) if record and record[1] else {}

    async def _read(self, key: StorageKey) -> tuple[str | None, dict[str, Any]] | None:
        query = select(FsmRecord.state, FsmRecord.data).where(
            FsmRecord.key == self._keys.build(key)
        )
        shared = current_session.get()
        if shared is not None:
            row = (await shared.execute(query)).one_or_none()
        else:
            async with self._sessionmaker() as session:
                row = (await session.execute(query)).one_or_none()
        return (row[0], row[1]) if row else None

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""
