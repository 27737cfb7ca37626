"""The per-user Redis lock, tolerant of Redis going away while the update was handled.

aiogram's `RedisEventIsolation` releases the lock when the update is done; when Redis
went away meanwhile (after the update's commit: bot/core/fsm_buffer.py), the release
fails and the failure reaches the error path, which would tell the user "received, it
will be handled in a moment" about an update already handled. The lock cannot be
released then, and need not be: it expires after `redis_lock_timeout` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.fsm.storage.redis import RedisEventIsolation
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from bot.core.outage import redis_error

log = logging.getLogger(__name__)


class TolerantRedisIsolation(BaseEventIsolation):
    def __init__(self, inner: RedisEventIsolation) -> None:
        self.inner = inner

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        name = self.inner.key_builder.build(key, "lock")
        lock = self.inner.redis.lock(name=name, **self.inner.lock_kwargs, lock_class=Lock)
        if not await lock.acquire():
            raise LockError("Unable to acquire lock within the time specified")  # type: ignore[no-untyped-call]
        try:
            yield None
        finally:
            await _release(lock)

    async def close(self) -> None:
        await self.inner.close()


async def _release(lock: Lock) -> None:
    try:
        await lock.release()
    except Exception as exc:
        if not redis_error(exc):
            raise
        log.warning("per-user lock not released (%s); it expires by itself", type(exc).__name__)
