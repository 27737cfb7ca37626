"""The ledger export lets the event loop answer residents meanwhile (R-LED, issue 13):
rows are fetched and written chunk by chunk, and between two chunks the loop runs other
tasks. A ticker task on the loop marks each turn it gets; the export's label for a
self-recorded gate entry (called once per such row while formatting) marks each row; no
more than one chunk of rows may pass without a tick."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Community, Gate, GateEntry, Person
from bot.services import ledger
from messages import Catalog
from tests.conftest import SHANGHAI
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import seed_ledger_rows

ROOM = "阳光花园/1栋/1单元/101"
DAY = date(2022, 3, 10)
ENTRIES = 4 * ledger.CHUNK + 7


async def _seed(sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity) -> None:
    at = datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI)
    async with sessionmaker.begin() as session:
        officer = await session.scalar(select(Person).where(Person.telegram_user_id == OFFICER_ID))
        assert officer is not None
        compound = community.compound_ids["阳光花园"]
        ids = await seed_ledger_rows(
            session, community_id=community.community_id, compound_id=compound,
            household_id=community.household(ROOM), at=at, day=DAY, officer_id=officer.id,
        )  # fmt: skip
        gate = await session.get(Gate, ids["gate"])
        assert gate is not None
        await session.execute(
            insert(GateEntry),
            [
                {"compound_id": compound, "gate_id": gate.id, "direction": "in",
                 "subject_kind": "resident", "person_id": ids["person"],
                 "recorded_by_id": ids["person"], "self_recorded": True, "at": at}
                for _ in range(ENTRIES)
            ],
        )  # fmt: skip


async def test_the_export_yields_to_the_event_loop_between_chunks(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
    tmp_path: Path,
) -> None:
    await _seed(sessionmaker, community)
    events: list[str] = []  # appended from the loop and from the writer's thread
    translate = catalog.translator("zh-CN")

    def label(key: str, **params: Any) -> str:
        if key == "ledger.self_recorded":  # once per self-recorded gate entry
            events.append("row")
        return translate(key, **params)

    async def ticker() -> None:
        while True:
            events.append("tick")
            await asyncio.sleep(0)  # one turn of the loop, no time passes

    ticks = asyncio.create_task(ticker())
    try:
        async with sessionmaker.begin() as session:
            row = await session.get(Community, community.community_id)
            assert row is not None
            files = await ledger.export_ledger(
                session, clock, ledger.LedgerRequest(row, DAY, DAY), label=label,
                directory=tmp_path,
            )  # fmt: skip
    finally:
        ticks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticks
    assert files.counts["gate_entries"] == ENTRIES + 1  # and seed_ledger_rows' own
    runs = "".join("r" if e == "row" else "|" for e in events).split("|")
    rows_between_ticks = [len(run) for run in runs if run]
    assert sum(rows_between_ticks) == ENTRIES
    assert max(rows_between_ticks) <= ledger.CHUNK
    # Written one chunk behind the fetch: every row once, in the query's order, in both files.
    with zipfile.ZipFile(files.csv_zip) as archive:
        name = next(n for n in archive.namelist() if n.endswith("-gate_entries.csv"))
        csv_ids = [r[0] for r in csv.reader(io.TextIOWrapper(archive.open(name), "utf-8-sig"))]
    sheet = load_workbook(files.xlsx, read_only=True).worksheets[
        ledger.SHEETS.index("gate_entries")
    ]
    xlsx_ids = [str(r[0]) for r in sheet.iter_rows(min_row=2, values_only=True)]
    async with sessionmaker() as session:
        ids = [
            str(i)
            for i in await session.scalars(
                select(GateEntry.id).order_by(GateEntry.at, GateEntry.id)
            )
        ]
    assert len(ids) == ENTRIES + 1
    assert csv_ids[1:] == xlsx_ids == ids
