"""How long does preparing one day's check-ins take for 50,000 people in isolation?

Seeds communities of N active isolations each (people with Telegram, so every row also
gets its prompt rendered and queued), then times `prepare_checkins` at 09:30 local (N
check-in rows + N outbox prompts) against the set-based reference (the same rows and
identical prompt texts from two SQL statements) on a community of its own: `--rounds`
interleaved pairs (3; the order alternating), best of each, the event-loop stall of each
run of the bot; then a second run of the same tick (which must add nothing). Prints the
figures; not a test.

    python -m bench.checkins                                   # SQLite, temporary file
    python -m bench.checkins --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m bench.checkins --people 10000

On PostgreSQL the schema is migrated if needed and a new community is added on each
run (existing data is left alone), so point it at a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import tempfile
import time as timer
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from bench._common import ensure_database
from bench.lag import LoopLag
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
from bot.services.checkins import DailyRun, PromptMarkup, PromptTexts, prepare_checkins
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


def reference_sql(postgres: bool) -> tuple[str, str]:
    """The set-based reference: today's rows and identical prompts in two statements."""
    obj, arr = (
        ("json_build_object", "json_build_array") if postgres else ("json_object", "json_array")
    )
    day_number = (
        "(CAST(:today AS DATE) - i.start_date) + 1"
        if postgres
        else "CAST(julianday(:today) - julianday(i.start_date) AS INTEGER) + 1"
    )
    end = "CAST(i.end_date AS TEXT)" if postgres else "i.end_date"
    empty = "CAST('[]' AS JSON)" if postgres else "'[]'"
    # markupsafe's escaping, in SQL.
    name = "p.name"
    for char, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("''", "&#39;"),
    ):
        name = f"replace({name}, '{char}', '{entity}')"
    rows = (
        "INSERT INTO checkins (isolation_id, day, day_number, status, symptoms, "
        f"reminders_sent, created_at) SELECT i.id, :today, {day_number}, 'pending', {empty}, "
        "0, :now FROM isolations i WHERE i.community_id = :cid AND i.status = 'active' "
        "AND i.start_date <= :today AND NOT EXISTS (SELECT 1 FROM checkins c "
        "WHERE c.isolation_id = i.id AND c.day = :today)"
    )

    def button(n: int) -> str:
        label, data = f"CAST(:b{n} AS VARCHAR)", f"CAST(:cb{n} AS VARCHAR)"
        return f"{obj}('text', {label}, 'callback_data', {data} || c.id)"

    markup = (
        f"{obj}('inline_keyboard', {arr}({arr}({button(0)}), {arr}({button(1)}, {button(2)}), "
        f"{arr}({button(3)})))"
    )
    text = (
        f"CAST(:t0 AS VARCHAR) || {name} || CAST(:t1 AS VARCHAR) || c.day_number "
        f"|| CAST(:t2 AS VARCHAR) || {end} || CAST(:t3 AS VARCHAR)"
    )
    prompts = (
        "INSERT INTO deliveries (kind, chat_id, is_group, method, payload, dedup_key, "
        "checkin_id, person_id, pin, status, attempts, not_before, created_at) "
        "SELECT 'checkin_prompt', p.telegram_user_id, false, 'sendMessage', "
        f"{obj}('text', {text}, 'parse_mode', 'HTML', 'reply_markup', {markup}), "
        "'checkin:' || c.id || CAST(:suffix AS VARCHAR), c.id, p.id, false, 'pending', 0, "
        ":now, :now "
        "FROM checkins c JOIN isolations i ON i.id = c.isolation_id "
        "JOIN persons p ON p.id = i.person_id WHERE i.community_id = :cid "
        "AND c.day = :today AND c.status = 'pending' AND p.telegram_user_id IS NOT NULL"
    )
    return rows, prompts


def reference_params(catalog: Catalog, locale: str) -> dict[str, Any]:
    """The template's fixed parts and the buttons, rendered once (as the bot does)."""
    texts = PromptTexts(catalog)
    mark = "\x01"
    shell = texts.render(locale, mark, False, mark, mark)  # type: ignore[arg-type]
    parts = shell.split(mark)
    assert len(parts) == 4, "the prompt template changed shape: update the reference"
    keyboard = PromptMarkup(catalog)(locale, 0)["inline_keyboard"]
    buttons = [b for row in keyboard for b in row]
    params: dict[str, Any] = {f"t{n}": part for n, part in enumerate(parts)}
    params["suffix"] = ":prompt"
    for n, b in enumerate(buttons):
        params[f"b{n}"] = b["text"]
        params[f"cb{n}"] = b["callback_data"][:-1]  # without the trailing id 0
    return params


async def reference(url: str, community_id: int, clock: FakeClock) -> float:
    engine = create_engine(url)
    catalog = Catalog()
    try:
        # Timed up to its commit, as the bot's run is.
        async with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            locale = await conn.scalar(select(Community.locale).where(Community.id == community_id))
            params = reference_params(catalog, str(locale))
            rows_sql, prompts_sql = reference_sql(postgres)
            today = clock.now().astimezone(SHANGHAI).date()
            now = clock.now() if postgres else clock.now().astimezone(UTC).replace(tzinfo=None)
            common: dict[str, Any] = {"today": today, "now": now, "cid": community_id}
            started = timer.perf_counter()
            await conn.execute(text(rows_sql), common)
            first = timer.perf_counter() - started
            if postgres:
                # Statistics that know today's rows exist, so the second statement is
                # planned for 50,000 of them (untimed: the reference gets the best plan;
                # stale statistics made it take 10-160 s instead of 2-4 s).
                await conn.execute(text("ANALYZE checkins"))
            started = timer.perf_counter()
            await conn.execute(text(prompts_sql), {**common, **params})
        return first + timer.perf_counter() - started
    finally:
        await engine.dispose()


async def texts_of(url: str, community_id: int) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            payloads = await conn.scalars(
                select(Delivery.payload)
                .join(CheckIn, CheckIn.id == Delivery.checkin_id)
                .join(Isolation, Isolation.id == CheckIn.isolation_id)
                .where(Isolation.community_id == community_id)
            )
            return sorted(str(p["text"]) for p in payloads)
    finally:
        await engine.dispose()


async def measure(url: str, people: int, rounds: int) -> None:
    """`rounds` interleaved pairs (the reference and the bot, each on a community of its
    own, the order alternating), best of each: the machine is shared, so one run of
    either is not a figure."""
    await ensure_database(url)
    clock = FakeClock(datetime(2022, 3, 10, 9, 30, tzinfo=SHANGHAI))
    started = timer.perf_counter()
    ours_ids: list[int] = []
    reference_ids: list[int] = []
    for _ in range(rounds):
        ours_ids.append(await seed(url, people, clock))
        reference_ids.append(await seed(url, people, clock))
    analyse = create_engine(url, isolation_level="AUTOCOMMIT")
    async with analyse.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Fresh tables, the same for both sides: statistics for the planner, and a
            # visibility map (index-only scans need no heap visits), as autovacuum
            # leaves a table that has been there a day.
            await conn.execute(text("VACUUM ANALYZE"))
    await analyse.dispose()
    print(f"seeded {2 * rounds} x {people} isolations in {timer.perf_counter() - started:.1f} s")
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    catalog = Catalog()
    gc.collect()
    gc.freeze()  # as the bot does once started (bot/app.py)

    async def ours(community_id: int) -> tuple[float, DailyRun, LoopLag]:
        async with LoopLag() as lag:
            started = timer.perf_counter()
            async with sessionmaker.begin() as session:
                community = await session.get(Community, community_id)
                assert community is not None
                run = await prepare_checkins(session, clock, catalog, community)
            seconds = timer.perf_counter() - started
        return seconds, run, lag

    ref_times: list[float] = []
    our_times: list[float] = []
    stalls: list[float] = []
    stalls_cpu: list[float] = []
    for n in range(rounds):
        pair: dict[str, float] = {}
        for side in ("reference", "ours") if n % 2 == 0 else ("ours", "reference"):
            if side == "reference":
                pair[side] = await reference(url, reference_ids[n], clock)
                continue
            seconds, run, lag = await ours(ours_ids[n])
            pair[side] = seconds
            stalls.append(lag.worst)
            stalls_cpu.append(lag.worst_cpu)
            assert run.created == people and run.prompted == people, run
        ref_times.append(pair["reference"])
        our_times.append(pair["ours"])
        print(
            f"round {n + 1}: reference (2 set-based SQL statements) {pair['reference']:.2f} s; "
            f"bot {pair['ours']:.2f} s ({people} check-in rows, {people} prompts) "
            f"= {pair['ours'] / pair['reference']:.2f} x; worst event-loop stall "
            f"{stalls[-1] * 1000:.0f} ms (of it the loop thread's own CPU: "
            f"{stalls_cpu[-1] * 1000:.0f} ms)"
        )
    best_ref, best_ours = min(ref_times), min(our_times)
    print(
        f"best of {rounds}: reference {best_ref:.2f} s, bot {best_ours:.2f} s = "
        f"{best_ours / best_ref:.2f} x the reference (goal <= 1.5); event-loop stall "
        f"{min(stalls) * 1000:.0f}-{max(stalls) * 1000:.0f} ms over the runs, of it the loop "
        f"thread's own CPU at most {max(stalls_cpu) * 1000:.0f} ms (goal <= 100 ms)"
    )
    seconds, run, lag = await ours(ours_ids[-1])
    print(
        f"same tick again: {seconds:.2f} s, {run.created} check-in rows, {run.prompted} "
        f"prompts; {lag.describe()}"
    )
    async with sessionmaker() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(CheckIn)
            .join(Isolation, Isolation.id == CheckIn.isolation_id)
            .where(Isolation.community_id == ours_ids[0], CheckIn.day == date(2022, 3, 10))
        )
    await engine.dispose()
    mine, theirs = await texts_of(url, ours_ids[0]), await texts_of(url, reference_ids[0])
    same = "identical" if mine == theirs else "DIFFERENT"
    print(f"in the database: {rows} check-ins today, {len(mine)} prompts queued; texts {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pairs, best of each")
    parser.add_argument("--small", action="store_true", help="1,000 people (CI smoke run)")
    args = parser.parse_args()
    if args.small:
        args.people = 1000
    if args.database_url:
        print(f"database: {args.database_url.split('@')[-1]}")
        asyncio.run(measure(args.database_url, args.people, args.rounds))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        print("database: SQLite (temporary file)")
        asyncio.run(measure(url, args.people, args.rounds))


if __name__ == "__main__":
    main()
