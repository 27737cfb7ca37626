"""Benchmark: export a ledger of 100,000 rows (XLSX + CSV) against its reference.

    python -m bench.ledger                      # SQLite file in a temp folder
    python -m bench.ledger --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m bench.ledger --small              # 2,000 rows (CI smoke run)
    python -m bench.ledger --repeat 3           # 3 pairs: best times, worst stall

Rows are spread over the four sheets (reports, check-ins, gate entries, cases) on one
local day. The database (schema dropped and re-created: use a scratch database!) is
seeded with bulk inserts. Then two phases run, each in a fresh process (so the maximum
resident set size is the phase's own): the reference (the same queries and row
formatting, written to CSV only) and the real export. Each reports its time, its peak
RSS, the worst event-loop stall seen by the loop-lag probe and the longest pass of the
cyclic garbage collector meanwhile (gc.callbacks: which pass, if any, made the stall).
Before timing, each phase settles its heap as the bot does once started
(bot.app.settle_heap), so the bench measures the app as it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bench._common import ensure_database
from bench.lag import LoopLag
from bot.app import settle_heap
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
from bot.services.staffscope import utc_bounds
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


async def export(url: str, phase: str) -> dict[str, Any]:
    """One timed phase in this (fresh) process: the real export, or the reference
    (the same queries and formatting, CSV only)."""
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    clock = FakeClock(datetime(2022, 3, 10, 9, tzinfo=ZONE))
    t = Catalog().translator("zh-CN")
    figures: dict[str, Any] = {}
    passes = GcPasses()
    with tempfile.TemporaryDirectory() as folder:
        async with maker.begin() as session:
            community = await session.scalar(select(Community))
            assert community is not None
            req = ledger.LedgerRequest(community, DAY, DAY)
            settle_heap()  # as the bot does once started (bot/app.py)
            async with LoopLag() as lag, passes:
                started = time.perf_counter()
                if phase == "export":
                    files = await ledger.export_ledger(
                        session, clock, req, label=t, directory=Path(folder)
                    )
                    counts = files.counts
                    figures["xlsx_mib"] = files.xlsx.stat().st_size / 2**20
                    figures["zip_mib"] = files.csv_zip.stat().st_size / 2**20
                else:
                    counts = await reference(session, req, t, Path(folder) / "ref.csv.zip")
                figures["seconds"] = time.perf_counter() - started
            figures["stall"] = lag.worst
            figures["stall_cpu"] = lag.worst_cpu
    figures["gc_ms"], figures["gc_generation"] = passes.longest * 1000, passes.generation
    await engine.dispose()
    figures["rows"] = sum(counts.values())
    figures["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


class GcPasses:
    """The longest pass of the cyclic garbage collector while in this context, and its
    generation (a full pass, generation 2, walks every object the process holds)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.generation = -1
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        if took > self.longest:
            self.longest, self.generation = took, info["generation"]

    async def __aenter__(self) -> GcPasses:
        gc.callbacks.append(self._callback)
        return self

    async def __aexit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


async def reference(session: Any, req: Any, label: Any, path: Path) -> dict[str, int]:
    """Fetch + format + CSV: the floor any ledger export pays."""
    fmt = ledger._Rows(req.community.timezone, label)
    start, end = utc_bounds(req.first, req.last, req.community.timezone)
    counts: dict[str, int] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for sheet in ledger.SHEETS:
            row_of = ledger._row_formatter(sheet, fmt)
            with archive.open(f"{sheet}.csv", "w") as raw:
                out = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                writer = csv.writer(out)
                stmt = ledger._query(sheet, req, start, end)
                result = await session.stream(stmt.execution_options(yield_per=ledger.CHUNK))
                count = 0
                async for partition in result.partitions(ledger.CHUNK):
                    writer.writerows([row_of(row) for row in partition])
                    count += len(partition)
                out.flush()
                out.detach()
            counts[sheet] = count
    return counts


def run_phase(url: str, phase: str) -> dict[str, Any]:
    """Each phase in its own process, so its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.ledger", "--phase", phase, "--database-url", url],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", action="store_true", help="2,000 rows (CI smoke run)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs of phases: best times, worst stalls"
    )
    parser.add_argument("--phase", choices=["export", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(asyncio.run(export(args.database_url, args.phase))))
        return
    if args.small:
        args.rows = 2000
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        started = time.perf_counter()
        asyncio.run(ensure_database(url))
        asyncio.run(seed(url, args.rows))
        seeded = time.perf_counter() - started
        refs: list[dict[str, Any]] = []
        outs: list[dict[str, Any]] = []
        for n in range(max(1, args.repeat)):
            for phase in ("reference", "export") if n % 2 == 0 else ("export", "reference"):
                (refs if phase == "reference" else outs).append(run_phase(url, phase))
    backend = url.split(":", 1)[0]
    ref, out = _summary(refs), _summary(outs)
    print(f"backend            {backend}, {out['rows']:,} rows (seeded in {seeded:.1f} s)")
    if len(outs) > 1:
        print(f"repeats            {len(outs)} pairs: best time, worst stall and RSS of each")
    print(
        f"reference          fetch+format+CSV {ref['seconds']:.2f} s, "
        f"max RSS {ref['rss_mib']:.0f} MiB, loop stall {_stall(ref)}"
    )
    print(
        f"ledger XLSX+CSV    {out['seconds']:.2f} s = {out['seconds'] / ref['seconds']:.2f} x "
        f"the reference (goal <= 2), max RSS {out['rss_mib']:.0f} MiB (goal <= 200), "
        f"loop stall {_stall(out, 'goal <= 100 ms; ')}"
    )
    print(f"files              xlsx {out['xlsx_mib']:.1f} MiB, csv.zip {out['zip_mib']:.1f} MiB")


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best time; worst stall, RSS and garbage-collector pass over the runs."""
    worst = max(runs, key=lambda r: r["stall"])
    longest = max(runs, key=lambda r: r["gc_ms"])
    return {
        **runs[0],
        "seconds": min(r["seconds"] for r in runs),
        "rss_mib": max(r["rss_mib"] for r in runs),
        "stall": worst["stall"],
        "stall_cpu": worst["stall_cpu"],
        "gc_ms": longest["gc_ms"],
        "gc_generation": longest["gc_generation"],
    }


def _stall(figures: dict[str, Any], goal: str = "") -> str:
    return (
        f"{figures['stall'] * 1000:.0f} ms ({goal}the loop thread's own CPU "
        f"{figures['stall_cpu'] * 1000:.0f} ms; longest garbage-collector pass "
        f"{figures['gc_ms']:.0f} ms, generation {figures['gc_generation']})"
    )


if __name__ == "__main__":
    main()
