"""Webhook mode through the inbox: an update is stored before the 200, handled once even
when Telegram delivers it again (its 200 was lost), and marked done."""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import Application
from bot.clock import FakeClock
from bot.db.models import InboxUpdate
from bot.double import BotApiDouble
from bot.webhook import run_webhook
from messages import Catalog
from tests.conversations.test_webhook import SECRET, _free_port
from tests.support.chat import settings_for


async def test_webhook_update_stored_handled_once_and_done(
    double: BotApiDouble,
    database_url: str,
    clock: FakeClock,
    catalog: Catalog,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    port = _free_port()
    settings = settings_for(
        double, database_url, webhook_url="https://bot.example.org",
        webhook_host="127.0.0.1", webhook_port=port, webhook_secret=SecretStr(SECRET),
    )  # fmt: skip
    app = await Application.create(settings, clock, migrate=False, catalog=catalog)
    server = asyncio.create_task(run_webhook(app))
    try:
        await double.wait_for(lambda c: c.method.lower() == "setwebhook", since=0, timeout=10)
        user = double.user(7007, "Tester", language_code="en")
        double.send_text(user, "/help")
        body = double.updates[-1]
        url = f"http://127.0.0.1:{port}{settings.webhook_route()}"
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        mark = double.mark()
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the site may need a moment to bind
                try:
                    async with http.post(url, json=body, headers=headers) as response:
                        assert response.status == 200
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
            first = await double.next_message(user.id, since=mark)
            async with sessionmaker() as session:
                row = await session.scalar(
                    select(InboxUpdate).where(InboxUpdate.update_id == body["update_id"])
                )
                assert row is not None and row.done_at is not None
            async with http.post(url, json=body, headers=headers) as response:  # delivered again
                assert response.status == 200
        app.request_stop()
        await asyncio.wait_for(server, timeout=20)
        sent = [m for c in double.calls if c.seq >= mark for m in c.messages]
        assert [m.raw_text for m in sent] == [first.raw_text]
    finally:
        app.request_stop()
        if not server.done():
            server.cancel()
        await app.close()
