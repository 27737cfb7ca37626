"""FSM writes made while an update is handled reach the storage only after the update's
transaction committed; a rollback drops them (bot/core/fsm_buffer.py, used with Redis)."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.core.context import UpdateContext, current_update
from bot.core.fsm_buffer import BufferedStorage

KEY = StorageKey(bot_id=1, chat_id=5, user_id=5)


async def test_writes_wait_for_the_commit_and_are_seen_meanwhile() -> None:
    inner = MemoryStorage()
    storage = BufferedStorage(inner)
    ctx = UpdateContext(update_id=1)
    token = current_update.set(ctx)
    try:
        await storage.set_state(KEY, "Form:step")
        await storage.update_data(KEY, {"name": "张三"})
        assert await storage.get_state(KEY) == "Form:step"
        assert await storage.get_data(KEY) == {"name": "张三"}
        assert await inner.get_state(KEY) is None and await inner.get_data(KEY) == {}
        await ctx.committed()
        assert await inner.get_state(KEY) == "Form:step"
        assert await inner.get_data(KEY) == {"name": "张三"}
    finally:
        current_update.reset(token)


async def test_a_rollback_drops_the_writes() -> None:
    inner = MemoryStorage()
    await inner.set_state(KEY, "Form:first")
    storage = BufferedStorage(inner)
    ctx = UpdateContext(update_id=2)
    token = current_update.set(ctx)
    try:
        await storage.set_state(KEY, "Form:second")
        ctx.rolled_back()
        await ctx.committed()
        assert await storage.get_state(KEY) == "Form:first"
    finally:
        current_update.reset(token)
    # Outside an update (a job), writes go straight through.
    await storage.set_state(KEY, None)
    assert await inner.get_state(KEY) is None


class FailingStorage(MemoryStorage):
    """A storage that fails like Redis going away, while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        if self.down:
            raise RedisConnectionError("Connection closed by server.")
        await super().set_state(key, state)


async def test_a_write_redis_refuses_after_the_commit_is_owed_then_settled() -> None:
    inner = FailingStorage()
    await inner.set_state(KEY, "Form:first")
    storage = BufferedStorage(inner)
    told: list[BaseException] = []
    storage.on_owed = told.append
    ctx = UpdateContext(update_id=3)
    token = current_update.set(ctx)
    try:
        await storage.set_state(KEY, "Form:second")
        await storage.update_data(KEY, {"name": "张三"})
        inner.down = True
        await ctx.committed()  # the commit stands: no exception, the writes are owed
    finally:
        current_update.reset(token)
    assert len(told) == 1 and isinstance(told[0], RedisConnectionError)
    assert await inner.get_state(KEY) == "Form:first"
    # This process reads the owed step, not what Redis still has.
    assert await storage.get_state(KEY) == "Form:second"
    assert await storage.get_data(KEY) == {"name": "张三"}
    # Still down: settling fails and keeps them owed.
    with pytest.raises(RedisConnectionError):
        await storage.settle()
    assert KEY in storage.owed
    # A later update of the same conversation queues behind the owed write.
    ctx = UpdateContext(update_id=4)
    token = current_update.set(ctx)
    try:
        await storage.set_state(KEY, "Form:third")
        await ctx.committed()
    finally:
        current_update.reset(token)
    assert await inner.get_state(KEY) == "Form:first"
    inner.down = False
    assert await storage.settle() == 1
    assert storage.owed == {}
    assert await inner.get_state(KEY) == "Form:third"
    assert await inner.get_data(KEY) == {"name": "张三"}
