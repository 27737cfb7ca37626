"""Benchmark: export a ledger of 100,000 rows; prints time and peak memory.

    python -m bench.ledger                      # SQLite file in a temp folder
    python -m bench.ledger --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m bench.ledger --rows 20000         # smaller

Rows are spread over the four sheets (reports, check-ins, gate entries, cases) on one
local day. The database (schema dropped and re-created: use a scratch database!) is
seeded with bulk inserts, then the export runs on a fresh session. Peak memory is
reported twice: Python allocations during the export (tracemalloc) and the process's
maximum resident set size (ru_maxrss, which includes seeding and imports).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bot.clock import FakeClock
from bot.db.models import (
    Base,
    Case,
    CheckIn,
    Community,
    Compound,
    Gate,
    GateEntry,
    Household,
    Isolation,
    Person,
    Report,
)
from bot.db.session import create_engine, create_sessionmaker
from bot.services import ledger
from bot.services.directory import import_register
from messages import Catalog

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2022, 3, 10)
BATCH = 5000


def _register() -> list[dict[str, str]]:
    return [
        {"compound": "阳光花园", "building": f"{b}栋", "unit": f"{u}单元", "room": f"{f}0{d}",
         "grid": f"第{b}网格"}
        for b in range(1, 11) for u in (1, 2) for f in range(1, 11) for d in (1, 2)
    ]  # fmt: skip


async def _bulk(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        await session.execute(insert(model), rows[i : i + BATCH])


async def seed(url: str, total: int) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    maker = create_sessionmaker(engine)
    clock = FakeClock(datetime(2022, 3, 10, 9, tzinfo=ZONE))
    per = total // 4
    at = datetime(2022, 3, 10, 8, tzinfo=ZONE)
    async with maker.begin() as session:
        result = await import_register(
            session, clock, community_name="Bench", timezone="Asia/Shanghai",
            rows=_register(), admin_telegram_id=1, admin_name="Admin",
        )  # fmt: skip
        cid = result.community.id
        households = list(await session.scalars(select(Household.id)))
        await _bulk(session, Person, [
            {"name": f"居民{i}", "household_id": households[i % len(households)], "created_at": at}
            for i in range(per)
        ])  # fmt: skip
        people = list(
            await session.scalars(select(Person.id).where(Person.telegram_user_id.is_(None)))
        )
        compound_id = await session.scalar(select(Compound.id))
        session.add(Gate(compound_id=compound_id, name="南门", token="benchtoken"))
        await session.flush()
        gate_id = await session.scalar(select(Gate.id))
        await _bulk(session, Report, [
            {"community_id": cid, "kind": "return", "household_id": households[i % len(households)],
             "reporter_id": people[i], "subject_id": people[i], "origin_code": "420100",
             "arrival_date": DAY, "details": {}, "created_at": at + timedelta(seconds=i % 3600)}
            for i in range(per)
        ])  # fmt: skip
        await _bulk(session, Isolation, [
            {"community_id": cid, "person_id": people[i], "start_date": DAY, "end_date": DAY,
             "status": "active", "created_at": at}
            for i in range(per)
        ])  # fmt: skip
        isolations = list(await session.scalars(select(Isolation.id)))
        await _bulk(session, CheckIn, [
            {"isolation_id": iso, "day": DAY, "day_number": 1, "status": "answered",
             "temperature": Decimal("36.5"), "symptoms": [], "answered_by_id": people[i],
             "answered_at": at, "created_at": at}
            for i, iso in enumerate(isolations)
        ])  # fmt: skip
        await _bulk(session, GateEntry, [
            {"compound_id": compound_id, "gate_id": gate_id, "direction": "in" if i % 2 else "out",
             "subject_kind": "resident", "person_id": people[i], "temperature": Decimal("36.4"),
             "recorded_by_id": people[0], "at": at + timedelta(seconds=i % 3600)}
            for i in range(per)
        ])  # fmt: skip
        await _bulk(session, Case, [
            {"community_id": cid, "kind": "gate_fever", "urgent": False, "status": "open",
             "compound_id": compound_id, "household_id": households[i % len(households)],
             "subject_id": people[i], "details": {"summary": "37.6"}, "created_at": at}
            for i in range(per)
        ])  # fmt: skip
    await engine.dispose()


async def export(url: str, trace: bool) -> tuple[float, int, dict[str, int], int, int]:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    clock = FakeClock(datetime(2022, 3, 10, 9, tzinfo=ZONE))
    t = Catalog().translator("zh-CN")
    with tempfile.TemporaryDirectory() as folder:
        async with maker.begin() as session:
            community = await session.scalar(select(Community))
            assert community is not None
            if trace:
                tracemalloc.start()
            started = time.perf_counter()
            files = await ledger.export_ledger(
                session, clock, ledger.LedgerRequest(community, DAY, DAY),
                label=t, directory=Path(folder),
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
            if trace:
                tracemalloc.stop()
            sizes = files.xlsx.stat().st_size, files.csv_zip.stat().st_size
    await engine.dispose()
    return elapsed, peak, files.counts, *sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="time without tracemalloc's overhead"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        started = time.perf_counter()
        asyncio.run(seed(url, args.rows))
        seeded = time.perf_counter() - started
        elapsed, peak, counts, xlsx, zipped = asyncio.run(export(url, not args.no_tracemalloc))
    backend = url.split(":", 1)[0]
    print(f"backend          {backend}")
    print(f"rows             {sum(counts.values()):,} {counts}")
    print(f"seed time        {seeded:.1f} s")
    print(f"export time      {elapsed:.1f} s ({sum(counts.values()) / elapsed:,.0f} rows/s)")
    if not args.no_tracemalloc:
        print(f"peak traced      {peak / 2**20:.1f} MiB (tracemalloc, during the export)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"max RSS          {rss / 1024:.1f} MiB (whole process)")
    print(f"files            xlsx {xlsx / 2**20:.1f} MiB, csv.zip {zipped / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
