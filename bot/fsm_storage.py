"""FSM storage in our own database, so a conversation survives a restart of the
embedded default without Redis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import FsmRecord


class DatabaseStorage(BaseStorage):
    """aiogram storage backed by the `fsm_records` table.

    Each call uses its own short transaction: the FSM must not depend on whether the
    handler's own transaction commits (a failed handler still keeps what the user had
    entered before).
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
        storage_key = self._keys.build(key)
        async with self._sessionmaker.begin() as session:
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
        async with self._sessionmaker() as session:
            record = await session.get(FsmRecord, self._keys.build(key))
            return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._save(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            row = await session.execute(
                select(FsmRecord.data).where(FsmRecord.key == self._keys.build(key))
            )
            data = row.scalar_one_or_none()
            return dict(data) if data else {}

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""
