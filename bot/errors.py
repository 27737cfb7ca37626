"""One error path for every handler (aiogram's errors observer).

- A DomainError (a rule refused: bot/services/errors.py) or a ParseError (input not
  understood: bot/parsing.py) becomes the polite reply it names, in the reader's
  language: an answer in a private chat, a reply in a group, an alert on a button (a
  message in the private chat when the button was already answered before the failure).
  The handler's transaction was rolled back; the FSM state and data are as they were
  before the update, so what the user had entered is kept, unless the handler's
  `end_form` flag says the form ends (bot/core/forms.py).
- The database being unavailable: "please try again in a moment"; the update stays in
  the inbox and is replayed at the next start (or by the leader's sweep).
- Redis being unavailable: "received, it will be handled in a moment"; the update stays
  in the inbox and is handled when Redis answers again (bot/core/outage.py). Both
  outages are logged once when they start and once when they end.
- The person blocked the bot meanwhile (403): noted at info level, nobody to tell.
- Anything else is logged and the user gets the generic apology.

The translator comes from the identity middleware when it ran; when it did not (the
database failed first), one is built from the Telegram user's language_code.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiogram import Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Message, User

from bot.core import forms
from bot.core.context import current_update
from bot.core.outage import database_unavailable, redis_error
from bot.parsing import ParseError
from bot.services import case_text
from bot.services.errors import DomainError
from messages import Catalog, Translator, locale_from_telegram

log = logging.getLogger("community_guard.errors")


def install_error_handler(dp: Dispatcher, catalog: Catalog) -> None:
    async def on_domain_error(event: ErrorEvent, **data: Any) -> bool:
        exc = event.exception
        assert isinstance(exc, DomainError)
        t = _translator(catalog, data)
        await forms.after_error(data, exc)
        # Places and labels given as markers are named in the reader's language.
        params = case_text.resolve(catalog, t.locale, exc.params)
        await _tell(event, t(exc.key, **params), in_groups=True)
        return True

    async def on_parse_error(event: ErrorEvent, **data: Any) -> bool:
        exc = event.exception
        assert isinstance(exc, ParseError)
        t = _translator(catalog, data)
        await forms.after_error(data, exc)
        await _tell(event, t(f"errors.{exc.code}", **exc.params), in_groups=True)
        return True

    async def on_error(event: ErrorEvent, **data: Any) -> bool:
        if isinstance(event.exception, TelegramForbiddenError):
            # The person blocked the bot (or left the chat) while their update was being
            # handled: what was saved is committed; there is no one to tell.
            log.info("update %s: %s", event.update.update_id, event.exception.message)
            return True
        t = _translator(catalog, data)
        app = data.get("app")
        if redis_error(event.exception) and getattr(app, "redis_watch", None) is not None:
            # Kept (the inbox has it, not done) and handled when Redis is back; the
            # outage is logged once (bot/core/outage.py), not a traceback per update.
            app.redis_watch.failed(event.update, event.exception)  # type: ignore[union-attr]
            log.info("update %s kept until redis is back", event.update.update_id)
            await _tell(event, t("core.redis_unavailable"), in_groups=False)
            return True
        if database_unavailable(event.exception):
            outage = getattr(app, "database_outage", None)
            if outage is not None:
                outage.failed(event.exception)
            log.info("update %s: told to try again (no database)", event.update.update_id)
            await _tell(event, t("core.database_unavailable"), in_groups=False)
            return True
        log.error("update %s failed", event.update.update_id, exc_info=event.exception)
        await _tell(event, t("common.error"), in_groups=False)
        return True

    dp.errors.register(on_domain_error, ExceptionTypeFilter(DomainError))
    dp.errors.register(on_parse_error, ExceptionTypeFilter(ParseError))
    dp.errors.register(on_error)


def _translator(catalog: Catalog, data: dict[str, Any]) -> Translator:
    t = data.get("t")
    if isinstance(t, Translator):
        return t
    user: User | None = data.get("event_from_user")
    return catalog.translator(locale_from_telegram(user.language_code if user else None))


async def _tell(event: ErrorEvent, text: str, *, in_groups: bool) -> None:
    update = event.update
    with contextlib.suppress(TelegramAPIError):
        query = update.callback_query
        if query is not None:
            ctx = current_update.get()
            if ctx is not None and ctx.callback_answered:
                # Answered before the failure (a toast): a second answer would be
                # refused, so the text comes as a message, in a private chat only.
                if isinstance(query.message, Message) and query.message.chat.type == "private":
                    await query.message.answer(text)
            else:
                await query.answer(text, show_alert=True)
        elif update.message is not None:
            if update.message.chat.type == "private":
                await update.message.answer(text)
            elif in_groups:
                await update.message.reply(text)
