"""A new leader's sender knows what the old one sent in the last window (issue 17,
R-RATE): its pacer starts with those sends, so the limits hold across a failover; and
a sender whose leadership epoch is no longer current claims nothing (fencing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Delivery, LeaderTerm
from bot.double import BotApiDouble, RateLimits
from tests.services.test_sender import (
    TOKEN,
    VirtualTime,
    enqueue,
    make_sender,
    private,
    rows,
    settings,
)


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    yield double
    await double.stop()


@pytest.fixture
async def bot(double: BotApiDouble) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(double.base_url)))
    yield bot
    await bot.session.close()


async def test_new_leader_starts_with_the_last_windows_sends(
    double: BotApiDouble,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    # The old leader sent 20 messages half a second ago, one of them to chat 99 only
    # 0.2 s ago, then died.
    for chat_id in range(1, 21):
        await enqueue(sessionmaker, clock, chat_id, "old")
    await enqueue(sessionmaker, clock, 99, "old")
    async with sessionmaker.begin() as session:
        await session.execute(
            update(Delivery).values(status="sent", sent_at=clock.now() - timedelta(seconds=0.5))
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.chat_id == 99)
            .values(sent_at=clock.now() - timedelta(seconds=0.2))
        )
    vt = VirtualTime()
    sender = make_sender(bot, sessionmaker, clock, vt, config=settings(send_rate_per_second=25.0))
    assert await sender.prime_pacer() == 21

    # 4 more fit into the one-second window at once (21 + 4 = 25); the fifth waits until
    # the old leader's sends of half a second ago leave the window.
    times = []
    for chat_id in range(200, 205):
        await sender.pacer.acquire(chat_id, False)
        sender.pacer.release(chat_id, counted=True)
        times.append(vt.now)
    assert times[:4] == [0.0, 0.0, 0.0, 0.0]
    assert times[4] >= 0.5
    # Chat 99 had a message 0.2 s ago: its next one waits until 1 s after that.
    start = vt.now
    await sender.pacer.acquire(99, False)
    assert vt.now >= 0.8 and vt.now >= start


async def test_fenced_sender_claims_nothing(
    double: BotApiDouble,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    chat_id = private(double, 4242)
    await enqueue(sessionmaker, clock, chat_id, "hello")
    sender = make_sender(bot, sessionmaker, clock)
    async with sessionmaker.begin() as session:  # the bot's fencing row (its id)
        session.add(LeaderTerm(id=sender.term_id, epoch=2, holder="new-leader"))
    sender.epoch = 1  # a leader that has not noticed that epoch 2 took over
    assert await sender.drain() == 0
    assert sender.fenced
    assert [r.status for r in await rows(sessionmaker)] == ["pending"]
    assert double.messages(chat_id) == []

    sender.epoch = 2
    sender.fenced = False
    assert await sender.drain() == 1
    assert [m.text for m in double.messages(chat_id)] == ["hello"]
