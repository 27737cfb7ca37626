"""Updates that need no conversation state skip the FSM storage and its lock."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, Update

from bot.middlewares import install_lean_fsm
from handlers.checkin import STATELESS_CALLBACKS


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_state(self, key: StorageKey) -> Any:
        self.reads += 1
        return await super().get_state(key)


def press(data: str, n: int) -> Update:
    return Update.model_validate(
        {
            "update_id": n,
            "callback_query": {
                "id": str(n),
                "from": {"id": 42, "is_bot": False, "first_name": "A"},
                "chat_instance": "1",
                "data": data,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 42, "type": "private"},
                    "text": "prompt",
                },
            },
        }
    )


async def test_answers_skip_the_state_and_type_reads_it() -> None:
    storage = CountingStorage()
    dp = Dispatcher(storage=storage)
    install_lean_fsm(dp, STATELESS_CALLBACKS)
    seen: list[tuple[str, object]] = []

    @dp.callback_query()
    async def handler(query: CallbackQuery, raw_state: Any, state: Any) -> None:
        seen.append((query.data or "", raw_state))
        assert state is not None

    bot = Bot("123456:TEST-TOKEN")
    await dp.feed_update(bot, press("ci:normal:7", 1))
    await dp.feed_update(bot, press("ci:fever:7", 2))
    assert storage.reads == 0
    await dp.feed_update(bot, press("ci:type:7", 3))
    assert storage.reads == 1
    assert seen == [("ci:normal:7", None), ("ci:fever:7", None), ("ci:type:7", None)]
    await bot.session.close()
