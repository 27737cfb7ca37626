"""Callback queries are answered by the core, not by each handler.

After a handler succeeded, a query nobody answered gets an empty answer (the button
stops spinning). When the handler failed, the error handler answers with an alert
instead (bot/errors.py). Handlers answer themselves only to show a toast or an alert;
the commit barrier notes that they did (UpdateContext.callback_answered).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, TelegramObject

from bot.core.context import current_update


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
