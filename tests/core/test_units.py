"""Small pieces of the core: the one local-days helper (right across DST), id parsing,
the outbox writer, the inbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock, local_days_utc
from bot.core import inbox
from bot.db.models import Delivery, InboxUpdate
from bot.parsing import ID_MAX, ParseError, parse_id
from bot.services import outbox
from bot.services.public_posts import day_bounds
from bot.services.staffscope import utc_bounds


@pytest.mark.parametrize(
    ("day", "tz", "hours"),
    [
        (date(2022, 3, 10), "Asia/Shanghai", 24),
        (date(2022, 3, 13), "America/New_York", 23),  # clocks go forward
        (date(2022, 11, 6), "America/New_York", 25),  # clocks go back
        (date(2022, 3, 27), "Europe/Berlin", 23),
    ],
)
def test_local_days_utc_is_right_on_dst_days(day: date, tz: str, hours: int) -> None:
    start, end = local_days_utc(day, day, tz)
    assert start.tzinfo is UTC and end - start == timedelta(hours=hours)
    # The old names are the same helper, so they cannot drift apart again.
    assert day_bounds(day, tz) == (start, end) == utc_bounds(day, day, tz)


def test_local_days_utc_of_a_week_in_shanghai() -> None:
    start, end = local_days_utc(date(2022, 3, 1), date(2022, 3, 7), "Asia/Shanghai")
    assert (start, end) == (
        datetime(2022, 2, 28, 16, 0, tzinfo=UTC),
        datetime(2022, 3, 7, 16, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("１２", 12), (str(ID_MAX), ID_MAX)])
def test_parse_id_accepts(text: str, value: int) -> None:
    assert parse_id(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "1" * 30, str(ID_MAX + 1), "12a", ""])
def test_parse_id_refuses(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_id(text)
    assert caught.value.code == "id.invalid"


async def test_enqueue_many_is_the_one_idempotent_writer(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    rows = [
        {"kind": "test", "chat_id": 1, "payload": {"text": "a"}, "dedup_key": "k1"},
        {"kind": "test", "chat_id": 2, "payload": {"text": "b"}, "dedup_key": "k2", "pin": True},
    ]
    async with sessionmaker.begin() as session:
        assert await outbox.enqueue_many(session, clock, [dict(r) for r in rows]) == 2
        assert await outbox.enqueue_many(session, clock, [dict(r) for r in rows]) == 0
        assert not await outbox.enqueue(
            session, clock, kind="test", chat_id=1, payload={}, dedup_key="k1"
        )
        assert await outbox.enqueue(
            session, clock, kind="test", chat_id=3, payload={}, dedup_key="k3"
        )
    async with sessionmaker() as session:
        found = list(await session.scalars(select(Delivery).order_by(Delivery.id)))
    assert [(d.dedup_key, d.chat_id, d.pin, d.status, d.not_before) for d in found] == [
        ("k1", 1, False, "pending", clock.now()),
        ("k2", 2, True, "pending", clock.now()),
        ("k3", 3, False, "pending", clock.now()),
    ]


async def test_inbox_store_mark_pending_purge(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    updates = [
        Update.model_validate(
            {
                "update_id": n,
                "message": {
                    "message_id": n,
                    "date": 0,
                    "chat": {"id": 5, "type": "private"},
                    "text": f"m{n}",
                },
            }
        )
        for n in (7, 8, 9)
    ]
    await inbox.store(sessionmaker, clock, updates)
    await inbox.store(sessionmaker, clock, updates[1:])  # sent again: stored once
    async with sessionmaker.begin() as session:
        await inbox.mark_done(session, clock, 8)
    assert [p["update_id"] for p in await inbox.pending(sessionmaker)] == [7, 9]
    clock.advance(timedelta(hours=23))
    assert await inbox.purge(sessionmaker, clock) == 0
    clock.advance(timedelta(hours=2))
    assert await inbox.purge(sessionmaker, clock) == 1
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(InboxUpdate)) == 2
