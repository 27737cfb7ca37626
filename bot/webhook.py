"""Webhook mode: an aiohttp server receiving updates, `secret_token` checked.

Each update is stored in the inbox before Telegram gets its 200, then handled in the
background (bot/core/inbox.py); a stop lets the handlers in flight finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import Application
from bot.core import inbox
from bot.core.outage import database_unavailable
from bot.core.polling import handle_update

log = logging.getLogger(__name__)


class InboxRequestHandler(SimpleRequestHandler):
    """Store, answer 200, then handle. An update the inbox already has as done (Telegram
    retrying a delivery whose 200 was lost) is answered and not handled again."""

    def __init__(self, app: Application, secret_token: str | None) -> None:
        super().__init__(dispatcher=app.dispatcher, bot=app.bot, secret_token=secret_token)
        self.app = app
        self.in_flight: set[asyncio.Task[None]] = set()

    async def _handle_request_background(self, bot: Any, request: web.Request) -> web.Response:
        update = Update.model_validate(
            await request.json(loads=bot.session.json_loads), context={"bot": bot}
        )
        try:
            if not await inbox.receive(self.app.sessionmaker, self.app.clock, update):
                return web.json_response({})
        except Exception as exc:
            # The database is down: handle anyway so the user is told to retry.
            if database_unavailable(exc):
                self.app.database_outage.failed(exc)
                log.info("could not store update %s in the inbox", update.update_id)
            else:
                log.exception("could not store update %s in the inbox", update.update_id)
        else:
            self.app.database_outage.ok()
        task = asyncio.create_task(handle_update(self.app, update))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        return web.json_response({})

    async def drain(self, grace: float) -> None:
        if not self.in_flight:
            return
        _, pending = await asyncio.wait(set(self.in_flight), timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        """The bot session belongs to the application (closed by Application.close)."""


class WebhookRefused(RuntimeError):
    """Webhook mode without a long enough WEBHOOK_SECRET (the message says how to fix it)."""


def build_webhook_app(app: Application) -> tuple[web.Application, InboxRequestHandler]:
    settings = app.settings
    problem = settings.webhook_problem()
    if problem is not None:
        raise WebhookRefused(problem)
    secret = settings.webhook_secret_value or None
    web_app = web.Application()
    handler = InboxRequestHandler(app, secret)
    handler.register(web_app, path=settings.webhook_route())
    setup_application(web_app, app.dispatcher, bot=app.bot)
    return web_app, handler


async def run_webhook(app: Application, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or the application is asked to stop); registers the
    webhook with Telegram. Replays the inbox first; on stop, handlers in flight finish."""
    settings = app.settings
    assert settings.webhook_url
    problem = settings.webhook_problem()
    if problem is not None:
        raise WebhookRefused(problem)
    await app.prepare()
    from bot.core.polling import replay

    await replay(app)
    secret = settings.webhook_secret_value or None
    if settings.webhook_register:
        await app.bot.set_webhook(
            settings.webhook_url.rstrip("/") + settings.webhook_route(),
            secret_token=secret,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
        )
    web_app, handler = build_webhook_app(app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    # Several processes may share the port (SO_REUSEPORT, `run --workers N`).
    site = web.TCPSite(
        runner,
        settings.webhook_host,
        settings.webhook_port,
        reuse_port=settings.webhook_reuse_port or None,
    )
    await site.start()
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    waits = [asyncio.ensure_future(app.stop_requested.wait())]
    if stop is not None:
        waits.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await site.stop()
        await handler.drain(settings.shutdown_timeout)
        await runner.cleanup()
