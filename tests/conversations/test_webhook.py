"""Webhook mode (R-RUN): updates arrive over HTTP; the secret token is checked."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from pydantic import SecretStr

from bot.app import Application
from bot.clock import FakeClock
from bot.double import BotApiDouble
from bot.webhook import run_webhook
from messages import Catalog
from tests.support.chat import settings_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        webhook_secret=SecretStr("s3cret-token"),
    )
    app = await Application.create(settings, clock, migrate=False, catalog=catalog)
    stop = asyncio.Event()
    server = asyncio.create_task(run_webhook(app, stop))
    try:
        await double.wait_for(lambda c: c.method.lower() == "setwebhook", since=0, timeout=10)
        assert double.webhook.url == "https://bot.example.org/telegram/webhook"
        assert double.webhook.secret_token == "s3cret-token"
        user = double.user(7007, "Tester", language_code="en")
        update = double.send_text(user, "/help")
        body = double.updates[-1]
        url = f"http://127.0.0.1:{port}/telegram/webhook"
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
                url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            ) as response:
                assert response.status == 200
            reply = await double.next_message(user.id, since=mark)
            assert "Community Guard" in (reply.content or "")
        assert update.update_id == body["update_id"]
    finally:
        stop.set()
        await server
        await app.close()
