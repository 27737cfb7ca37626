"""Conversation fixtures: the Bot API double and the real bot polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from bot.double import BotApiDouble, RateLimits
from messages import Catalog
from tests.support.chat import TOKEN, ChatUser, RunningBot, settings_for


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
