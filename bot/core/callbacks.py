"""Callback queries are answered by the core, not by each handler.

After a handler succeeded, a query nobody answered gets an empty answer (the button
stops spinning). When the handler failed, the error handler answers with an alert
instead (bot/errors.py). Handlers answer themselves only to show a toast or an alert;
the commit barrier notes that they did (UpdateContext.callback_answered).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, TelegramObject

from bot.core.context import current_update
from bot.parsing import ID_MAX

_NUMBER = re.compile(r"-?\d+")


class AnswerCallbackAfterHandler(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        result = await handler(event, data)
        ctx = current_update.get()
        if isinstance(event, CallbackQuery) and ctx is not None and not ctx.callback_answered:
            with contextlib.suppress(TelegramAPIError):
                await event.answer()
        return result


class OutOfRangeCallbackData(BaseMiddleware):
    """Forged callback data with a number no database column can hold (an id of 25
    digits) is answered "this button has expired" before any handler looks it up: the
    drivers would raise an overflow, which would read as a fault of the bot."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, CallbackQuery) and any(
            _NUMBER.fullmatch(part) and abs(int(part)) > ID_MAX
            for part in (event.data or "").split(":")
        ):
            with contextlib.suppress(TelegramAPIError):
                await event.answer(data["t"]("common.button_expired"), show_alert=True)
            return None
        return await handler(event, data)
