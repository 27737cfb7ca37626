"""Drive the real bot over real HTTP through the Bot API test double.

`RunningBot` builds the real Application (settings pointing at the double), polls
with `handle_as_tasks=False` so that "the update was confirmed" means "its handlers
finished", and can be restarted on the same database. `ChatUser` acts as one person.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from typing import Any

from aiogram.types import Update
from pydantic import SecretStr

from bot.app import Application
from bot.clock import FakeClock
from bot.double import BotApiDouble, FakeChat, FakeUser, SentMessage
from bot.settings import Settings
from messages import Catalog
from tests.support.database import REDIS_ENV

TOKEN = "123456:TEST-TOKEN-community-guard"
#: Waits are event-driven (they return as soon as the double sees the event); these
#: bounds only say when to give up, generous because the suite runs on busy machines.
STARTUP_TIMEOUT = 60.0
REPLY_TIMEOUT = 60.0


def settings_for(double: BotApiDouble, database_url: str, **overrides: Any) -> Settings:
    import os

    redis_url = os.environ.get(REDIS_ENV) or None
    values: dict[str, Any] = {
        "bot_token": SecretStr(TOKEN),
        "database_url": database_url,
        "telegram_api_base": double.base_url,
        "redis_url": redis_url,
        # A prefix per test keeps parallel runs and tests apart in a shared Redis.
        "redis_prefix": f"cgtest-{uuid.uuid4().hex[:8]}",
        # Conversations are about behaviour: the sender's pacing is tested on its own.
        "send_rate_per_second": 10_000.0,
        "send_rate_per_chat_per_second": 10_000.0,
        "send_rate_per_group_per_minute": 600_000.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class RunningBot:
    """The real application, polling the double, restartable on the same database."""

    def __init__(
        self, double: BotApiDouble, settings: Settings, clock: FakeClock, catalog: Catalog
    ) -> None:
        self.double = double
        self.settings = settings
        self.clock = clock
        self.catalog = catalog
        self.app: Application | None = None
        self._polling: asyncio.Task[None] | None = None

    async def start(self) -> Application:
        app = await Application.create(
            self.settings, self.clock, migrate=False, catalog=self.catalog
        )
        self.app = app
        polls = self.double.polls_started
        polling = self._polling = asyncio.create_task(
            app.run_polling(handle_as_tasks=False, polling_timeout=1)
        )
        # Ready once the bot asks for updates (after getMe, setMyCommands and the inbox
        # replay): the double counts a long poll as it arrives, not when it is answered.
        await self.double.wait_polling(polls, timeout=STARTUP_TIMEOUT, gave_up=polling.done)
        if polling.done():
            polling.result()  # the bot failed to start: raise its error here
            raise RuntimeError("the bot stopped polling as soon as it started")
        return app

    async def stop(self) -> None:
        if self.app is None:
            return
        app, self.app = self.app, None
        app.request_stop()  # graceful: handlers in flight finish, polling returns
        if self._polling is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._polling, timeout=REPLY_TIMEOUT)
        await app.close()

    async def restart(self) -> Application:
        await self.stop()
        return await self.start()

    @property
    def application(self) -> Application:
        assert self.app is not None, "the bot is not running"
        return self.app

    async def drain(self) -> int:
        """Let the sender send everything that is due now."""
        return await self.application.sender.drain()


class ChatUser:
    """One person in Telegram: sends messages, presses buttons, reads replies."""

    def __init__(self, double: BotApiDouble, user: FakeUser) -> None:
        self.double = double
        self.user = user

    @property
    def id(self) -> int:
        return self.user.id

    async def _run(self, update: Update | list[Update], chat_id: int) -> list[SentMessage]:
        mark = self.double.mark()
        updates = update if isinstance(update, list) else [update]
        for item in updates:
            await self.double.wait_processed(item, timeout=REPLY_TIMEOUT)
        return self.replies_since(mark, chat_id)

    def replies_since(self, mark: int, chat_id: int) -> list[SentMessage]:
        out: list[SentMessage] = []
        for call in self.double.calls:
            if call.seq >= mark:
                out.extend(m for m in call.messages if m.chat_id == chat_id)
                # Edited messages count as replies too (cards and pickers edit in place).
                out.extend(m for m in getattr(call, "edited", ()) if m.chat_id == chat_id)
        return out

    async def send(self, text: str, chat: FakeChat | None = None) -> list[SentMessage]:
        mark = self.double.mark()
        update = self.double.send_text(self.user, text, chat)
        await self.double.wait_processed(update, timeout=REPLY_TIMEOUT)
        return self.replies_since(mark, chat.id if chat else self.id)

    async def forward(
        self, text: str, origin: FakeUser | None = None, chat: FakeChat | None = None
    ) -> list[SentMessage]:
        """Forward a text message (someone else's, or a hidden sender's) to the bot."""
        mark = self.double.mark()
        update = self.double.send_forwarded(self.user, text, origin, chat)
        await self.double.wait_processed(update, timeout=REPLY_TIMEOUT)
        return self.replies_since(mark, chat.id if chat else self.id)

    async def share_contact(self, phone: str, user_id: int | None = None) -> list[SentMessage]:
        mark = self.double.mark()
        update = self.double.send_contact(
            self.user, phone, user_id=self.id if user_id is None else user_id
        )
        await self.double.wait_processed(update, timeout=REPLY_TIMEOUT)
        return self.replies_since(mark, self.id)

    def last(self, chat_id: int | None = None) -> SentMessage:
        found = self.double.last_message(self.id if chat_id is None else chat_id)
        assert found is not None, "the bot has sent nothing to this chat"
        return found

    def button_data(
        self, label: str, message: SentMessage | None = None
    ) -> tuple[SentMessage, str]:
        """Find a button by its exact label (or a unique substring) in the newest bot
        message of this chat that has it."""
        candidates: Iterable[SentMessage] = (
            [message] if message is not None else reversed(self.double.messages(self.id))
        )
        for msg in candidates:
            rows = self.double.inline_buttons(msg)
            exact = [d for row in rows for text, d in row if text == label]
            partial = [d for row in rows for text, d in row if label in text]
            found = exact or partial
            if found and found[0] is not None:
                return msg, found[0]
        raise LookupError(f"no button {label!r} in chat {self.id}")

    async def press(
        self, label: str, message: SentMessage | None = None, chat_id: int | None = None
    ) -> list[SentMessage]:
        msg, data = self.button_data(label, message)
        return await self.press_data(data, msg, chat_id=chat_id)

    async def press_data(
        self, data: str, message: SentMessage, *, strict: bool = True, chat_id: int | None = None
    ) -> list[SentMessage]:
        mark = self.double.mark()
        update = self.double.press(self.user, message, data, strict=strict)
        await self.double.wait_processed(update, timeout=REPLY_TIMEOUT)
        self.last_press = update
        return self.replies_since(mark, message.chat_id if chat_id is None else chat_id)

    def answer_of_last_press(self) -> str | None:
        answer = self.double.callback_answer(self.last_press)
        return answer.text if answer else None


def texts(messages: Iterable[SentMessage]) -> str:
    """All visible text of some messages, joined (for assertions)."""
    return "\n".join(m.content or "" for m in messages)


async def private_details(officer: ChatUser, card: SentMessage) -> SentMessage:
    """Press "details" on an anonymised case card in the officers' chat (R-WHERE): the
    whole card arrives in the presser's private chat."""
    await officer.send("/help")  # a private chat with the bot exists
    mark = officer.double.mark()
    _, data = officer.button_data("详情", card)
    await officer.press_data(data, card, chat_id=officer.id)
    found = officer.replies_since(mark, officer.id)
    assert found, officer.answer_of_last_press()
    return found[-1]
