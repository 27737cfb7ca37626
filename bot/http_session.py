"""aiogram's HTTP session for a Bot API server reached over plain ``http://``.

A local Bot API server (or the test double) needs no TLS: `AiohttpSession` still loads
the CA bundle into a new SSL context for every session (about 0.1 s of CPU) and sleeps
250 ms on close to let TLS connections shut down. `PlainHttpSession` skips both; it is
otherwise aiogram's session (the sender's lean path relies on that: bot/lean.py).
"""

from __future__ import annotations

from typing import Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import TCPConnector


class PlainHttpSession(AiohttpSession):
    """`AiohttpSession` without an SSL context and without the TLS grace on close."""

    def __init__(self, api: TelegramAPIServer, limit: int = 100, **kwargs: Any) -> None:
        # Not AiohttpSession.__init__, which builds the SSL context: the same state,
        # with plain connections (no proxy: a proxy is for reaching api.telegram.org).
        BaseSession.__init__(self, api=api, **kwargs)
        self._session = None
        self._connector_type = TCPConnector
        self._connector_init = {"ssl": False, "limit": limit, "ttl_dns_cache": 3600}
        self._should_reset_connector = True
        self._proxy = None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def is_plain_http(base_url: str | None) -> bool:
    return bool(base_url) and str(base_url).lower().startswith("http://")
