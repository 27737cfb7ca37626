"""Charts: the series arithmetic, /chart for officers, and the daily post to the officers'
chat (once a day, from its chart_time, through the outbox)."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, CheckIn, Community, Delivery, Isolation, JobRun, Report
from bot.double import BotApiDouble
from bot.services import charts
from scheduler import JobContext, tick
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person

OFFICER_CHAT = -100777


async def _seed(sessionmaker: async_sessionmaker[AsyncSession], c: SeededCommunity) -> None:
    at = datetime(2022, 3, 8, 10, tzinfo=SHANGHAI)
    async with sessionmaker.begin() as session:
        person = await add_person(session, "甲", c.household("阳光花园/1栋/1单元/101"), at)
        for when in (at, at + timedelta(hours=1), at + timedelta(days=1)):
            session.add(Report(community_id=c.community_id, kind="return", details={},
                               created_at=when))  # fmt: skip
        iso = Isolation(
            community_id=c.community_id, person_id=person.id, start_date=date(2022, 3, 8),
            end_date=date(2022, 3, 21), created_at=at,
        )  # fmt: skip
        session.add(iso)
        await session.flush()
        session.add(CheckIn(isolation_id=iso.id, day=date(2022, 3, 8), day_number=1,
                            status="answered", created_at=at))  # fmt: skip
        session.add(CheckIn(isolation_id=iso.id, day=date(2022, 3, 9), day_number=2,
                            status="missed", created_at=at))  # fmt: skip
        session.add(Case(community_id=c.community_id, kind="fever", created_at=at,
                         resolved_at=at + timedelta(days=1, hours=1)))  # fmt: skip
        community = await session.get(Community, c.community_id)
        assert community is not None
        community.officer_chat_id = OFFICER_CHAT


async def test_series_arithmetic(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> None:
    await _seed(sessionmaker, community)
    async with sessionmaker() as session:
        row = await session.get(Community, community.community_id)
        assert row is not None
        s = await charts.daily_series(session, row, date(2022, 3, 10), 1)
    assert s.days[0] == date(2022, 3, 4) and s.days[-1] == date(2022, 3, 10)
    assert s.returns[-3:] == [2, 1, 0]
    assert s.isolated[-4:] == [0, 1, 1, 1]
    assert s.checkin_rate[-3:] == [100.0, 0.0, 0.0]
    # Open at the end of 3/8, resolved on 3/9 at 11:00 → not open at the end of 3/9.
    assert s.open_cases[-3:] == [1, 0, 0]


async def test_series_of_a_compound(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> None:
    """A compound officer's chart counts only their compound (issue 10)."""
    await _seed(sessionmaker, community)  # the isolation is in 阳光花园; reports have no home
    sunny = frozenset({community.compound_ids["阳光花园"]})
    happy = frozenset({community.compound_ids["幸福里"]})
    async with sessionmaker() as session:
        row = await session.get(Community, community.community_id)
        assert row is not None
        s = await charts.daily_series(session, row, date(2022, 3, 10), 1, sunny)
        o = await charts.daily_series(session, row, date(2022, 3, 10), 1, happy)
    assert s.isolated[-4:] == [0, 1, 1, 1] and s.checkin_rate[-3:] == [100.0, 0.0, 0.0]
    assert s.returns == [0] * 7 and s.open_cases == [0] * 7  # no household / compound
    assert o.isolated == [0] * 7 and o.checkin_rate == [0.0] * 7


async def test_chart_command_and_daily_post(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _seed(sessionmaker, community)
    double.group(OFFICER_CHAT, "干部群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send("/chart 2")
    photos = [m for m in replies if m.photo]
    assert len(photos) == 1 and "2 week" in (photos[0].caption or "")
    png = double.file(photos[0].photo[-1]["file_id"]).content  # type: ignore[index]
    assert Image.open(io.BytesIO(png)).format == "PNG"
    replies = await officer.send("/chart 99")
    assert "1 to 12" in texts(replies)
    replies = await resident.send("/chart")
    assert "权限" in texts(replies) and not any(m.photo for m in replies)

    app = running_bot.application
    ctx = JobContext(sessionmaker, clock, app.settings, app.catalog)
    await tick(ctx)  # 09:00: not yet
    await running_bot.drain()
    assert not [m for m in double.messages(OFFICER_CHAT) if m.photo]
    # The time is the community's setting (20:00 unless set).
    assert texts(await officer.send("/set chart_time 21:30")) == "✅ chart_time is now 21:30."
    clock.set(datetime(2022, 3, 10, 20, 5, tzinfo=SHANGHAI))
    await tick(ctx)
    await running_bot.drain()
    assert not [m for m in double.messages(OFFICER_CHAT) if m.photo]
    clock.set(datetime(2022, 3, 10, 21, 30, tzinfo=SHANGHAI))
    await tick(ctx)
    await tick(ctx)
    # The job only enqueues: nothing reaches Telegram until the sender drains.
    assert not [m for m in double.messages(OFFICER_CHAT) if m.photo]
    await running_bot.drain()
    posted = [m for m in double.messages(OFFICER_CHAT) if m.photo]
    assert len(posted) == 1 and posted[0].caption == "📈 社区近 4 周情况。"
    png = double.file(posted[0].photo[-1]["file_id"]).content  # type: ignore[index]
    assert Image.open(io.BytesIO(png)).format == "PNG"
    async with sessionmaker() as session:
        charts_run = select(func.count()).select_from(JobRun).where(JobRun.key.like("chart:%"))
        assert await session.scalar(charts_run) == 1
        row = await session.scalar(select(Delivery).where(Delivery.kind == "daily_chart"))
        assert row is not None and row.method == "sendPhoto" and row.status == "sent"
