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


async def test_a_range_is_never_swapped_and_the_range_used_is_said(
    running_bot: RunningBot, double: BotApiDouble, community: SeededCommunity
) -> None:
    """QA: "/ledger 1/1..12/31" in March gave 2021-12-31 – 2022-01-01 (the dates swapped
    across the years) without a word. Now a range without years is the most recent one
    (the caption says which), and an end before the start is explained, not swapped."""
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    usage = (
        "Usage: /ledger [date | date..date] [compound], e.g. /ledger 3/1..3/9 阳光花园. "
        "Without a date: today."
    )
    # today is 2022-03-10: the whole of last year, not two days around the New Year
    [reply] = await officer.send("/ledger 1/1..12/31")
    assert reply.content == ("2021-01-01 – 2021-12-31 is 365 days; please choose at most 92 days.")
    # an end before the start: said so, with how to write it; nothing is exported
    replies = await officer.send("/ledger 3/9..3/1 阳光花园")
    assert texts(replies) == (
        "That range ends on 2022-03-01, before it starts (2022-03-09). Please write "
        "the first day, two dots, then the last day, e.g. 3/1..3/9. A range across the "
        "New Year is written the same way: 12/20..1/5.\n" + usage
    )
    # across the New Year: the most recent such range, as the caption says
    replies = await officer.send("/ledger 12/20..1/5")
    assert [m.caption for m in replies if m.document is not None] == [
        "Ledger 2021-12-20 – 2022-01-05, whole community: 0 reports, 0 check-ins, "
        "0 gate entries, 0 cases.",
        "The same ledger as CSV files (one per sheet, UTF-8), zipped.",
    ]
    chinese = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await chinese.send("/language")
    await chinese.press("中文")
    replies = await chinese.send("/ledger 3月9日..3月1日")
    assert texts(replies) == (
        "这个时间范围的结束日期 2022-03-01 早于开始日期 2022-03-09。请先写开始日期，加两个点，"
        "再写结束日期，例如 3/1..3/9；跨年的范围也这样写：12/20..1/5。\n"
        "用法：/ledger [日期 | 日期..日期] [小区]，例如 /ledger 3/1..3/9 阳光花园。"
        "不写日期即为今天。"
    )
    [reply] = await chinese.send("/ledger 2021-06-01..2022-02-01")
    assert reply.content == "2021-06-01 至 2022-02-01 共 246 天，时间范围最多 92 天。"
