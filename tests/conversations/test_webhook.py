"""Webhook mode (R-RUN): updates arrive over HTTP; the secret token is checked."""

from __future__ import annotations

import asyncio
import re
import socket

import aiohttp
import pytest
from pydantic import SecretStr

from bot.app import Application
from bot.clock import FakeClock
from bot.double import BotApiDouble
from bot.webhook import WebhookRefused, run_webhook
from messages import Catalog
from tests.support.chat import settings_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SECRET = "s3cret-token-of-at-least-32-characters-x"


async def test_webhook_checks_the_secret_and_handles_updates(
    double: BotApiDouble, database_url: str, clock: FakeClock, catalog: Catalog
) -> None:
    port = _free_port()
    settings = settings_for(
        double,
        database_url,
        webhook_url="https://bot.example.org",
        webhook_host="127.0.0.1",
        webhook_port=port,
        webhook_secret=SecretStr(SECRET),
    )
    app = await Application.create(settings, clock, migrate=False, catalog=catalog)
    stop = asyncio.Event()
    server = asyncio.create_task(run_webhook(app, stop))
    try:
        await double.wait_for(lambda c: c.method.lower() == "setwebhook", since=0, timeout=10)
        # the path has a part nobody can guess (derived from the secret)
        path = settings.webhook_route()
        assert re.fullmatch(r"/telegram/[0-9a-f]{32}", path)
        assert double.webhook.url == f"https://bot.example.org{path}"
        assert double.webhook.secret_token == SECRET
        user = double.user(7007, "Tester", language_code="en")
        update = double.send_text(user, "/help")
        body = double.updates[-1]
        url = f"http://127.0.0.1:{port}{path}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the site may need a moment to bind
                try:
                    async with http.post(
                        url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                    ) as response:
                        assert response.status == 401
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
            mark = double.mark()
            async with http.post(
                url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as response:
                assert response.status == 200
            reply = await double.next_message(user.id, since=mark)
            assert "Community Guard" in (reply.content or "")
        assert update.update_id == body["update_id"]
    finally:
        stop.set()
        await server
        await app.close()


async def test_webhook_refuses_to_start_without_a_long_secret(
    double: BotApiDouble, database_url: str, clock: FakeClock, catalog: Catalog
) -> None:
    for secret in (None, "short", "x" * 31, "a" * 31 + "!"):
        settings = settings_for(
            double,
            database_url,
            webhook_url="https://bot.example.org",
            webhook_secret=SecretStr(secret) if secret is not None else None,
        )
        assert settings.webhook_problem() == (
            "WEBHOOK_SECRET must be at least 32 characters of A-Z a-z 0-9 _ - in webhook mode; "
            "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
        app = await Application.create(settings, clock, migrate=False, catalog=catalog)
        try:
            mark = double.mark()
            with pytest.raises(WebhookRefused):
                await run_webhook(app, asyncio.Event())
            # nothing was registered with Telegram
            assert not [
                c for c in double.calls if c.seq >= mark and c.method.lower() == "setwebhook"
            ]
        finally:
            await app.close()
    explicit = settings_for(
        double, database_url, webhook_secret=SecretStr(SECRET), webhook_path="/hook/abc"
    )
    assert explicit.webhook_route() == "/hook/abc"
