"""Nothing crashes a handler: unexpected errors are logged and the user gets a polite
answer in their language; what they had entered (FSM data) is kept."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from messages import Translator

log = logging.getLogger("community_guard.errors")


def install_error_handler(dp: Dispatcher) -> None:
    dp.errors.register(_on_error)


async def _on_error(event: ErrorEvent, t: Translator | None = None) -> bool:
    update = event.update
    log.error("update %s failed", update.update_id, exc_info=event.exception)
    if t is None:
        return True
    text = t("common.error")
    with contextlib.suppress(TelegramAPIError):
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message is not None and update.message.chat.type == "private":
            await update.message.answer(text)
    return True
