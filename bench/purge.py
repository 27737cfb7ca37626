"""Does the bot keep answering while the retention purge removes 1,000,000 rows?

Seeds one community with N expired personal-data rows (gate passages 40 %, reports 20 %,
released isolations 5 % with six check-ins each 30 %, screening visits 5 %), all older
than the retention period, then runs the real purge (`bot.services.retention.purge`)
while three probes run in the same event loop, as the bot's handlers would:

- loop stall: a task sleeping 10 ms measures how late it wakes (the event loop is busy);
- bot write: every 20 ms a short transaction like a handler's (insert a report, then
  update a person of the same community) is timed, so a lock the purge holds shows up;
- write lock: each purge batch is one transaction; its duration is the longest time
  the purge holds row locks (reported by the purge's batch hook).

Prints the figures; not a test.

    python -m bench.purge            # PostgreSQL scratch db cg_bench_purge, 1,000,000 rows
    python -m bench.purge --small    # 20,000 rows
    python -m bench.purge --database-url sqlite+aiosqlite:///data/bench-purge.db --small

The PostgreSQL database named in the URL is dropped and created again: point it at a
scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time as timer
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

from bench._common import admin_engine
from bot.clock import FakeClock
from bot.db.migrate import upgrade
from bot.db.models import (
    Building,
    CheckIn,
    Community,
    Compound,
    GateEntry,
    Household,
    Isolation,
    Person,
    Report,
    ScreeningVisit,
    Unit,
)
from bot.db.session import create_engine, create_sessionmaker
from bot.services import retention
from bot.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/cg_bench_purge"
CHUNK = 10_000


async def recreate_pg(url: str) -> None:
    parsed = make_url(url)
    admin = admin_engine(url)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()


async def seed(url: str, rows: int, now: datetime) -> dict[str, int]:
    """Expired rows in the proportions above; returns the id of a live person."""
    engine = create_engine(url)
    await upgrade(engine)
    old = now - timedelta(days=400)
    old_day = old.date()
    sm = create_sessionmaker(engine)
    async with sm.begin() as session:
        community = Community(name="基准社区", timezone="Asia/Shanghai", created_at=now)
        session.add(community)
        await session.flush()
        compound = Compound(community_id=community.id, name="基准小区")
        session.add(compound)
        await session.flush()
        building = Building(compound_id=compound.id, name="1栋")
        session.add(building)
        await session.flush()
        unit = Unit(building_id=building.id, name="1单元")
        session.add(unit)
        await session.flush()
        household = Household(unit_id=unit.id, room="101")
        session.add(household)
        await session.flush()
        person = Person(name="在住居民", household_id=household.id, created_at=now)
        session.add(person)
        await session.flush()
        ids = {"community": community.id, "compound": compound.id,
               "household": household.id, "person": person.id}  # fmt: skip
    n_gate, n_reports = rows * 40 // 100, rows * 20 // 100
    n_iso = rows * 5 // 100
    n_screen = rows - n_gate - n_reports - n_iso * 7
    async with engine.begin() as conn:

        async def bulk(model: Any, make: Any, count: int) -> None:
            for start in range(0, count, CHUNK):
                await conn.execute(
                    insert(model), [make(i) for i in range(start, min(count, start + CHUNK))]
                )

        await bulk(GateEntry, lambda i: {
            "compound_id": ids["compound"], "direction": "in", "subject_kind": "visitor",
            "name": f"访客{i}", "origin_code": "110000", "self_recorded": False,
            "at": old + timedelta(seconds=i)}, n_gate)  # fmt: skip
        await bulk(Report, lambda i: {
            "community_id": ids["community"], "kind": "return", "household_id": ids["household"],
            "anonymous": False, "details": {"note": f"报备{i}"},
            "created_at": old + timedelta(seconds=i)}, n_reports)  # fmt: skip
        first_iso = await conn.scalar(select(func.coalesce(func.max(Isolation.id), 0))) or 0
        await bulk(Isolation, lambda i: {
            "community_id": ids["community"], "person_id": ids["person"],
            "start_date": old_day, "end_date": old_day + timedelta(days=5),
            "status": "released", "ended_at": old + timedelta(days=6),
            "created_at": old}, n_iso)  # fmt: skip
        await bulk(CheckIn, lambda i: {
            "isolation_id": first_iso + 1 + i // 6, "day": old_day + timedelta(days=i % 6),
            "day_number": i % 6 + 1, "status": "answered", "temperature": 36.5,
            "symptoms": [], "reminders_sent": 0, "created_at": old}, n_iso * 6)  # fmt: skip
        await bulk(ScreeningVisit, lambda i: {
            "household_id": ids["household"], "outcome": "done", "fever_found": False,
            "self_reported": False, "at": old + timedelta(seconds=i)}, n_screen)  # fmt: skip
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("VACUUM ANALYZE"))
    await engine.dispose()
    return ids


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, rows: int, batch: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    if url.startswith("postgresql"):
        await recreate_pg(url)
    started = timer.perf_counter()
    ids = await seed(url, rows, now)
    where = url.split("@")[-1]
    print(f"seeded {rows:,} expired rows in {timer.perf_counter() - started:.1f} s ({where})")

    engine = create_engine(url, pool_size=5) if url.startswith("postgresql") else create_engine(url)
    sm = create_sessionmaker(engine)
    settings = Settings(_env_file=None, database_url=url, purge_batch_size=batch)  # type: ignore[call-arg]
    clock = FakeClock(now)
    stalls: list[float] = []
    writes: list[float] = []
    batches: list[tuple[str, float]] = []
    done = asyncio.Event()

    async def loop_probe() -> None:
        while not done.is_set():
            before = timer.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(timer.perf_counter() - before - 0.01)

    async def write_probe() -> None:
        n = 0
        while not done.is_set():
            before = timer.perf_counter()
            async with sm.begin() as session:
                session.add(Report(community_id=ids["community"], kind="symptom",
                                   household_id=ids["household"], details={"probe": n},
                                   created_at=now))  # fmt: skip
                await session.execute(
                    update(Person).where(Person.id == ids["person"]).values(updated_at=now)
                )
            writes.append(timer.perf_counter() - before)
            n += 1
            await asyncio.sleep(0.02)

    probes = [asyncio.create_task(loop_probe()), asyncio.create_task(write_probe())]
    started = timer.perf_counter()
    result = await retention.purge(
        sm, clock, settings, on_batch=lambda c, _n, seconds: batches.append((c, seconds))
    )
    elapsed = timer.perf_counter() - started
    done.set()
    await asyncio.gather(*probes)
    await engine.dispose()

    ms = 1000
    print(
        f"purged {result.total:,} rows in {elapsed:.1f} s "
        f"({result.total / elapsed:,.0f} rows/s), {result.batches} batches of <= {batch}"
    )
    print("  " + ", ".join(f"{k} {v:,}" for k, v in result.counts.items() if v))
    durations = [seconds for _, seconds in batches]
    slowest = max(batches, key=lambda b: b[1])
    print(
        f"longest write transaction (lock held) : {slowest[1] * ms:.0f} ms ({slowest[0]}; "
        f"p99 {pct(durations, 0.99) * ms:.0f} ms, "
        f"median {statistics.median(durations) * ms:.0f} ms)"
    )
    for category in dict.fromkeys(c for c, _ in batches):
        mine = [seconds for c, seconds in batches if c == category]
        print(f"  {category}: {len(mine)} batches, longest {max(mine) * ms:.0f} ms")
    print(
        f"event-loop stall                      : max {max(stalls) * ms:.0f} ms, "
        f"p99 {pct(stalls, 0.99) * ms:.1f} ms over {len(stalls):,} samples"
    )
    print(
        f"bot write during the purge            : max {max(writes) * ms:.0f} ms, "
        f"p99 {pct(writes, 0.99) * ms:.0f} ms, median {statistics.median(writes) * ms:.1f} ms "
        f"over {len(writes):,} transactions"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", action="store_true", help="20,000 rows")
    parser.add_argument("--batch", type=int, default=1000, help="PURGE_BATCH_SIZE")
    args = parser.parse_args()
    rows = 20_000 if args.small else args.rows
    url = args.database_url or DEFAULT_PG
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'purge.db'}"
    asyncio.run(run(url, rows, args.batch))


if __name__ == "__main__":
    main()
