"""A whole home isolation walked day by day with the injected clock, over HTTP
(R-ISO, R-CHK, R-END): day 1 is the arrival date, the last day gets its check-in,
release exactly at the end of the last day; in Shanghai and across a DST change."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, CheckIn, CheckInStatus, Delivery, Isolation
from bot.double import BotApiDouble, SentMessage
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import SeededCommunity
from tests.support.isolation import seed_isolated, set_community


async def run_tick(bot: RunningBot) -> None:
    await tick(bot.application.job_context())
    await bot.drain()


def prompts(double: BotApiDouble, chat_id: int) -> list[SentMessage]:
    return [m for m in double.messages(chat_id) if "健康打卡" in (m.content or "")]


async def checkin_rows(
    sessionmaker: async_sessionmaker[AsyncSession], isolation_id: int
) -> list[CheckIn]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                select(CheckIn).where(CheckIn.isolation_id == isolation_id).order_by(CheckIn.day)
            )
        )


@pytest.mark.parametrize(
    ("zone", "arrival"),
    [
        ("Asia/Shanghai", date(2022, 3, 10)),
        # 14 days from 2022-03-05 in New York cross the DST start on 2022-03-13.
        ("America/New_York", date(2022, 3, 5)),
    ],
)
async def test_fourteen_days_day_by_day(
    zone: str,
    arrival: date,
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    tz = ZoneInfo(zone)
    await set_community(sessionmaker, community, timezone=zone)
    clock.set(datetime.combine(arrival, time(8, 0), tzinfo=tz))
    iso = await seed_isolated(
        sessionmaker, clock, community, telegram_id=resident.id, name="张三", start=arrival
    )
    await resident.send("/start")
    async with sessionmaker() as session:
        isolation = await session.get(Isolation, iso.isolation_id)
        assert isolation is not None
        assert isolation.start_date == arrival
        assert isolation.end_date == arrival + timedelta(days=13)
    last_day = arrival + timedelta(days=13)

    # Before the check-in time nothing is due.
    await run_tick(running_bot)
    assert prompts(double, resident.id) == []

    for number in range(1, 15):
        day = arrival + timedelta(days=number - 1)
        # Just after midnight: the new day has no prompt yet, the isolation is active.
        clock.set(datetime.combine(day, time(0, 0, 30), tzinfo=tz))
        await run_tick(running_bot)
        assert len(prompts(double, resident.id)) == number - 1
        clock.set(datetime.combine(day, time(9, 0, 5), tzinfo=tz))
        await run_tick(running_bot)
        await run_tick(running_bot)  # the same tick twice does nothing
        sent = prompts(double, resident.id)
        assert len(sent) == number, f"day {number} ({day}) prompt"
        assert sent[-1].content == (
            "🌡 每日健康打卡，张三\n"
            f"居家隔离第 {number} 天（{last_day.isoformat()} 为最后一天）。\n"
            "请测量体温后点击下方按钮，或直接输入体温，例如 36.5。"
        )
        await resident.press("体温正常", message=sent[-1])
        assert resident.last().content == "✅ 已记录今天的健康打卡。谢谢！"

    rows = await checkin_rows(sessionmaker, iso.isolation_id)
    assert [r.day for r in rows] == [arrival + timedelta(days=i) for i in range(14)]
    assert [r.day_number for r in rows] == list(range(1, 15))
    assert all(r.status == CheckInStatus.ANSWERED for r in rows)

    # The last second of the last day: still in isolation.
    clock.set(datetime.combine(last_day, time(23, 59, 59), tzinfo=tz))
    await run_tick(running_bot)
    async with sessionmaker() as session:
        isolation = await session.get(Isolation, iso.isolation_id)
        assert isolation is not None and isolation.status == "active"
    assert "隔离期满" not in (resident.last().content or "")

    # Just after midnight: released, told once, audited.
    clock.set(datetime.combine(last_day + timedelta(days=1), time(0, 0, 1), tzinfo=tz))
    await run_tick(running_bot)
    await run_tick(running_bot)
    released = [m for m in double.messages(resident.id) if "隔离期满" in (m.content or "")]
    assert len(released) == 1
    assert released[0].content == (
        "🎉 居家隔离期满\n"
        f"{last_day.isoformat()} 是最后一天，隔离已于今天解除。感谢您的配合！请继续做好个人防护。"
    )
    async with sessionmaker() as session:
        isolation = await session.get(Isolation, iso.isolation_id)
        assert isolation is not None and isolation.status == "released"
        audits = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "isolation.release", AuditEntry.entity_id == iso.isolation_id
            )
        )
        assert audits == 1
    # No day 15.
    clock.set(datetime.combine(last_day + timedelta(days=1), time(10, 0), tzinfo=tz))
    await run_tick(running_bot)
    assert len(await checkin_rows(sessionmaker, iso.isolation_id)) == 14
    assert len(prompts(double, resident.id)) == 14


async def test_dst_day_is_counted_in_local_time(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    """On the 23-hour day of the DST start, a check-in at 02:30 local (a time that does
    not exist that day) is due from 03:00 EDT, and days never shift by one."""
    tz = ZoneInfo("America/New_York")
    await set_community(
        sessionmaker, community, timezone="America/New_York", checkin_time=time(2, 30)
    )
    clock.set(datetime(2022, 3, 12, 1, 0, tzinfo=tz))
    iso = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=resident.id,
        name="Sam",
        start=date(2022, 3, 12),
    )
    await resident.send("/start")
    clock.set(datetime(2022, 3, 12, 2, 31, tzinfo=tz))
    await run_tick(running_bot)
    assert len(prompts(double, resident.id)) == 1
    clock.set(datetime(2022, 3, 13, 1, 59, tzinfo=tz))  # EST, before the jump
    await run_tick(running_bot)
    assert len(prompts(double, resident.id)) == 1
    clock.set(datetime(2022, 3, 13, 3, 0, 1, tzinfo=tz))  # EDT: 02:30 never happened
    await run_tick(running_bot)
    sent = prompts(double, resident.id)
    assert len(sent) == 2 and "第 2 天" in (sent[-1].content or "")
    rows = await checkin_rows(sessionmaker, iso.isolation_id)
    assert [(r.day, r.status) for r in rows] == [
        (date(2022, 3, 12), CheckInStatus.MISSED),
        (date(2022, 3, 13), CheckInStatus.PENDING),
    ]


async def test_restart_sends_todays_prompt_once_and_records_missed_days(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    clock.set(datetime(2022, 3, 10, 8, 0, tzinfo=tz))
    iso = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=resident.id,
        name="张三",
        start=date(2022, 3, 10),
    )
    await resident.send("/start")
    # Day 1 at 09:00: the prompt is queued, then the bot stops before sending it.
    clock.set(datetime(2022, 3, 10, 9, 0, 1, tzinfo=tz))
    await tick(running_bot.application.job_context())
    await running_bot.stop()
    # Down until day 4, 10:30.
    clock.set(datetime(2022, 3, 13, 10, 30, tzinfo=tz))
    await running_bot.start()
    await run_tick(running_bot)
    await run_tick(running_bot)
    sent = prompts(double, resident.id)
    assert len(sent) == 1, [m.content for m in sent]
    assert "第 4 天" in (sent[0].content or "")
    rows = await checkin_rows(sessionmaker, iso.isolation_id)
    assert [(r.day_number, r.status) for r in rows] == [
        (1, CheckInStatus.MISSED),
        (2, CheckInStatus.MISSED),
        (3, CheckInStatus.MISSED),
        (4, CheckInStatus.PENDING),
    ]
    async with sessionmaker() as session:
        stale = await session.scalar(
            select(Delivery).where(Delivery.dedup_key == f"checkin:{rows[0].id}:prompt")
        )
        assert stale is not None and stale.status == "cancelled"
    # A second restart on the same day sends nothing again.
    await running_bot.restart()
    await run_tick(running_bot)
    assert len(prompts(double, resident.id)) == 1
    # Day 1's prompt pressed now is refused politely.
    await resident.press_data(f"ci:normal:{rows[0].id}", sent[0], strict=False)
    assert "已经结束" in (resident.answer_of_last_press() or "")
