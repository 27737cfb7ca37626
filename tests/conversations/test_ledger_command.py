"""/ledger over HTTP: an officer receives the XLSX and the CSV zip; others are refused."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.double import BotApiDouble
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import seed_ledger_rows


async def test_officer_gets_xlsx_and_csv(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker.begin() as session:
        await seed_ledger_rows(
            session,
            community_id=community.community_id,
            compound_id=community.compound_ids["阳光花园"],
            household_id=community.household("阳光花园/1栋/1单元/101"),
            at=datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI),
            day=date(2022, 3, 10),
            officer_id=None,
        )
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send("/ledger today 阳光花园")
    docs = [m for m in replies if m.document is not None]
    assert len(docs) == 2, texts(replies)
    assert "1 report," in (docs[0].caption or "") and "阳光花园" in (docs[0].caption or "")
    xlsx = double.file(docs[0].document["file_id"]).content  # type: ignore[index]
    book = load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == [
        "Reports",
        "Isolations & check-ins",
        "Gate entries",
        "Cases",
        "Building statuses",
        "Supplies and medicine",
        "Care list",
        "Testing rounds",
        "Door screening",
    ]
    zipped = double.file(docs[1].document["file_id"]).content  # type: ignore[index]
    assert docs[1].document["file_name"].endswith(".csv.zip")  # type: ignore[index]
    assert len(zipfile.ZipFile(io.BytesIO(zipped)).namelist()) == 9

    replies = await officer.send("/ledger 2099-01-01")
    assert "future" in texts(replies)
    replies = await officer.send("/ledger 不存在小区")
    assert "不存在小区" in texts(replies) and not any(m.document for m in replies)


async def test_resident_and_guard_are_refused(
    running_bot: RunningBot, double: BotApiDouble, resident: ChatUser, community: SeededCommunity
) -> None:
    replies = await resident.send("/ledger")
    assert "权限" in texts(replies) and not any(m.document for m in replies)
    guard = ChatUser(double, double.user(9004, "张门卫", language_code="en"))
    replies = await guard.send("/ledger")
    assert "permission" in texts(replies)
