"""Answering the daily check-in over HTTP (R-CHK): buttons, typed temperatures in every
form people type, impossible values, forged buttons, members without Telegram,
reminders, misses and fevers that become cases, and unreachable people."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, CheckIn, CheckInStatus, Person
from bot.double import BotApiDouble, SentMessage
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import SeededCommunity
from tests.support.isolation import Isolated, seed_isolated, set_community

SHANGHAI = ZoneInfo("Asia/Shanghai")
ARRIVAL = date(2022, 3, 10)


async def run_tick(bot: RunningBot) -> None:
    await tick(bot.application.job_context())
    await bot.drain()


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2022, 3, day, hour, minute, tzinfo=SHANGHAI)


def prompts(double: BotApiDouble, chat_id: int, marker: str = "健康打卡") -> list[SentMessage]:
    return [m for m in double.messages(chat_id) if marker in (m.content or "")]


async def isolated_and_prompted(
    bot: RunningBot,
    user: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    **kwargs: object,
) -> Isolated:
    clock.set(at(8))
    kwargs.setdefault("name", "张三")
    iso = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=user.id,
        start=ARRIVAL,
        **kwargs,  # type: ignore[arg-type]
    )
    await user.send("/start")
    clock.set(at(9, 1))
    await run_tick(bot)
    return iso


async def checkin_of(sessionmaker: async_sessionmaker[AsyncSession], isolation_id: int) -> CheckIn:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(CheckIn).where(CheckIn.isolation_id == isolation_id).order_by(CheckIn.day.desc())
        )
        assert found is not None
        return found


async def cases(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> list[Case]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Case).where(Case.kind == kind)))


@pytest.mark.parametrize("typed", ["36.5", "36,5", "36.5度", "三十六度五", "97.7°F", "３６.５"])
async def test_typed_temperature_forms(
    typed: str,
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    replies = await resident.send(typed)
    assert "已记录" in texts(replies) and "36.5" in texts(replies)
    checkin = await checkin_of(sessionmaker, iso.isolation_id)
    assert checkin.status == CheckInStatus.ANSWERED
    assert checkin.temperature == Decimal("36.5")
    assert await cases(sessionmaker, "fever") == []


async def test_impossible_value_is_refused_and_asked_again_in_both_languages(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    replies = await resident.send("45")
    assert "不在合理范围" in texts(replies) and "重新输入" in texts(replies)
    replies = await resident.send("三十六度很多")
    assert "没能识别" in texts(replies)
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING
    replies = await resident.send("36.8")
    assert "36.8" in texts(replies)
    assert (await checkin_of(sessionmaker, iso.isolation_id)).temperature == Decimal("36.8")

    other = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=english_resident.id,
        name="Alice",
        household="阳光花园/1栋/1单元/102",
        start=ARRIVAL,
        language="en",
    )
    await english_resident.send("/start")
    await run_tick(running_bot)
    assert "Daily health check-in" in (english_resident.last().content or "")
    await english_resident.press("Type the temperature")
    replies = await english_resident.send("120°F")
    assert "not plausible" in texts(replies) and "again" in texts(replies)
    replies = await english_resident.send("98.6F")
    assert "37.0 °C" in texts(replies)
    assert (await checkin_of(sessionmaker, other.isolation_id)).temperature == Decimal("37.0")


async def test_fever_typed_raises_urgent_case_and_gives_clinic_advice(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await set_community(
        sessionmaker,
        community,
        fever_clinics=[
            {"name": "市第一医院发热门诊", "address": "人民路1号", "phone": "0571-1234"}
        ],
    )
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    replies = await resident.send("37.3")  # at the threshold counts as fever
    assert "不要乘坐公共交通" in texts(replies) and "市第一医院发热门诊" in texts(replies)
    found = await cases(sessionmaker, "fever")
    assert len(found) == 1 and found[0].urgent and found[0].isolation_id == iso.isolation_id


async def test_symptom_button_raises_urgent_case_and_second_answer_changes_nothing(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    prompt = prompts(double, resident.id)[-1]
    await resident.press("其他症状", message=prompt)
    assert "不要乘坐公共交通" in (resident.last().content or "")
    assert len(await cases(sessionmaker, "symptom")) == 1
    # The same prompt pressed again (an old copy of the message): nothing changes.
    await resident.press_data(
        f"ci:normal:{(await checkin_of(sessionmaker, iso.isolation_id)).id}", prompt, strict=False
    )
    assert "已经打过卡" in (resident.answer_of_last_press() or "")
    checkin = await checkin_of(sessionmaker, iso.isolation_id)
    assert checkin.symptoms == ["other"]
    replies = await resident.send("36.5")
    assert "没有需要填报" in texts(replies)
    assert (await checkin_of(sessionmaker, iso.isolation_id)).temperature is None


async def test_fever_button(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    await resident.press("发热")
    assert "发热门诊" in (resident.last().content or "")
    found = await cases(sessionmaker, "fever")
    assert len(found) == 1 and found[0].urgent


async def test_forged_and_foreign_buttons_are_refused(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=english_resident.id,
        name="Alice",
        household="阳光花园/1栋/1单元/102",
        start=ARRIVAL,
        language="en",
    )
    await english_resident.send("/start")
    checkin = await checkin_of(sessionmaker, iso.isolation_id)
    own = english_resident.last()
    # Alice forges a press on 张三's check-in.
    await english_resident.press_data(f"ci:normal:{checkin.id}", own, strict=False)
    assert "not your check-in" in (english_resident.answer_of_last_press() or "")
    await english_resident.press_data("ci:normal:999999", own, strict=False)
    assert "not found" in (english_resident.answer_of_last_press() or "")
    await english_resident.press_data(f"ci:<b>x</b>:{checkin.id}", own, strict=False)
    assert english_resident.answer_of_last_press()
    await english_resident.press_data("ci:normal:notanumber", own, strict=False)
    assert english_resident.answer_of_last_press()
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING


async def test_member_without_telegram_is_answered_by_head(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(
        running_bot, resident, community, sessionmaker, clock, members=("张奶奶", "张爷爷")
    )
    sent = prompts(double, resident.id)
    assert len(sent) == 3  # one per person, each naming the member
    grandma = next(m for m in sent if "张奶奶" in (m.content or ""))
    replies = await resident.press("体温正常", message=grandma)
    assert "张奶奶" in texts(replies) and "已记录" in texts(replies)
    async with sessionmaker() as session:
        rows = {c.isolation_id: c for c in await session.scalars(select(CheckIn))}
        head = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
    assert rows[iso.member_isolation_ids[0]].status == CheckInStatus.ANSWERED
    assert head is not None and rows[iso.member_isolation_ids[0]].answered_by_id == head.id
    # A typed temperature with two people still pending asks whose it is, keeps it,
    # and applies it to the person chosen: nothing to type again.
    replies = await resident.send("36.6")
    assert texts(replies) == "今天有多人需要打卡。36.6℃ 是谁的体温？请点选："
    replies = await resident.press("张爷爷")
    assert texts(replies) == "✅ 已记录 张爷爷 今天的健康打卡：体温 36.6℃。谢谢！"
    assert (
        rows[iso.member_isolation_ids[1]].id
        == (await checkin_of(sessionmaker, iso.member_isolation_ids[1])).id
    )
    assert (await checkin_of(sessionmaker, iso.member_isolation_ids[1])).temperature == Decimal(
        "36.6"
    )
    # Only the head's own check-in is left: typing answers it directly.
    await resident.send("36.4")
    assert (await checkin_of(sessionmaker, iso.isolation_id)).temperature == Decimal("36.4")


async def test_reminders_only_to_pending_then_miss_becomes_case(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    await set_community(sessionmaker, community, misses_for_case=2)
    clock.set(at(8))
    late = await seed_isolated(
        sessionmaker,
        clock,
        community,
        telegram_id=english_resident.id,
        name="Alice",
        household="阳光花园/1栋/1单元/102",
        start=ARRIVAL,
        language="en",
    )
    await english_resident.send("/start")
    await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    await resident.press("体温正常")
    clock.set(at(12, 0))
    await run_tick(running_bot)
    await run_tick(running_bot)
    assert prompts(double, resident.id, "提醒") == []
    assert len(prompts(double, english_resident.id, "Reminder")) == 1
    clock.set(at(18, 5))
    await run_tick(running_bot)
    assert len(prompts(double, english_resident.id, "Reminder")) == 2
    # Day 2: one miss, below the setting of 2: no case yet.
    clock.set(at(9, 1, day=11))
    await run_tick(running_bot)
    assert await cases(sessionmaker, "missed_checkin") == []
    clock.set(at(9, 1, day=12))
    await run_tick(running_bot)
    await run_tick(running_bot)
    found = await cases(sessionmaker, "missed_checkin")
    assert len(found) == 1 and found[0].isolation_id == late.isolation_id
    assert found[0].details["missed"] == 2
    # Day 3 missed too: the same streak, still one case for Alice (张三, who answered
    # day 1, now has his own streak of two).
    clock.set(at(9, 1, day=13))
    await run_tick(running_bot)
    found = await cases(sessionmaker, "missed_checkin")
    assert [c.isolation_id for c in found].count(late.isolation_id) == 1
    assert len(found) == 2


async def test_blocked_bot_becomes_unreachable_case(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
    clock: FakeClock,
) -> None:
    clock.set(at(8))
    iso = await seed_isolated(
        sessionmaker, clock, community, telegram_id=resident.id, name="张三", start=ARRIVAL
    )
    await resident.send("/start")
    double.block_user(resident.user, notify=False)
    clock.set(at(9, 1))
    await run_tick(running_bot)  # the prompt gets 403: the sender marks the person
    await run_tick(running_bot)  # the next tick turns that into a case
    await run_tick(running_bot)
    found = await cases(sessionmaker, "unreachable")
    assert len(found) == 1 and found[0].isolation_id == iso.isolation_id
    assert found[0].grid_id == community.grid_ids["第一网格"]


async def test_a_button_answer_reads_its_checkin_with_the_person_in_one_query(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """The general answer path's round trips (issue 13): the identity middleware reads
    the pressed check-in with the person; the answer itself reads nothing again. (The
    fast path, which takes this press on PostgreSQL, is off here: test_checkin_fast.py.)"""
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    fast = running_bot.application.fast_answers
    assert fast is not None
    fast.enabled = False
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = running_bot.application.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await resident.press("体温正常")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "已记录" in (resident.last().content or "")
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.ANSWERED
    writes = ("UPDATE checkins", "WITH answered", "INSERT")
    reads = [s for s in statements if "checkins" in s and not s.startswith(writes)]
    assert len(reads) == 1, reads
    assert "JOIN persons" in reads[0] or "FROM persons" in reads[0]
    assert "LEFT OUTER JOIN checkins" in reads[0]
    assert [s for s in statements if s.startswith(("UPDATE checkins", "WITH answered"))]
