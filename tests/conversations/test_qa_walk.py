"""Helper walk `qa`: what a resident types and an attacker presses that earlier walks
missed. Each test failed before its fix."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CheckInStatus
from bot.double import BotApiDouble
from messages import Catalog
from tests.conversations.test_checkin_answers import checkin_of, isolated_and_prompted
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GRID_WORKER_ID, SeededCommunity


@pytest.mark.parametrize(
    "typed", ["36。5", "36.5。", "体温36.5", "体温：36.5度", "🌡️36.5", "36.5 👍", "36°5"]
)
async def test_a_temperature_typed_as_people_type_it_is_recorded(
    typed: str,
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """A Chinese keyboard's "。" as the point, a leading "体温", an emoji: the value is
    plain, so it is recorded instead of "not recognised"."""
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    replies = await resident.send(typed)
    assert texts(replies) == catalog.render(
        "zh-CN", "checkin.thanks", name="张三", member=False, temperature="36.5"
    )
    checkin = await checkin_of(sessionmaker, iso.isolation_id)
    assert checkin.status == CheckInStatus.ANSWERED
    assert checkin.temperature == Decimal("36.5")


@pytest.mark.parametrize("data", ["scg:building:1:0", "scg:x:1:3", "scp:room:1"])
async def test_a_forged_screening_picker_page_has_expired(
    data: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    """The /screen picker knows three levels (b, u, r); a page button naming another
    was answered with the generic apology (a missing message key)."""
    grid_worker = ChatUser(double, double.user(GRID_WORKER_ID, "网格员小李"))
    picker = (await grid_worker.send("/screen"))[-1]
    replies = await grid_worker.press_data(data, picker, strict=False)
    assert replies == []
    assert grid_worker.answer_of_last_press() == catalog.render("zh-CN", "common.button_expired")
