"""How long does preparing one day's check-ins take for 50,000 people in isolation?

Seeds a community with N active isolations (people with Telegram, so every row also
gets its prompt rendered and queued), then times `prepare_checkins` at 09:30 local:
the first run (N check-in rows + N outbox prompts) and a second run of the same tick
(which must add nothing). Prints the figures; not a test.

    python -m bench.checkins                                   # SQLite, temporary file
    python -m bench.checkins --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m bench.checkins --people 10000

On PostgreSQL the schema is migrated if needed and a new community is added on each
run (existing data is left alone), so point it at a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time as timer
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.clock import FakeClock
from bot.db.migrate import upgrade
from bot.db.models import (
    Building,
    CheckIn,
    Community,
    Compound,
    Delivery,
    Household,
    Isolation,
    Person,
    Unit,
)
from bot.db.session import create_engine, create_sessionmaker
from bot.services.checkins import prepare_checkins
from messages import Catalog

SHANGHAI = ZoneInfo("Asia/Shanghai")
PER_HOUSEHOLD = 4


async def seed(url: str, people: int, clock: FakeClock) -> int:
    engine = create_engine(url)
    await upgrade(engine)
    sessionmaker = create_sessionmaker(engine)
    now = clock.now()
    tag = random.randrange(10**6)
    async with sessionmaker.begin() as session:
        community = Community(name=f"bench-{tag}", created_at=now)
        session.add(community)
        await session.flush()
        compound = Compound(community_id=community.id, name="bench")
        session.add(compound)
        await session.flush()
        building = Building(compound_id=compound.id, name="1")
        session.add(building)
        await session.flush()
        unit = Unit(building_id=building.id, name="1")
        session.add(unit)
        await session.flush()
        households = -(-people // PER_HOUSEHOLD)
        await session.execute(
            insert(Household), [{"unit_id": unit.id, "room": str(i)} for i in range(households)]
        )
        household_ids = list(
            await session.scalars(
                select(Household.id).where(Household.unit_id == unit.id).order_by(Household.id)
            )
        )
        base = 7_000_000_000 + tag * 100_000
        await session.execute(
            insert(Person),
            [
                {
                    "telegram_user_id": base + i,
                    "household_id": household_ids[i // PER_HOUSEHOLD],
                    "name": f"居民{i}",
                    "is_head": i % PER_HOUSEHOLD == 0,
                    "created_at": now,
                }
                for i in range(people)
            ],
        )
        person_ids = list(
            await session.scalars(
                select(Person.id)
                .where(Person.telegram_user_id >= base, Person.telegram_user_id < base + people)
                .order_by(Person.id)
            )
        )
        today = clock.now().astimezone(SHANGHAI).date()
        await session.execute(
            insert(Isolation),
            [
                {
                    "community_id": community.id,
                    "person_id": pid,
                    "start_date": today - timedelta(days=i % 7),
                    "end_date": today - timedelta(days=i % 7) + timedelta(days=13),
                    "status": "active",
                    # Yesterday's rows exist already (or were recorded today): only
                    # today's row is due, which is the daily work being measured.
                    "created_at": now,
                }
                for i, pid in enumerate(person_ids)
            ],
        )
        community_id = community.id
    await engine.dispose()
    return community_id


async def measure(url: str, people: int) -> None:
    clock = FakeClock(datetime(2022, 3, 10, 9, 30, tzinfo=SHANGHAI))
    started = timer.perf_counter()
    community_id = await seed(url, people, clock)
    print(f"seeded {people} isolations in {timer.perf_counter() - started:.1f} s")
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    catalog = Catalog()
    for label in ("first run", "same tick again"):
        started = timer.perf_counter()
        async with sessionmaker.begin() as session:
            community = await session.get(Community, community_id)
            assert community is not None
            run = await prepare_checkins(session, clock, catalog, community)
        seconds = timer.perf_counter() - started
        rate = run.created / seconds if run.created else 0
        print(
            f"{label}: {seconds:.2f} s, {run.created} check-in rows, {run.prompted} prompts"
            + (f", {rate:,.0f} rows/s" if run.created else "")
        )
    async with sessionmaker() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(CheckIn)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .where(Isolation.community_id == community_id, CheckIn.day == date(2022, 3, 10))
        )
        prompts = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .join(CheckIn, CheckIn.id == Delivery.checkin_id)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .where(Isolation.community_id == community_id)
        )
    print(f"in the database: {rows} check-ins today, {prompts} prompts queued")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--people", type=int, default=50_000)
    args = parser.parse_args()
    if args.database_url:
        print(f"database: {args.database_url.split('@')[-1]}")
        asyncio.run(measure(args.database_url, args.people))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        print("database: SQLite (temporary file)")
        asyncio.run(measure(url, args.people))


if __name__ == "__main__":
    main()
