"""Pooled PostgreSQL connections: no ping per checkout; an idle one is pinged and, when
dead, replaced by the pool."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.db.session import IDLE_PING_SECONDS, create_engine

URL = os.environ.get("CG_TEST_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not URL.startswith("postgresql"), reason="the pool's ping is PostgreSQL's"
)


async def test_idle_connection_killed_by_the_server_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(URL, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = engine.sync_engine.dialect.do_ping

    def counting_ping(dbapi: object) -> bool:
        pings.append(dbapi)
        return bool(real_ping(dbapi))

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counting_ping)
    try:
        async with engine.connect() as conn:
            first_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first_pid
        assert pings == []  # busy connections are not pinged

        def long_idle(_dbapi: object, record: Any) -> None:
            record.info["idle_since"] = time.monotonic() - 2 * IDLE_PING_SECONDS

        event.listen(engine.sync_engine, "checkin", long_idle)
        async with engine.connect() as conn:
            pass  # checked in again: now it looks long idle
        # The server drops the connection while it sits idle in the pool.
        killer = create_engine(URL)
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        await killer.dispose()
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != first_pid
        assert len(pings) == 1
    finally:
        await engine.dispose()
