"""Conversation fixtures: the Bot API double and the real bot polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from bot.double import BotApiDouble, RateLimits
from messages import Catalog
from tests.support.chat import TOKEN, ChatUser, RunningBot, settings_for
from tests.support.privacy import check_groups


@pytest.fixture(autouse=True)
async def no_personal_data_in_groups(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """R-WHERE, for the whole suite: after each conversation test, every message the bot
    sent to (or edited in) any group chat is scanned for the test residents' names,
    phones, rooms and temperatures; a match fails that test."""
    yield
    double = request.node.funcargs.get("double")
    if not isinstance(double, BotApiDouble):
        return
    found = await check_groups(
        double, request.node.funcargs.get("database_url"), request.node.nodeid
    )
    assert not found, "personal data in a group chat:\n" + "\n".join(found)


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    # Conversation tests are about behaviour, not pacing: limits are tested elsewhere.
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    yield double
    await double.stop()


@pytest.fixture
async def running_bot(
    double: BotApiDouble, database_url: str, clock: FakeClock, catalog: Catalog
) -> AsyncIterator[RunningBot]:
    bot = RunningBot(double, settings_for(double, database_url), clock, catalog)
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
def resident(double: BotApiDouble) -> ChatUser:
    return ChatUser(double, double.user(5001, "小明", language_code="zh-hans"))


@pytest.fixture
def english_resident(double: BotApiDouble) -> ChatUser:
    return ChatUser(double, double.user(5002, "Alice", language_code="en"))
