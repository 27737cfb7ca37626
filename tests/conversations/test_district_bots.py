"""One bot per district on one database (issue 17): two bots (two tokens, two Bot API
doubles) share one database, each serving its own community (COMMUNITIES): each one's
scheduler prompts only its community's residents, each one's sender sends only its own
deliveries, and on PostgreSQL both lead at once (a lock per bot), while two processes of
one bot still exclude each other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import Application
from bot.clock import FakeClock
from bot.db.models import Community, Delivery, Household, Person
from bot.double import BotApiDouble, RateLimits
from bot.services.directory import import_register
from bot.services.isolation import start_isolation
from messages import Catalog
from tests.support.chat import settings_for
from tests.support.community import register_rows

TOKEN_A = "1111111:district-a-token-01"
TOKEN_B = "2222222:district-b-token-02"
RESIDENT_A, RESIDENT_B = 7101, 7202
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Yesterday: the leader's scheduler (APScheduler, real time) starts its first tick at
# the fake clock's time and steps to now 30 s at a time; a clock years back (the other
# tests' 2022) would hold the event loop for minutes.
DAY = datetime.now(SHANGHAI).date() - timedelta(days=1)


@pytest.fixture
async def doubles() -> AsyncIterator[tuple[BotApiDouble, BotApiDouble]]:
    pair = (
        BotApiDouble(token=TOKEN_A, rate_limits=RateLimits(enabled=False)),
        BotApiDouble(token=TOKEN_B, rate_limits=RateLimits(enabled=False)),
    )
    for double in pair:
        await double.serve()
    yield pair
    for double in pair:
        await double.stop()


async def seed_district(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    name: str,
    admin_id: int,
    resident_id: int,
) -> int:
    """A community with one resident (with Telegram) in home isolation since DAY."""
    async with sessionmaker.begin() as session:
        result = await import_register(
            session, clock, community_name=name, timezone="Asia/Shanghai",
            rows=register_rows(), admin_telegram_id=admin_id, admin_name="管理员",
        )  # fmt: skip
        community = await session.get(Community, result.community.id)
        assert community is not None
        household = await session.scalar(
            select(Household.id)
            .join(Person, Person.household_id == Household.id, isouter=True)
            .where(Person.id.is_(None))
            .where(Household.id.in_(_households_of(community.id)))
            .limit(1)
        )
        person = Person(
            telegram_user_id=resident_id, household_id=household, name=f"居民{resident_id}",
            is_head=True, created_at=clock.now(),
        )  # fmt: skip
        session.add(person)
        await session.flush()
        await start_isolation(session, clock, community=community, person=person, start_date=DAY)
        return community.id


def _households_of(community_id: int) -> Any:
    from bot.db.models import Building, Compound, Unit

    return (
        select(Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Compound.community_id == community_id)
    )


async def wait_until(check: object, seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(check())  # type: ignore[operator]


async def test_two_district_bots_share_one_database(
    doubles: tuple[BotApiDouble, BotApiDouble],
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    catalog: Catalog,
) -> None:
    double_a, double_b = doubles
    clock = FakeClock(datetime.combine(DAY, time(8, 0), SHANGHAI))
    east = await seed_district(sessionmaker, clock, "东湖社区", 9101, RESIDENT_A)
    west = await seed_district(sessionmaker, clock, "西湖社区", 9202, RESIDENT_B)
    for double, resident in ((double_a, RESIDENT_A), (double_b, RESIDENT_B)):
        user = double.user(resident, f"R{resident}")
        double.private_chat(user)
        double.started.add(resident)
    clock.set(datetime.combine(DAY, time(9, 1), SHANGHAI))
    # Two applications in one event loop: no idle timeout on the lock session (a slow
    # tick of one would look like a dead leader to PostgreSQL).
    apps = []
    for double, token, community in ((double_a, TOKEN_A, east), (double_b, TOKEN_B, west)):
        settings = settings_for(
            double, database_url, bot_token=SecretStr(token), communities=str(community),
            leader_session_timeout=0,
        )  # fmt: skip
        apps.append(await Application.create(settings, clock, migrate=False, catalog=catalog))
    try:
        for app in apps:
            app.start_workers(retry_seconds=0.05, check_seconds=0.05)
        # Both lead at once: each bot has its own lock (PostgreSQL; SQLite always leads).
        assert await wait_until(lambda: all(a.election and a.election.is_leader for a in apps))
        prompt_a = await double_a.wait_for(
            lambda c: c.method == "sendMessage" and str(c.params.get("chat_id")) == str(RESIDENT_A)
            and "打卡" in str(c.params.get("text")),
            since=0, timeout=60,
        )  # fmt: skip
        prompt_b = await double_b.wait_for(
            lambda c: c.method == "sendMessage" and str(c.params.get("chat_id")) == str(RESIDENT_B)
            and "打卡" in str(c.params.get("text")),
            since=0, timeout=60,
        )  # fmt: skip
        assert prompt_a and prompt_b
        async with sessionmaker() as session:
            found = await session.scalars(select(Delivery).where(Delivery.kind == "checkin_prompt"))
            rows = {d.chat_id: d for d in found}
        # One prompt each, queued by its district's scheduler, stamped with its bot, sent
        # by that bot alone (the other double never saw the chat).
        assert sorted(rows) == [RESIDENT_A, RESIDENT_B]
        assert rows[RESIDENT_A].bot_id == 1111111 and rows[RESIDENT_B].bot_id == 2222222
        for double, resident in ((double_a, RESIDENT_A), (double_b, RESIDENT_B)):
            last = (DAY + timedelta(days=13)).isoformat()
            prompt = (
                f"🌡 每日健康打卡，居民{resident}\n居家隔离第 1 天（{last} 为最后一天）。\n"
                "请测量体温后点击下方按钮，或直接输入体温，例如 36.5。"
            )
            assert [m.text for m in double.messages(resident) if "打卡" in (m.text or "")] == [
                prompt
            ]
        assert double_a.messages(RESIDENT_B) == [] and double_b.messages(RESIDENT_A) == []
        assert not [
            c
            for c in double_a.calls
            if str(c.params.get("chat_id")) == str(RESIDENT_B)
            and "打卡" in str(c.params.get("text"))
        ]
        assert not [
            c
            for c in double_b.calls
            if str(c.params.get("chat_id")) == str(RESIDENT_A)
            and "打卡" in str(c.params.get("text"))
        ]
    finally:
        for app in apps:
            await app.close()


async def test_one_bot_one_leader_two_bots_two_leaders(
    doubles: tuple[BotApiDouble, BotApiDouble], database_url: str, catalog: Catalog
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leader election needs PostgreSQL (SQLite is single-process)")
    double_a, double_b = doubles
    clock = FakeClock(datetime.combine(DAY, time(3, 0), SHANGHAI))

    async def app_of(double: BotApiDouble, token: str) -> Application:
        settings = settings_for(
            double, database_url, bot_token=SecretStr(token), leader_session_timeout=0
        )
        return await Application.create(settings, clock, migrate=False, catalog=catalog)

    a1, a2 = await app_of(double_a, TOKEN_A), await app_of(double_a, TOKEN_A)
    b1 = await app_of(double_b, TOKEN_B)
    try:
        for app in (a1, a2, b1):
            app.start_workers(retry_seconds=0.05, check_seconds=0.05)
        assert await wait_until(
            lambda: b1.election.is_leader and (a1.election.is_leader or a2.election.is_leader)
        )
        await asyncio.sleep(0.3)  # several retries of the standby
        assert b1.election is not None and b1.election.is_leader
        assert [a1.election.is_leader, a2.election.is_leader].count(True) == 1
        # Each bot has its own fencing epoch row (its id).
        assert {a1.election.epoch, b1.election.epoch} != {None}
        leader = a1 if a1.election.is_leader else a2
        assert leader.election is not None and leader.election.term_id == 1111111
        assert b1.election.term_id == 2222222
    finally:
        for app in (a1, a2, b1):
            await app.close()
