"""The heap is settled once the bot runs: the place gazetteer is loaded and everything
long-lived is frozen, out of the cyclic collector's full passes (which otherwise hold
the event loop for 100-200 ms, e.g. during a ledger export: bench/ledger.py)."""

from __future__ import annotations

import gc

from bot.app import settle_heap
from bot.clock import FakeClock
from bot.double import BotApiDouble
from bot.places import Gazetteer
from bot.places.gazetteer import _load_default
from messages import Catalog
from tests.support.chat import RunningBot, settings_for


def _collected(obj: object) -> bool:
    """Whether the collector's generations hold `obj` (frozen objects are outside)."""
    return any(o is obj for o in gc.get_objects())


def _unsettle() -> None:
    gc.unfreeze()
    _load_default.cache_clear()


def test_settle_heap_loads_the_gazetteer_and_freezes_it() -> None:
    _unsettle()
    try:
        assert gc.get_freeze_count() == 0
        settle_heap()
        assert _load_default.cache_info().currsize == 1
        assert gc.get_freeze_count() > 0
        assert not _collected(Gazetteer.load())
        # The check can fail: an unfrozen gazetteer is in the collector's generations.
        gc.unfreeze()
        assert _collected(Gazetteer.load())
    finally:
        settle_heap()


async def test_the_running_bot_has_settled_its_heap(
    double: BotApiDouble, database_url: str, clock: FakeClock, catalog: Catalog
) -> None:
    _unsettle()
    bot = RunningBot(double, settings_for(double, database_url), clock, catalog)
    await bot.start()  # returns once the bot polls, after its startup (App.prepare)
    try:
        assert _load_default.cache_info().currsize == 1
        assert gc.get_freeze_count() > 0
        assert not _collected(Gazetteer.load())
    finally:
        await bot.stop()
