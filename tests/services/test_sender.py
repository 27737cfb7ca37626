"""The sender against the Bot API double: pacing (virtual time), retry_after, 403, 400,
group migration, 5xx backoff, pin, atomic claims and crash recovery."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Delivery, DeliveryStatus, GroupChat, Person
from bot.double import BotApiDouble, RateLimits
from bot.sender import Sender
from bot.services import outbox
from bot.settings import Settings
from tests.support.community import SeededCommunity

TOKEN = "123456:TEST-TOKEN"


class VirtualTime:
    """A monotonic clock that only moves when the sender sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


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


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"bot_token": SecretStr(TOKEN)}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_sender(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    vt: VirtualTime | None = None,
    **kwargs: Any,
) -> Sender:
    vt = vt or VirtualTime()
    config = kwargs.pop("config", settings())
    return Sender(
        bot,
        sessionmaker,
        clock,
        max_attempts=kwargs.pop("max_attempts", 4),
        worker_id=kwargs.pop("worker_id", "test-sender"),
        settings=config,
        monotonic=vt.monotonic,
        sleep=vt.sleep,
        **kwargs,
    )


def private(double: BotApiDouble, user_id: int) -> int:
    user = double.user(user_id, f"U{user_id}")
    double.private_chat(user)
    double.started.add(user_id)
    return user_id


async def enqueue(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    chat_id: int,
    text: str,
    **kwargs: Any,
) -> None:
    async with sessionmaker.begin() as session:
        await outbox.enqueue(
            session,
            clock,
            kind=kwargs.pop("kind", "test"),
            chat_id=chat_id,
            dedup_key=f"t:{chat_id}:{text}",
            payload=outbox.message_payload(text),
            **kwargs,
        )


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Delivery).order_by(Delivery.id))).all())


def texts(double: BotApiDouble, chat_id: int) -> list[str]:
    return [m.text or m.caption or "" for m in double.messages(chat_id)]


async def test_pacing_keeps_every_limit_in_virtual_time(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    vt = VirtualTime()
    config = settings(
        send_rate_per_second=10.0,
        send_rate_per_chat_per_second=1.0,
        send_rate_per_group_per_minute=20.0,
    )
    sender = make_sender(bot, sessionmaker, clock, vt, config=config, record_schedule=True)
    chat_a = private(double, 7001)
    group = -100555
    double.group(group, "楼栋群")
    for i in range(3):
        await enqueue(sessionmaker, clock, chat_a, f"a{i}")
    for i in range(2):
        await enqueue(sessionmaker, clock, group, f"g{i}", is_group=True)
    others = [private(double, 7100 + i) for i in range(40)]
    for chat in others:
        await enqueue(sessionmaker, clock, chat, "hello")

    assert await sender.drain() == 45

    schedule = sender.pacer.schedule
    assert len(schedule) == 45
    slots = sorted(slot for slot, _ in schedule)
    # Global: bursts of 10, never more than 10 in any one-second window.
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(slots, slots[10:], strict=False))
    assert slots[:10] == [0.0] * 10
    assert slots[-1] >= 4.0 - 1e-9
    per_chat = [slot for slot, chat in schedule if chat == chat_a]
    assert [b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(per_chat)] == [True] * 2
    # A group takes up to 20 a minute without spacing.
    per_group = [slot for slot, chat in schedule if chat == group]
    assert len(per_group) == 2
    # Each chat in order.
    assert texts(double, chat_a) == ["a0", "a1", "a2"]
    assert texts(double, group) == ["g0", "g1"]
    assert {r.status for r in await rows(sessionmaker)} == {DeliveryStatus.SENT.value}
    assert all(r.telegram_message_id for r in await rows(sessionmaker))


async def test_a_chat_finishing_during_a_claim_is_still_counted(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A slow chat's send (and its commit) completes while a claim for another chat is
    running, so that claim already returns the slow chat's next row: both sends count."""
    sender = make_sender(bot, sessionmaker, clock)
    fast, slow = private(double, 7051), private(double, 7052)
    double.faults.delay("sendMessage", 0.3, times=1, chat_id=slow)
    await enqueue(sessionmaker, clock, slow, "s0")
    await enqueue(sessionmaker, clock, slow, "s1")
    await enqueue(sessionmaker, clock, fast, "f0")
    original = sender._claim_heads
    calls = 0

    async def claim_after_every_send_settled(n: int, **kwargs: Any) -> list[Any]:
        nonlocal calls
        calls += 1
        if calls > 1:  # the fast chat is done: let the slow one finish and commit first
            sending = [
                t
                for t in asyncio.all_tasks()
                if getattr(t.get_coro(), "__qualname__", "") == "Sender._send" and not t.done()
            ]
            if sending:
                await asyncio.wait(sending)
            await sender._settle()
        return await original(n, **kwargs)

    sender._claim_heads = claim_after_every_send_settled  # type: ignore[method-assign]
    assert await sender.drain() == 3
    assert texts(double, slow) == ["s0", "s1"] and texts(double, fast) == ["f0"]


async def test_paid_broadcast_raises_the_global_rate_and_flags_calls(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    config = settings(allow_paid_broadcast=True, paid_broadcast_rate_per_second=500.0)
    sender = make_sender(bot, sessionmaker, clock, config=config, record_schedule=True)
    for i in range(5):
        await enqueue(sessionmaker, clock, private(double, 7200 + i), "x")
    assert await sender.drain() == 5
    slots = sorted(slot for slot, _ in sender.pacer.schedule)
    assert slots == [0.0] * 5  # one burst, well under 500 in a second
    assert all(c.params.get("allow_paid_broadcast") for c in double.calls_of("sendMessage"))


async def test_lean_send_makes_the_request_aiogram_makes(
    double: BotApiDouble, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Plain sends skip aiogram's models (Sender._post) but not its request: the same
    form fields (the bot's defaults included) reach the Bot API as from `bot(SendMessage)`,
    and the message id is recorded."""
    api = TelegramAPIServer.from_base(double.base_url)
    bot = Bot(
        TOKEN,
        session=AiohttpSession(api=api),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    try:
        chat = private(double, 7300)
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="OK <b>", callback_data="a:1")]]
        )
        payload = outbox.message_payload(
            "<b>hi</b> & 你好", reply_markup=markup, disable_notification=True
        )
        config = settings(allow_paid_broadcast=True)
        async with sessionmaker.begin() as session:
            await outbox.enqueue(
                session, clock, kind="test", chat_id=chat, dedup_key="lean", payload=payload
            )
        sender = make_sender(bot, sessionmaker, clock, config=config)
        assert await sender.drain() == 1
        await bot(SendMessage(chat_id=chat, allow_paid_broadcast=True, **payload))
        lean, full = double.calls_of("sendMessage")
        assert lean.ok and full.ok
        assert lean.params == full.params
        assert lean.params["link_preview_options"] == {"is_disabled": True}
        assert lean.params["reply_markup"] == payload["reply_markup"]
        (row,) = await rows(sessionmaker)
        assert row.status == DeliveryStatus.SENT.value
        assert row.telegram_message_id == lean.response["result"]["message_id"]
        assert [m.text for m in double.messages(chat)] == ["hi & 你好", "hi & 你好"]
    finally:
        await bot.session.close()


async def test_sends_in_flight_scale_with_the_rate_and_round_trip(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Paid mode: rate x round-trip (+50 %) sends in flight, not a fixed 64 (900/s with
    answers taking 150 ms needs about 135 in flight)."""
    config = settings(allow_paid_broadcast=True, paid_broadcast_rate_per_second=900.0)
    sender = make_sender(bot, sessionmaker, clock, config=config)
    assert sender.concurrency == 64 and sender.max_concurrency == 512
    sender.round_trip = 0.15
    assert sender.slots() == 203  # ceil(900 x 0.15 x 1.5)
    sender.round_trip = 2.0
    assert sender.slots() == 512  # at most 8 x send_concurrency
    sender.round_trip = 0.01
    assert sender.slots() == 64  # never under send_concurrency
    # A drain keeps that many in flight: the round trip held at 150 ms.
    sender._round_trip = lambda seconds: None  # type: ignore[method-assign]
    sender.round_trip = 0.15
    for i in range(260):
        await enqueue(sessionmaker, clock, private(double, 7400 + i), "x")
    peak = 0
    acquire = sender.pacer.acquire
    full = asyncio.Event()

    async def counting(chat_id: int, is_group: bool) -> float:
        # The sends wait until many are in flight (as with a slow Telegram).
        nonlocal peak
        taken = await acquire(chat_id, is_group)
        peak = max(peak, sender.pacer._global.inflight)
        if peak >= 150:
            full.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), 2.0)  # a safety net only
        return taken

    sender.pacer.acquire = counting  # type: ignore[method-assign]
    assert await sender.drain() == 260
    assert 150 <= peak <= 203  # claims of at most 96 rows, up to the 203 slots
    assert len(double.calls_of("sendMessage")) == 260


async def test_retry_after_holds_only_that_chat(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    sender = make_sender(bot, sessionmaker, clock)
    slow, fast1, fast2 = private(double, 7301), private(double, 7302), private(double, 7303)
    double.faults.add("sendMessage", chat_id=slow, error_code=429, retry_after=30)
    await enqueue(sessionmaker, clock, slow, "s1")
    await enqueue(sessionmaker, clock, slow, "s2")
    await enqueue(sessionmaker, clock, fast1, "f1")
    await enqueue(sessionmaker, clock, fast2, "f2")

    assert await sender.drain() == 2
    assert texts(double, fast1) == ["f1"] and texts(double, fast2) == ["f2"]
    assert texts(double, slow) == []  # s2 did not overtake s1
    held = [r for r in await rows(sessionmaker) if r.chat_id == slow]
    assert [r.status for r in held] == ["pending", "pending"]
    assert held[0].not_before == clock.now() + timedelta(seconds=30)
    assert held[0].attempts == 0  # a 429 is not a failed attempt

    clock.advance(timedelta(seconds=29))
    assert await sender.drain() == 0
    clock.advance(timedelta(seconds=2))
    assert await sender.drain() == 2
    assert texts(double, slow) == ["s1", "s2"]


async def test_403_marks_the_person_unreachable(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    chat = private(double, 7401)
    async with sessionmaker.begin() as session:
        person = Person(telegram_user_id=chat, name="张三", created_at=clock.now())
        session.add(person)
        await session.flush()
        person_id = person.id
    double.block_user(chat, notify=False)
    await enqueue(sessionmaker, clock, chat, "hi", person_id=person_id)
    assert await make_sender(bot, sessionmaker, clock).drain() == 0
    (row,) = await rows(sessionmaker)
    assert row.status == DeliveryStatus.FAILED.value
    assert "blocked" in (row.error or "")
    async with sessionmaker() as session:
        found = await session.get(Person, person_id)
        assert found is not None and found.unreachable_since == clock.now()


async def test_400_chat_not_found_fails_without_retry(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    gone = -100777
    double.group(gone, "旧群")
    double.delete_chat(gone)
    await enqueue(sessionmaker, clock, gone, "hi", is_group=True)
    ok = private(double, 7501)
    await enqueue(sessionmaker, clock, ok, "hi")
    assert await make_sender(bot, sessionmaker, clock).drain() == 1
    status = {r.chat_id: (r.status, r.attempts, r.error) for r in await rows(sessionmaker)}
    assert status[gone][0] == DeliveryStatus.FAILED.value
    assert status[gone][1] == 1
    assert "chat not found" in (status[gone][2] or "")
    assert status[ok][0] == DeliveryStatus.SENT.value


async def test_group_migration_is_followed_and_pinned(
    double: BotApiDouble,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    old, new = -4001, -1004001
    double.group(old, "阳光花园业主群", type="group")
    async with sessionmaker.begin() as session:
        session.add(
            GroupChat(
                chat_id=old,
                compound_id=community.compound_ids["阳光花园"],
                title="阳光花园业主群",
                bound_at=clock.now(),
            )
        )
    double.migrate_group(old, new)
    await enqueue(sessionmaker, clock, old, "通知一", is_group=True, pin=True)
    await enqueue(sessionmaker, clock, old, "通知二", is_group=True)

    assert await make_sender(bot, sessionmaker, clock).drain() == 2
    assert texts(double, new) == ["通知一", "通知二"]
    assert all(r.chat_id == new and r.status == "sent" for r in await rows(sessionmaker))
    async with sessionmaker() as session:
        group = await session.scalar(select(GroupChat))
        assert group is not None and group.chat_id == new
    pins = double.calls_of("pinChatMessage")
    assert len(pins) == 1 and pins[0].params["chat_id"] == new


async def test_5xx_is_retried_with_backoff_then_succeeds(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    chat = private(double, 7601)
    double.faults.add("sendMessage", chat_id=chat, error_code=502, times=2)
    await enqueue(sessionmaker, clock, chat, "m")
    sender = make_sender(bot, sessionmaker, clock)
    start = clock.now()
    assert await sender.drain() == 0
    (row,) = await rows(sessionmaker)
    assert (row.status, row.attempts, row.not_before) == (
        "pending",
        1,
        start + timedelta(seconds=1),
    )
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 0
    (row,) = await rows(sessionmaker)
    assert (row.attempts, row.not_before) == (2, clock.now() + timedelta(seconds=2))
    clock.advance(timedelta(seconds=2))
    assert await sender.drain() == 1
    assert texts(double, chat) == ["m"]


async def test_network_errors_give_up_after_max_attempts(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    chat = private(double, 7701)
    double.faults.drop("sendMessage", times=None, chat_id=chat)
    await enqueue(sessionmaker, clock, chat, "m")
    sender = make_sender(bot, sessionmaker, clock, max_attempts=3)
    for _ in range(3):
        assert await sender.drain() == 0
        clock.advance(timedelta(seconds=MAX_WAIT))
    (row,) = await rows(sessionmaker)
    assert (row.status, row.attempts) == ("failed", 3)
    assert await sender.drain() == 0


MAX_WAIT = 301


async def test_two_senders_never_send_a_row_twice(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    chats = [private(double, 7800 + i) for i in range(30)]
    for chat in chats:
        for n in range(2):
            await enqueue(sessionmaker, clock, chat, f"m{n}")
    first = make_sender(bot, sessionmaker, clock, worker_id="one", concurrency=4)
    second = make_sender(bot, sessionmaker, clock, worker_id="two", concurrency=4)
    sent = await asyncio.gather(first.drain(), second.drain())
    assert sum(sent) == 60
    for chat in chats:
        assert texts(double, chat) == ["m0", "m1"]


async def test_crash_between_claim_and_record_is_resumed_without_loss(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A kill -9 after the claim committed: rows sit in 'sending' under a dead worker.
    The next sender re-queues them (rule in bot/sender.py) and sends each exactly once."""
    chats = [private(double, 7900 + i) for i in range(5)]
    for chat in chats:
        await enqueue(sessionmaker, clock, chat, "m")
    async with sessionmaker.begin() as session:
        for row in (await session.scalars(select(Delivery).limit(2))).all():
            row.status = DeliveryStatus.SENDING.value
            row.claimed_by = "dead-process"
            row.claimed_at = clock.now()
            row.attempts = 1
    # Our own fresh claim (a send in flight in this process) is not touched.
    mine = make_sender(bot, sessionmaker, clock, worker_id="alive")
    assert await mine.recover() == 2
    assert {r.status for r in await rows(sessionmaker)} == {"pending"}
    assert await mine.drain() == 5
    for chat in chats:
        assert texts(double, chat) == ["m"]
    assert all(r.attempts == 1 for r in await rows(sessionmaker))


async def test_own_recent_claims_are_left_alone_until_the_lease_expires(
    double: BotApiDouble, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    chat = private(double, 7950)
    await enqueue(sessionmaker, clock, chat, "m")
    async with sessionmaker.begin() as session:
        row = await session.scalar(select(Delivery))
        assert row is not None
        row.status, row.claimed_by, row.claimed_at, row.attempts = "sending", "me", clock.now(), 1
    sender = make_sender(bot, sessionmaker, clock, worker_id="me")
    assert await sender.recover() == 0
    clock.advance(timedelta(minutes=6))
    assert await sender.recover() == 1
    assert await sender.drain() == 1
