"""Lean sends: a plain call posted as one JSON body on the bot session's aiohttp session.

The sender (bot/sender.py) only keeps the id of a message it sent, so for a plain send
(no upload, no pin, no hook needing the ``Message``) it skips aiogram's pydantic method
model and the validation of the answer into a ``Message``. `LeanPoster.post` makes the
call aiogram would make, with the same parameters, as ``application/json`` (which the
Bot API takes for every call without a file):

* the payload's fields as aiogram's ``prepare_value`` leaves them: ``None`` and ``""``
  dropped at the top, ``None`` dropped inside objects and lists, everything else as it is
  (aiogram writes it into a form field as the same JSON);
* the bot's defaults (parse mode, link preview, …) for what the payload leaves out,
  prepared once per method;
* the URL (a parsed ``yarl.URL``) and the timeout built once.

Only ``result.message_id`` is read from a successful answer. Any other answer goes
through aiogram's ``check_response``, and network errors become aiogram's
``TelegramNetworkError``, so the sender classifies errors (retry_after, 403, 400,
migration) exactly as on the full path. Request middlewares are not run (the only ones
installed act during an update or on callback answers, never on the sender's sends).
"""

from __future__ import annotations

import contextlib
import json
from enum import Enum
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.types import Message
from aiohttp import ClientError, ClientTimeout
from yarl import URL

_JSON = {"Content-Type": "application/json"}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class LeanPoster:
    """Posts plain calls of one bot (see the module doc)."""

    def __init__(self, bot: Bot) -> None:
        if not isinstance(bot.session, AiohttpSession):
            raise TypeError("lean sends need aiogram's AiohttpSession")
        self.bot = bot
        self.session: AiohttpSession = bot.session
        self._urls: dict[str, URL] = {}
        self._defaults: dict[type[TelegramMethod[Any]], dict[str, Any]] = {}
        self._timeout = ClientTimeout(total=self.session.timeout)

    def body(
        self, method_cls: type[TelegramMethod[Any]], chat_id: int, params: dict[str, Any]
    ) -> bytes:
        """The JSON body of the call (the parameters aiogram would send)."""
        body: dict[str, Any] = {"chat_id": chat_id}
        for key, value in params.items():
            if value is None or value == "":
                continue
            if isinstance(value, dict | list):
                value = _without_none(value)
            elif isinstance(value, Enum):
                value = value.value
            body[key] = value
        for key, value in self.defaults(method_cls).items():
            if key not in params:
                body[key] = value
        return _dumps(body).encode()

    async def post(
        self, method_cls: type[TelegramMethod[Any]], chat_id: int, params: dict[str, Any]
    ) -> int | None:
        """Send one call and return the sent message's id (None if the answer has none).
        Raises what aiogram raises for the same answer."""
        session = self.session
        data = self.body(method_cls, chat_id, params)
        api_method = method_cls.__api_method__
        url = self._urls.get(api_method)
        if url is None:
            url = self._urls[api_method] = URL(
                session.api.api_url(token=self.bot.token, method=api_method)
            )
        if self._timeout.total != session.timeout:
            self._timeout = ClientTimeout(total=session.timeout)
        http = await session.create_session()
        try:
            async with http.post(url, data=data, headers=_JSON, timeout=self._timeout) as response:
                status, raw = response.status, await response.read()
        except TimeoutError as exc:
            call = method_cls.model_construct(chat_id=chat_id, **params)
            raise TelegramNetworkError(method=call, message="Request timeout error") from exc
        except ClientError as exc:
            call = method_cls.model_construct(chat_id=chat_id, **params)
            message = f"{type(exc).__name__}: {exc}"
            raise TelegramNetworkError(method=call, message=message) from exc
        if status == 200:
            with contextlib.suppress(ValueError):
                answer = json.loads(raw)
                if isinstance(answer, dict) and answer.get("ok") is True:
                    result = answer.get("result")
                    message_id = result.get("message_id") if isinstance(result, dict) else None
                    return message_id if isinstance(message_id, int) else None
        # Anything else: aiogram decides (and raises the exception the full path would).
        call = method_cls.model_construct(chat_id=chat_id, **params)
        checked = session.check_response(
            bot=self.bot, method=call, status_code=status, content=raw.decode("utf-8", "replace")
        )
        result = checked.result
        return result.message_id if isinstance(result, Message) else None

    def defaults(self, method_cls: type[TelegramMethod[Any]]) -> dict[str, Any]:
        """The bot's defaults (parse mode, link preview, …) for a method's fields, as
        JSON values (aiogram's ``prepare_value``, not yet dumped); computed once."""
        cached = self._defaults.get(method_cls)
        if cached is None:
            cached = {}
            files: dict[str, Any] = {}
            for name, info in method_cls.model_fields.items():
                if isinstance(info.default, Default):
                    value = self.session.prepare_value(
                        info.default, bot=self.bot, files=files, _dumps_json=False
                    )
                    if isinstance(value, Enum):
                        value = value.value
                    if value is not None and value != "":
                        cached[info.alias or name] = value
            self._defaults[method_cls] = cached
        return cached


def _without_none(value: Any) -> Any:
    """What aiogram's ``prepare_value`` keeps of a nested object or list: no ``None``."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value
