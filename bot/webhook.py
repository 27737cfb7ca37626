"""Webhook mode: an aiohttp server receiving updates, `secret_token` checked."""

from __future__ import annotations

import asyncio
import logging

from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import Application

log = logging.getLogger(__name__)


def build_webhook_app(app: Application) -> web.Application:
    settings = app.settings
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    web_app = web.Application()
    # Answer 200 only once the update is handled (and its transaction committed): a
    # process killed mid-update gives no answer, so Telegram delivers it again, to any
    # process behind the endpoint.
    SimpleRequestHandler(
        dispatcher=app.dispatcher, bot=app.bot, secret_token=secret, handle_in_background=False
    ).register(web_app, path=settings.webhook_path)
    setup_application(web_app, app.dispatcher, bot=app.bot)
    return web_app


async def run_webhook(app: Application, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or forever); registers the webhook with Telegram."""
    settings = app.settings
    assert settings.webhook_url
    await app.prepare()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    if settings.webhook_register:
        await app.bot.set_webhook(
            settings.webhook_url.rstrip("/") + settings.webhook_path,
            secret_token=secret,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
        )
    runner = web.AppRunner(build_webhook_app(app))
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.webhook_host,
        settings.webhook_port,
        reuse_port=settings.webhook_reuse_port or None,
    )
    await site.start()
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
