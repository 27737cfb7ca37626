"""Two Applications on one PostgreSQL database: one leads (tick + sender); when its
lock session dies, the other takes over and sends what is queued."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import Application
from bot.clock import FakeClock
from bot.double import BotApiDouble
from bot.services import outbox
from messages import Catalog
from tests.support.chat import settings_for as make_settings


async def test_second_application_takes_over(
    double: BotApiDouble, database_url: str, clock: FakeClock, catalog: Catalog
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leader election needs PostgreSQL (SQLite is single-process)")
    # Two applications share one event loop here: a slow first tick can stall both for
    # seconds, which the lock session's idle timeout would rightly treat as a dead leader.
    settings = make_settings(double, database_url, leader_session_timeout=0)
    first = await Application.create(settings, clock, migrate=False, catalog=catalog)
    second = await Application.create(settings, clock, migrate=False, catalog=catalog)
    try:
        first.start_workers(retry_seconds=0.05, check_seconds=0.05)
        for _ in range(200):
            if first.election is not None and first.election.is_leader:
                break
            await asyncio.sleep(0.02)
        assert first.election.is_leader
        second.start_workers(retry_seconds=0.05, check_seconds=0.05)
        await asyncio.sleep(0.2)
        assert not second.election.is_leader

        await first.election.connection.invalidate()  # the leader's session dies
        for _ in range(200):
            if second.election.is_leader:
                break
            await asyncio.sleep(0.02)
        assert second.election.is_leader

        user = double.user(5601, "Li")
        double.private_chat(user)
        double.started.add(user.id)
        async with second.sessionmaker.begin() as session:
            await outbox.enqueue(
                session,
                clock,
                kind="test",
                chat_id=user.id,
                dedup_key="takeover",
                payload=outbox.message_payload("after takeover"),
            )
        await double.wait_for(lambda c: c.method == "sendMessage", since=0, timeout=10)
        assert [m.text for m in double.messages(user.id)] == ["after takeover"]
    finally:
        await first.close()
        await second.close()
