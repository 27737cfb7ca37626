"""Testing-round benchmark (issue 15): 20,000 people marked tested in one round, each by a
volunteer scanning the person's personal code, through the real handler path.

Seeds a community (20 buildings, households of 4, no Telegram users, so the announcement
queues only the owners' group posts), creates and announces a round through the service,
then feeds one `/start p_<token>` update per person into the real Application's
dispatcher (middlewares, identity and role check from the database, the scan handler,
its reply sent over HTTP to the Bot API double). Prints:

  - scans: answers per second through the handler path, and the reference in the same
    run: a bare `UPDATE round_people … WHERE round_id AND person_id` per scan (one
    transaction each), with the ratio;
  - the live progress view: the officer's `/round` through the handler path and the
    service's per-building GROUP BY alone, against a bare `SELECT count(*)` of the
    round, with the ratio.

    python -m bench.rounds                    # 20,000 people, SQLite (temporary file)
    python -m bench.rounds --small            # 2,000 people, a quick run
    python -m bench.rounds --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

On PostgreSQL the schema is migrated if needed and a new community is added on each
run; point it at a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import secrets
import statistics
import tempfile
import time as timer
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import func, insert, select, update

from bench._common import TOKEN, ensure_database
from bot.app import Application
from bot.clock import FakeClock
from bot.db.migrate import upgrade
from bot.db.models import (
    Building,
    Community,
    Compound,
    Household,
    Person,
    PersonCode,
    Role,
    RoleGrant,
    RoundPerson,
    ScopeType,
    Unit,
)
from bot.db.session import create_engine, create_sessionmaker
from bot.double import BotApiDouble, RateLimits
from bot.services import rounds
from bot.settings import Settings
from messages import Catalog

SHANGHAI = ZoneInfo("Asia/Shanghai")
PER_HOUSEHOLD = 4
BUILDINGS = 20
VOLUNTEER_TG = 8_100_000_001
OFFICER_TG = 8_100_000_002
PROGRESS_RUNS = 20


async def seed(url: str, people: int, clock: FakeClock) -> tuple[int, int, list[str]]:
    """(community id, round id, tokens of the people in order)."""
    engine = create_engine(url)
    await upgrade(engine)
    sessionmaker = create_sessionmaker(engine)
    now = clock.now()
    tag = random.randrange(10**6)
    async with sessionmaker.begin() as session:
        community = Community(name=f"bench-rounds-{tag}", created_at=now)
        session.add(community)
        await session.flush()
        compound = Compound(community_id=community.id, name="bench")
        session.add(compound)
        await session.flush()
        households = -(-people // PER_HOUSEHOLD)
        per_building = -(-households // BUILDINGS)
        household_ids: list[int] = []
        for b in range(BUILDINGS):
            building = Building(compound_id=compound.id, name=f"{b + 1}栋")
            session.add(building)
            await session.flush()
            unit = Unit(building_id=building.id, name="1单元")
            session.add(unit)
            await session.flush()
            count = min(per_building, households - len(household_ids))
            if count <= 0:
                break
            await session.execute(
                insert(Household), [{"unit_id": unit.id, "room": str(i + 1)} for i in range(count)]
            )
            household_ids.extend(
                await session.scalars(
                    select(Household.id).where(Household.unit_id == unit.id).order_by(Household.id)
                )
            )
        await session.execute(
            insert(Person),
            [
                {"household_id": household_ids[i // PER_HOUSEHOLD], "name": f"居民{i}",
                 "is_head": i % PER_HOUSEHOLD == 0, "created_at": now}
                for i in range(people)
            ],
        )  # fmt: skip
        person_ids = list(
            await session.scalars(
                select(Person.id).where(Person.household_id.in_(household_ids)).order_by(Person.id)
            )
        )
        tokens = [secrets.token_urlsafe(rounds.TOKEN_BYTES) for _ in person_ids]
        await session.execute(
            insert(PersonCode),
            [
                {"person_id": pid, "token": tok, "created_at": now}
                for pid, tok in zip(person_ids, tokens, strict=True)
            ],
        )
        for tg, role, name in ((VOLUNTEER_TG, Role.VOLUNTEER, "志愿者"),
                               (OFFICER_TG, Role.OFFICER, "干事")):  # fmt: skip
            staff = await session.scalar(select(Person).where(Person.telegram_user_id == tg))
            if staff is None:
                staff = Person(telegram_user_id=tg, name=name, created_at=now)
                session.add(staff)
                await session.flush()
            session.add(
                RoleGrant(person_id=staff.id, role=role.value, scope_type=ScopeType.COMMUNITY,
                          scope_id=community.id, granted_at=now)
            )  # fmt: skip
        lines = ["today"] + [f"bench {b + 1}栋 08:00-12:00 site" for b in range(BUILDINGS)]
        spec = await rounds.parse_spec(session, community.id, "\n".join(lines), now.date())
        rnd = await rounds.create_round(session, clock, community=community, spec=spec, by=None)
        await rounds.announce(session, clock, Catalog(), rnd=rnd, by=None)
        result = (community.id, rnd.id, tokens)
    await engine.dispose()
    return result


def _settings(double: BotApiDouble, url: str) -> Settings:
    values: dict[str, Any] = {
        "bot_token": SecretStr(TOKEN),
        "database_url": url,
        "telegram_api_base": double.base_url,
        "redis_url": None,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _feed(app: Application, double: BotApiDouble, user_id: int, text: str) -> None:
    update = double.send_text(double.users[user_id], text)
    await app.dispatcher.feed_update(app.bot, update)


async def measure(url: str, people: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    await ensure_database(url)
    clock = FakeClock(datetime(2022, 3, 10, 9, 0, tzinfo=SHANGHAI))
    started = timer.perf_counter()
    _community_id, round_id, tokens = await seed(url, people, clock)
    print(f"seeded {people} people, round #{round_id} announced, "
          f"in {timer.perf_counter() - started:.1f} s")  # fmt: skip

    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    for tg in (VOLUNTEER_TG, OFFICER_TG):
        double.private_chat(double.user(tg, "staff"))
        double.started.add(tg)
    app = await Application.create(_settings(double, url), clock, migrate=False)
    try:
        await app.prepare()
        # Scans through the handler path.
        started = timer.perf_counter()
        for token in tokens:
            await _feed(app, double, VOLUNTEER_TG, f"/start p_{token}")
        scan_seconds = timer.perf_counter() - started
        replies = sum(
            1 for c in double.calls
            if c.method == "sendMessage" and c.params.get("chat_id") in (VOLUNTEER_TG,
                                                                         str(VOLUNTEER_TG))
        )  # fmt: skip
        async with app.sessionmaker() as session:
            tested = await session.scalar(
                select(func.count())
                .select_from(RoundPerson)
                .where(RoundPerson.round_id == round_id, RoundPerson.status == "tested")
            )
        # The reference: a bare UPDATE per scan, one transaction each (rows put back first).
        async with app.sessionmaker.begin() as session:
            await session.execute(
                update(RoundPerson)
                .where(RoundPerson.round_id == round_id)
                .values(status="pending", method=None, marked_at=None, marked_by_id=None)
            )
            person_ids = list(
                await session.scalars(
                    select(RoundPerson.person_id)
                    .where(RoundPerson.round_id == round_id)
                    .order_by(RoundPerson.person_id)
                )
            )
        started = timer.perf_counter()
        for pid in person_ids:
            async with app.sessionmaker.begin() as session:
                await session.execute(
                    update(RoundPerson)
                    .where(
                        RoundPerson.round_id == round_id,
                        RoundPerson.person_id == pid,
                        RoundPerson.status == "pending",
                    )
                    .values(status="tested", method="scan", marked_at=clock.now())
                )
        bare_seconds = timer.perf_counter() - started

        # The live progress view: handler path, service query, bare count.
        handler_ms = []
        for _ in range(PROGRESS_RUNS):
            t0 = timer.perf_counter()
            await _feed(app, double, OFFICER_TG, f"/round {round_id}")
            handler_ms.append((timer.perf_counter() - t0) * 1000)
        service_ms, count_ms = [], []
        for _ in range(PROGRESS_RUNS):
            async with app.sessionmaker() as session:
                t0 = timer.perf_counter()
                rows = await rounds.progress(session, round_id)
                service_ms.append((timer.perf_counter() - t0) * 1000)
                t0 = timer.perf_counter()
                await session.scalar(
                    select(func.count())
                    .select_from(RoundPerson)
                    .where(RoundPerson.round_id == round_id)
                )
                count_ms.append((timer.perf_counter() - t0) * 1000)
        last = double.last_message(OFFICER_TG)
        total = rounds.total(rows)
    finally:
        await app.close()
        await double.stop()

    scans = len(tokens) / scan_seconds
    bare = len(person_ids) / bare_seconds
    print(f"scans through the handler path: {len(tokens)} in {scan_seconds:.1f} s = "
          f"{scans:,.0f} answers/s ({replies} replies, {tested} people tested)")  # fmt: skip
    print(f"reference, bare UPDATE per scan: {len(person_ids)} in {bare_seconds:.1f} s = "
          f"{bare:,.0f}/s; handler path / bare = 1 : {bare / scans:.1f}")  # fmt: skip
    h, s, c = (statistics.median(x) for x in (handler_ms, service_ms, count_ms))
    print(f"live progress ({len(rows)} buildings, {total.tested}/{total.expected} tested), "
          f"median of {PROGRESS_RUNS}: /round through the handler {h:.1f} ms, "
          f"per-building GROUP BY {s:.1f} ms, bare count(*) {c:.1f} ms; "
          f"GROUP BY / count = {s / c:.1f}x")  # fmt: skip
    assert tested == len(tokens), "every scan must count"
    assert last is not None and str(round_id) in (last.content or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--small", action="store_true", help="2,000 people")
    args = parser.parse_args()
    people = 2_000 if args.small else args.people
    if args.database_url:
        print(f"database: {args.database_url.split('@')[-1]}")
        asyncio.run(measure(args.database_url, people))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        print("database: SQLite (temporary file)")
        asyncio.run(measure(url, people))


if __name__ == "__main__":
    main()
