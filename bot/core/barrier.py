"""The commit barrier: the update's database work commits before Telegram is told.

Installed on the bot's client session (`bot.session.middleware(...)`), so it sees every
Bot API call. While an update is being handled (`current_update` is set) it:

1. commits the update's session (`current_session`, set by DbSessionMiddleware) before
   the call leaves the process. What the handler saved, its FSM state and data, and the
   inbox row's "done" mark commit together; nothing the user is then told can be rolled
   back. Work after the reply runs in a new transaction, committed at the end.
2. recovers a reply that Telegram refuses for a passing reason (429, 5xx, a dropped
   connection or a timeout): one retry, after `retry_after` when it is short; when that
   fails too, a message or an edit goes into the outbox (durable: the sender delivers it
   when Telegram takes it again) and the handler carries on with a placeholder result.
   A lost toast (answerCallbackQuery) is not worth a retry: the button simply stops
   spinning. Other errors (400, 403) reach the handler as before.

Outside an update (the sender, jobs, start-up) calls pass through untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import AnswerCallbackQuery, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, InputFile, Message
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.core.context import current_update
from bot.fsm_storage import current_session

log = logging.getLogger(__name__)

TRANSIENT = (TelegramRetryAfter, TelegramServerError, TelegramNetworkError)
#: Calls that can wait in the outbox when Telegram refuses them during an update.
DEFERRABLE = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup"})

Sleep = Callable[[float], Awaitable[None]]


class CommitBarrier(BaseRequestMiddleware):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        retry_max_wait: float = 5.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.retry_max_wait = retry_max_wait
        self.sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        ctx = current_update.get()
        if ctx is None:
            return await make_request(bot, method)
        session = current_session.get()
        if session is not None:
            await session.commit()
            await ctx.committed()
        if isinstance(method, AnswerCallbackQuery):
            ctx.callback_answered = True
        try:
            return await make_request(bot, method)
        except TRANSIENT as exc:
            first: Exception = exc
        wait = first.retry_after if isinstance(first, TelegramRetryAfter) else 0.5
        if wait <= self.retry_max_wait:
            log.warning(
                "update %s: %s failed (%s), retrying once",
                ctx.update_id,
                method.__api_method__,
                first,
            )
            await self.sleep(wait)
            try:
                return await make_request(bot, method)
            except TRANSIENT as exc:
                first = exc
        if isinstance(method, AnswerCallbackQuery):
            log.warning("update %s: toast lost (%s)", ctx.update_id, first)
            return True  # type: ignore[return-value]
        name = method.__api_method__
        payload = _payload(bot, method) if name in DEFERRABLE else None
        if payload is None:
            raise first
        chat_id = payload.pop("chat_id", None)
        if not isinstance(chat_id, int):
            raise first
        ctx.deferred += 1
        # Numbered in the order the handler made them: a replay of the update adds nothing.
        await self._defer(f"reply:{ctx.update_id}:{ctx.deferred}", name, chat_id, payload)
        log.warning(
            "update %s: %s to %s put into the outbox (%s)", ctx.update_id, name, chat_id, first
        )
        return cast(Response[TelegramType], _placeholder(name, chat_id, payload))

    async def _defer(self, key: str, name: str, chat_id: int, payload: dict[str, Any]) -> None:
        from bot.services.outbox import enqueue

        async with self.sessionmaker.begin() as session:
            await enqueue(
                session,
                self.clock,
                kind="reply",
                chat_id=chat_id,
                dedup_key=key,
                payload=payload,
                method=name,
                is_group=chat_id < 0,
            )


def _payload(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """The call's parameters as JSON (defaults resolved), or None when it carries a file."""
    out: dict[str, Any] = {}
    for name in type(method).model_fields:
        value = getattr(method, name)
        if isinstance(value, Default):
            value = bot.default[value.name]
        if value is None:
            continue
        if isinstance(value, InputFile):
            return None
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", exclude_none=True)
        elif isinstance(value, Enum):
            value = value.value
        out[name] = value
    if "link_preview_options" in out:  # the deprecated twin says the same thing
        out.pop("disable_web_page_preview", None)
    return out


def _placeholder(name: str, chat_id: int, payload: dict[str, Any]) -> Any:
    if name != "sendMessage":
        return True
    return Message(
        message_id=0,
        date=datetime.now(UTC),
        chat=Chat(id=chat_id, type="private" if chat_id > 0 else "group"),
        text=payload.get("text"),
    )
