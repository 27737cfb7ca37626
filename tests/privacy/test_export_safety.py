"""Ledger exports never produce formulas (issue 11): a resident's name and a visitor's
name that a spreadsheet would run are written as text (XLSX) and prefixed (CSV)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Community, GateEntry, Person
from bot.services import ledger
from bot.services.export_safety import csv_rows, csv_value, is_dangerous, xlsx_value
from messages import Catalog
from tests.conftest import SHANGHAI
from tests.support.community import SeededCommunity
from tests.support.ledger_rows import seed_ledger_rows

NAME = '=HYPERLINK("http://ev.il/","x")'
VISITOR = "+cmd|' /C calc'!A0"


def test_every_dangerous_start_is_caught() -> None:
    for first in ("=", "+", "-", "@", "\t", "\r"):
        assert is_dangerous(first + "1+1")
        assert csv_value(first + "1+1") == "'" + first + "1+1"
        assert xlsx_value(first + "x") == (first + "x", True)
    for safe in ("张三", "36.6", "", "a=b"):
        assert not is_dangerous(safe) and csv_value(safe) == safe
    assert csv_value(36.6) == 36.6 and csv_value(-3) == -3  # numbers are numbers


def test_csv_rows_is_csv_value_over_every_cell() -> None:
    rows = [["=1+1", "张三", 36.6, None, "", "-5"], ["@x", "\tkept", -3, "a=b", "+7", "\rr"]]
    assert csv_rows(rows) == [[csv_value(v) for v in row] for row in rows]
    assert csv_rows(rows) == [
        ["'=1+1", "张三", 36.6, None, "", "'-5"],
        ["'@x", "'\tkept", -3, "a=b", "'+7", "'\rr"],
    ]


async def test_ledger_writes_formula_like_names_as_text(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
    tmp_path: Path,
) -> None:
    day = date(2022, 3, 10)
    async with sessionmaker.begin() as session:
        ids = await seed_ledger_rows(
            session,
            community_id=community.community_id,
            compound_id=community.compound_ids["阳光花园"],
            household_id=community.household("阳光花园/1栋/1单元/101"),
            at=datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI),
            day=day,
            officer_id=None,
        )
        await session.execute(update(Person).where(Person.id == ids["person"]).values(name=NAME))
        await session.execute(update(GateEntry).values(name=VISITOR))
    async with sessionmaker.begin() as session:
        row = await session.get(Community, community.community_id)
        assert row is not None
        files = await ledger.export_ledger(
            session, clock, ledger.LedgerRequest(row, day, day),
            label=catalog.translator("en"), directory=tmp_path,
        )  # fmt: skip
    book = load_workbook(files.xlsx)
    reports = book["Reports"]
    subject = reports.cell(row=2, column=6)
    assert subject.value == NAME and subject.data_type == "s"
    gate = book["Gate register"] if "Gate register" in book.sheetnames else book.worksheets[2]
    visitor = gate.cell(row=2, column=7)
    assert visitor.value == VISITOR and visitor.data_type == "s"
    for sheet in book.worksheets:
        for line in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in line)
    with zipfile.ZipFile(files.csv_zip) as archive:
        names = archive.namelist()
        reports_csv = list(csv.reader(io.StringIO(archive.read(names[0]).decode("utf-8-sig"))))
        gate_csv = list(csv.reader(io.StringIO(archive.read(names[2]).decode("utf-8-sig"))))
    assert reports_csv[1][5] == "'" + NAME
    assert gate_csv[1][6] == "'" + VISITOR
