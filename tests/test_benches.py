"""Every benchmark runs in its --small mode and prints its figures and its reference.
(Timings are not asserted: this machine's load decides them; docs/benchmarks-performance.md
has the full runs.) The four run side by side to keep this test short."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

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
