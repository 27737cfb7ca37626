"""FSM writes made while an update is handled reach the storage only after the update's
transaction committed; a rollback drops them (bot/core/fsm_buffer.py, used with Redis)."""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

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
