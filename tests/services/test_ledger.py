"""The ledger export (R-LED): XLSX headers, frozen pane, filter, rows; CSV contents."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Community, Compound, Person
from bot.parsing import ParseError
from bot.services import ledger, staffscope
from bot.services.errors import DomainError
from messages import Catalog
from tests.conftest import SHANGHAI
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import seed_ledger_rows

ROOM = "阳光花园/1栋/1单元/101"


async def _seed(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> dict[str, int]:
    async with sessionmaker.begin() as session:
        officer = await session.scalar(select(Person).where(Person.telegram_user_id == OFFICER_ID))
        assert officer is not None
        ids = await seed_ledger_rows(
            session,
            community_id=community.community_id,
            compound_id=community.compound_ids["阳光花园"],
            household_id=community.household(ROOM),
            # 00:30 local on 3/10 is 3/9 in UTC: the ledger must use the local day.
            at=datetime(2022, 3, 10, 0, 30, tzinfo=SHANGHAI),
            day=date(2022, 3, 10),
            officer_id=officer.id,
        )
        # A row of the previous local day (23:50 on 3/9) stays out of the 3/10 ledger.
        await seed_ledger_rows(
            session,
            community_id=community.community_id,
            compound_id=community.compound_ids["幸福里"],
            household_id=community.household("幸福里/A座/1单元/101"),
            at=datetime(2022, 3, 9, 23, 50, tzinfo=SHANGHAI),
            day=date(2022, 3, 9),
            officer_id=None,
        )
    return ids


async def _export(
    session: AsyncSession,
    clock: FakeClock,
    catalog: Catalog,
    tmp_path: Path,
    community: SeededCommunity,
    locale: str,
    first: date,
    last: date,
    compound: str | None = None,
) -> ledger.LedgerFiles:
    row = await session.get(Community, community.community_id)
    assert row is not None
    comp = await session.get(Compound, community.compound_ids[compound]) if compound else None
    return await ledger.export_ledger(
        session,
        clock,
        ledger.LedgerRequest(row, first, last, comp),
        label=catalog.translator(locale),
        directory=tmp_path,
    )


async def test_xlsx_has_headers_frozen_pane_filter_and_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
    tmp_path: Path,
) -> None:
    ids = await _seed(sessionmaker, community)
    day = date(2022, 3, 10)
    async with sessionmaker.begin() as session:
        files = await _export(session, clock, catalog, tmp_path, community, "zh-CN", day, day)
    assert files.counts == {"reports": 1, "checkins": 1, "gate_entries": 1, "cases": 1}
    book = load_workbook(files.xlsx)
    assert book.sheetnames == ["报备", "隔离与打卡", "门岗登记", "事件"]
    reports = book["报备"]
    assert reports.freeze_panes == "A2"
    assert reports.auto_filter.ref == "A1:J2"
    header = [c.value for c in reports[1]]
    assert header[0] == "编号" and header[-1] == "录入人"
    assert reports.column_dimensions["E"].width == 22
    values = [c.value for c in reports[2]]
    assert values[0] == ids["report"]
    assert values[1] == "2022-03-10 00:30"
    assert values[2] == "返乡" and values[3] == "阳光花园" and values[4] == "1栋 1单元 101"
    # Names are data, never markup: kept verbatim.
    assert values[5] == "张<b>三</b>" and values[-1] == "张<b>三</b>"
    # Values in the reader's language: the place's name, not its code; 高, not "high".
    assert values[6:9] == ["湖北省武汉市", "2022-03-10", "高"]
    assert header[6] == "来源地"
    checkins = [c.value for c in book["隔离与打卡"][2]]
    assert checkins[6] == "2022-03-10" and checkins[8] == "已打卡" and checkins[9] == 36.6
    gate = [c.value for c in book["门岗登记"][2]]
    assert gate[3] == "南门" and gate[4] == "进" and gate[5] == "访客" and gate[-1] == "王干事"
    cases = [c.value for c in book["事件"][2]]
    assert cases[0] == ids["case"] and cases[3] == "✔" and cases[8] == "38.5 °C"
    assert book["事件"].max_row == 2
    async with sessionmaker() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "ledger.export"))
        assert entry is not None and entry.details["rows"]["reports"] == 1


async def test_csv_zip_and_english_headers_and_compound_filter(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
    tmp_path: Path,
) -> None:
    await _seed(sessionmaker, community)
    (tmp_path / "only").mkdir()
    async with sessionmaker.begin() as session:
        files = await _export(
            session, clock, catalog, tmp_path, community, "en",
            date(2022, 3, 9), date(2022, 3, 10),
        )  # fmt: skip
        only = await _export(
            session, clock, catalog, tmp_path / "only",
            community, "en", date(2022, 3, 9), date(2022, 3, 10), "幸福里",
        )  # fmt: skip
    assert files.counts["reports"] == 2 and only.counts["reports"] == 1
    assert only.counts == {"reports": 1, "checkins": 1, "gate_entries": 1, "cases": 1}
    with zipfile.ZipFile(files.csv_zip) as archive:
        names = archive.namelist()
        assert names == [f"ledger-2022-03-09--2022-03-10-{s}.csv" for s in ledger.SHEETS]
        raw = archive.read(names[2])
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens UTF-8 correctly
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:6] == ["No.", "Time", "Compound", "Gate", "Direction", "Who"]
    assert [r[2] for r in rows[1:]] == ["幸福里", "阳光花园"]
    assert rows[1][-1] == "(system)" and rows[2][-1] == "王干事"
    book = load_workbook(only.xlsx)
    assert book.sheetnames[0] == "Reports"
    assert [c.value for c in book["Reports"][2]][3] == "幸福里"


def test_day_range_parsing() -> None:
    clock = FakeClock(datetime(2022, 3, 10, 9, 0, tzinfo=SHANGHAI))
    tz = "Asia/Shanghai"
    today = date(2022, 3, 10)
    assert staffscope.split_range_and_name("", clock, tz) == (today, today, "")
    assert staffscope.split_range_and_name("3/1..3/9 阳光花园", clock, tz) == (
        date(2022, 3, 1), date(2022, 3, 9), "阳光花园",
    )  # fmt: skip
    assert (
        staffscope.split_range_and_name("昨天", clock, tz)[:2] == (today - timedelta(days=1),) * 2
    )
    assert staffscope.split_range_and_name("幸福里", clock, tz) == (today, today, "幸福里")
    with pytest.raises(ParseError) as exc:
        staffscope.split_range_and_name("3/11", clock, tz)
    assert exc.value.code == "date.future"
    with pytest.raises(DomainError):
        staffscope.split_range_and_name("2021-01-01..2022-03-01", clock, tz)
