"""Every benchmark runs in its --small mode and prints its figures and its reference.
(Timings are not asserted: this machine's load decides them; docs/benchmarks-performance.md
has the full runs.) The four run side by side to keep this test short."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db.session import create_engine
from tests.support.database import PG_ENV

ROOT = Path(__file__).resolve().parent.parent

EXPECTED: dict[str, list[str]] = {
    "broadcast": [
        "best possible",
        "probe (reference)",
        "sender (defaults)",
        "chats blocked the bot",
        "sender ceiling",
        "paid broadcast",
        "duplicates 0, losses 0",
    ],
    "checkins": ["reference (2 set-based SQL statements)", "x the reference", "texts identical"],
    "ledger": ["fetch+format+CSV", "x the reference", "max RSS", "loop stall"],
    "answers": ["reference (bare aiogram)", "of the reference", "p99", "failures 0"],
}


async def _run(name: str) -> tuple[str, int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"bench.{name}",
        "--small",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return name, process.returncode or 0, out.decode()


@pytest.mark.timeout(240)
async def test_every_bench_completes_and_prints_its_figures() -> None:
    results = await asyncio.gather(*(_run(name) for name in EXPECTED))
    for name, code, out in results:
        assert code == 0, f"bench.{name} failed:\n{out}"
        missing = [line for line in EXPECTED[name] if line not in out]
        assert not missing, f"bench.{name} did not print {missing}:\n{out}"


@pytest.mark.timeout(240)
@pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason="bench.city needs PostgreSQL (CG_TEST_DATABASE_URL)"
)
async def test_city_small_prints_the_days_timeline() -> None:
    """bench/city.py --small (1/100 of the city) on a scratch database of its own."""
    admin = create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")
    name = f"cg_city_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(os.environ[PG_ENV]).set(database=name).render_as_string(hide_password=False)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.city", "--small", "--database-url", url,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    output = out.decode()
    assert process.returncode == 0, output
    for line in (
        "10,002 persons",
        "500 isolations",
        "30/30 answered",
        "queued for the day:",
        "checkin_prompt",
        "database size:",
        "timeline at free, 25/s",
        "timeline at paid broadcast, 900/s",
        "dominant step:",
    ):
        assert line in output, f"bench.city did not print {line!r}:\n{output}"
