"""The test harness's own guarantees (the speed-ups of issue 13 must not change what the
suite checks): a bot counts as started once its long poll arrives, each application gets
its own copies of the routers, http:// Bot API servers get the plain session, templates
compile once per process, and the slow modules listed to run first exist."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram import Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from pydantic import SecretStr

from bot.app import make_bot
from bot.double import BotApiDouble, RateLimits
from bot.http_session import PlainHttpSession
from bot.settings import Settings
from handlers import get_routers
from messages import Catalog
from tests.conftest import SLOW_FIRST
from tests.support.chat import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def _settings(base: str | None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, bot_token=SecretStr(TOKEN), telegram_api_base=base
    )


async def test_a_long_poll_is_counted_when_it_arrives_not_when_it_is_answered() -> None:
    async with BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False)) as double:
        bot = make_bot(_settings(double.base_url))
        try:
            before = double.polls_started
            poll = asyncio.ensure_future(bot.get_updates(timeout=30))
            await double.wait_polling(before, timeout=30)
            # Counted, still waiting, and not yet in the call log.
            assert double.polls_started == before + 1
            assert not poll.done() and double.calls_of("getUpdates") == []
            double.send_text(double.user(5001, "小明"), "hi")
            updates = await poll
            assert [u.message.text for u in updates if u.message] == ["hi"]
        finally:
            await bot.session.close()


async def test_waiting_for_a_poll_stops_when_the_poller_gave_up() -> None:
    async with BotApiDouble(token=TOKEN) as double:
        await double.wait_polling(double.polls_started, timeout=30, gave_up=lambda: True)
        with pytest.raises(TimeoutError, match="did not ask for updates"):
            await double.wait_polling(double.polls_started, timeout=0.01)


def test_http_bot_api_servers_get_the_plain_session_and_https_ones_aiogram_s() -> None:
    plain = make_bot(_settings("http://127.0.0.1:8081")).session
    assert type(plain) is PlainHttpSession
    assert plain._connector_init["ssl"] is False
    assert plain.api.base == "http://127.0.0.1:8081/bot{token}/{method}"
    secure = make_bot(_settings("https://bots.example.org")).session
    assert type(secure) is AiohttpSession and secure._connector_init["ssl"] is not False
    assert type(make_bot(_settings(None)).session) is AiohttpSession


def test_each_application_gets_its_own_copies_of_the_routers() -> None:
    first, second = get_routers(), get_routers()
    assert [r.name for r in first] == [r.name for r in second]
    assert len(first) == 28 and first[-1].name == "fallback"
    for a, b in zip(first, second, strict=True):
        assert a is not b
        for event, observer in a.observers.items():
            assert observer.handlers == b.observers[event].handlers
            assert observer._handler is b.observers[event]._handler
    assert sum(len(r.message.handlers) + len(r.callback_query.handlers) for r in first) > 100
    # Both can be attached, each to its own dispatcher.
    Dispatcher().include_routers(*first)
    Dispatcher().include_routers(*second)


def test_catalogs_share_their_compiled_templates() -> None:
    one, two = Catalog(), Catalog()
    key = "registration.ask_name"
    assert one.template("en", key) is two.template("en", key)
    assert one.render("zh-CN", key) == two.render("zh-CN", key)


def test_the_slow_modules_listed_exist() -> None:
    assert len(set(SLOW_FIRST)) == len(SLOW_FIRST)
    assert [m for m in SLOW_FIRST if not (ROOT / m).is_file()] == []
