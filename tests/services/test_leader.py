"""Leader election: one scheduler+sender at a time; a follower takes over when the
leader's PostgreSQL session dies. SQLite is always the (single) leader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.session import create_engine
from bot.leader import LeaderElection, lead


@pytest.fixture
async def other_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def needs_postgres(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (SQLite is always the leader)")


async def wait_until(condition: object, attempts: int = 200) -> None:
    for _ in range(attempts):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_sqlite_process_is_always_the_leader(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    election = LeaderElection(engine)
    assert await election.try_acquire()
    assert await election.still_held()


async def test_only_one_leader_and_a_follower_takes_over(
    engine: AsyncEngine, other_engine: AsyncEngine
) -> None:
    needs_postgres(engine)
    first, second = LeaderElection(engine), LeaderElection(other_engine)
    assert await first.try_acquire()
    assert not await second.try_acquire()
    assert await first.try_acquire()  # idempotent for the holder
    # The leader dies: its session ends (connection closed for good).
    assert first.connection is not None
    await first.connection.invalidate()
    assert not await first.still_held()
    assert await second.try_acquire()
    assert not await first.try_acquire()
    await second.release()
    assert await first.try_acquire()
    await first.release()


async def test_lead_runs_workers_only_while_leading(
    engine: AsyncEngine, other_engine: AsyncEngine
) -> None:
    needs_postgres(engine)
    running: dict[str, bool] = {"a": False, "b": False}
    stops: list[str] = []  # whose workers were stopped, in order

    def factory(name: str):  # type: ignore[no-untyped-def]
        def workers(stop: asyncio.Event) -> list[object]:
            async def work() -> None:
                running[name] = True
                try:
                    await stop.wait()
                finally:
                    running[name] = False
                    stops.append(name)

            return [work()]

        return workers

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a, b = LeaderElection(engine), LeaderElection(other_engine)
    task_a = asyncio.create_task(
        lead(a, stop_a, factory("a"), retry_seconds=0.02, check_seconds=0.02)
    )
    await wait_until(lambda: running["a"])
    task_b = asyncio.create_task(
        lead(b, stop_b, factory("b"), retry_seconds=0.02, check_seconds=0.02)
    )
    for _ in range(10):
        await asyncio.sleep(0.02)
        assert not running["b"]
    # Kill the leader's session: it steps down and the follower takes over.
    assert a.connection is not None
    await a.connection.invalidate()
    # The leader stops its workers on its own. It may win the lock straight back (its
    # retry races the follower's), so it is then stopped, and the follower takes over.
    await wait_until(lambda: "a" in stops)
    assert not running["b"] or not running["a"]
    stop_a.set()
    await task_a
    await wait_until(lambda: running["b"] and not running["a"])
    stop_b.set()
    await asyncio.gather(task_a, task_b)
    assert not running["a"] and not running["b"]
