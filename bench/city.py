"""A city's day on PostgreSQL (issue 17): 1,000,000 residents in 3,000 compounds, 50,000 in
home isolation, 200 notices, a testing round for 300,000 people; what one bot token can
deliver of it under Telegram's limits.

What runs:

1. Seeding, set-based SQL (INSERT … SELECT generate_series): 150 communities of 20
   compounds, 6 buildings per compound, households of 3; the head of each household has
   Telegram (333,334 private chats), one owners' group per compound; 50,000 heads in
   home isolation; an officer per community.
2. The day, through the real services with an injected clock (Asia/Shanghai):
   - 07:00 the testing round: `rounds.create_round` + `rounds.announce` for the
     communities holding 300,000 people (45 rounds, a slot per building between 08:00
     and 17:00): the people expected, a post per owners' group, a message per household;
   - 09:00 the scheduler's check-in tick (`checkin_tick`: rows and prompts for 50,000);
   - a sample of check-in answers through the handler path (the real Application's
     dispatcher, middlewares, handler, its reply over HTTP to the Bot API double); the
     bulk of answers (80 % by noon, half the rest by 18:00) as one UPDATE each;
   - the testing-round tick (`testing_rounds`: reminders before each slot) every 30 min;
   - 12:00 and 18:00 the check-in tick again (reminders to who has not answered);
   - 200 notices through `notices.create_notice` between 08:00 and 20:00 (180 to one
     compound's residents and its group, 20 to a whole community).
3. The timeline: every delivery the day queued, by its `not_before`, drained first in
   first out (as the sender claims) in virtual time at 25/s (the default pacing under
   Telegram's 30/s) and at 900/s (paid broadcast): when the last check-in prompt and
   the last message go out, the backlog's peak, and the database size.

Nothing is sent for real (the sample's replies excepted): sending 1,000,000 messages at
25/s would take 11 hours; the sender's pacing is measured by bench/broadcast.py.

    python -m bench.city --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/cg_city
    python -m bench.city --small --database-url …        # 1/100 of the city, < 60 s

The schema is dropped and re-created: give it a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time as timer
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench._common import TOKEN, ensure_database
from bot.clock import FakeClock
from bot.db.migrate import upgrade
from bot.db.models import Building, Community, Compound, Delivery
from bot.db.session import create_engine, create_sessionmaker
from bot.double import BotApiDouble, RateLimits
from bot.services import notices, rounds
from bot.services.identity import load_identity
from bot.settings import Settings
from messages import Catalog
from scheduler import JobContext

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2022, 4, 12)
PER_HOUSEHOLD = 3
BUILDINGS_PER_COMPOUND = 6
COMPOUNDS_PER_COMMUNITY = 20
TG_BASE = 6_000_000_000
OFFICER_BASE = 5_900_000_000
GROUP_BASE = -1_007_000_000_000
RATES = (("free, 25/s (our pacing under 30/s)", 25.0), ("paid broadcast, 900/s", 900.0))


@dataclass
class City:
    residents: int
    compounds: int
    isolated: int
    notices: int
    round_people: int
    sample: int

    @property
    def communities(self) -> int:
        return max(1, self.compounds // COMPOUNDS_PER_COMMUNITY)


FULL = City(1_000_000, 3_000, 50_000, 200, 300_000, 300)
SMALL = City(10_000, 40, 500, 20, 5_000, 30)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), SHANGHAI)


class Steps:
    """Wall time per step, printed as it goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = timer.perf_counter()

    def done(self, name: str, since: float, detail: str = "") -> None:
        took = timer.perf_counter() - since
        self.seconds[name] = self.seconds.get(name, 0.0) + took
        print(f"  {name}: {took:.1f} s{(' — ' + detail) if detail else ''}", flush=True)


# ---------------------------------------------------------------- seeding


async def reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)


async def seed(engine: AsyncEngine, city: City, now: datetime) -> None:
    """Set-based: one statement per table (the ORM would take minutes for 1,000,000)."""
    households_total = -(-city.residents // PER_HOUSEHOLD)
    units_total = city.compounds * BUILDINGS_PER_COMPOUND
    per_unit = -(-households_total // units_total)
    async with engine.begin() as conn:
        # Communities: the model's defaults (ORM insert), 150 rows.
        from sqlalchemy import insert

        await conn.execute(
            insert(Community),
            [
                {"name": f"社区{c + 1:03d}", "created_at": now, "timezone": "Asia/Shanghai",
                 "locale": "zh-CN", "isolation_days": 14, "checkin_time": time(9, 0),
                 "reminder_times": ["12:00", "18:00"], "misses_for_case": 1,
                 "public_post_time": time(20, 0), "min_public_count": 3,
                 "case_realert_minutes": 30, "screening_period_days": 7, "fever_clinics": [],
                 "monitoring_rules": {}, "fever_threshold": 37.3}
                for c in range(city.communities)
            ],
        )  # fmt: skip
        statements = [
            "INSERT INTO compounds (community_id, name, property_managed) "
            "SELECT c.id, '小区' || g, true FROM communities c, "
            f"generate_series(1, {COMPOUNDS_PER_COMMUNITY}) g",
            "INSERT INTO buildings (compound_id, name) SELECT k.id, g || '栋' FROM compounds k, "
            f"generate_series(1, {BUILDINGS_PER_COMPOUND}) g",
            "INSERT INTO units (building_id, name) SELECT id, '1单元' FROM buildings",
            "INSERT INTO households (unit_id, room, landlord_rents_out) "
            f"SELECT u.id, (100 + g)::text, false FROM units u, generate_series(1, {per_unit}) g",
            # Households in order; the first `residents` people, 3 per household; the
            # head (member 1) has Telegram.
            "INSERT INTO persons (telegram_user_id, household_id, name, is_head, created_at) "
            f"SELECT CASE WHEN m = 1 THEN {TG_BASE} + h.rn END, h.id, '居民' || ((h.rn - 1) * "
            f"{PER_HOUSEHOLD} + m), m = 1, :now FROM (SELECT id, row_number() OVER (ORDER BY id)"
            f" AS rn FROM households) h, generate_series(1, {PER_HOUSEHOLD}) m "
            f"WHERE (h.rn - 1) * {PER_HOUSEHOLD} + m <= {city.residents}",
            "INSERT INTO group_chats (chat_id, compound_id, title, bound_at, active) "
            f"SELECT {GROUP_BASE} - id, id, '业主群' || id, :now, true FROM compounds",
            # Home isolation: heads spread evenly over the city, days 1-14.
            "INSERT INTO isolations (community_id, person_id, start_date, end_date, status, "
            "category, created_at) SELECT k.community_id, p.id, "
            "CAST(:day AS date) - (p.id % 7)::int, CAST(:day AS date) - (p.id % 7)::int + 13, "
            "'active', 'home_isolation', :now FROM "
            "(SELECT p.id, p.household_id, row_number() OVER (ORDER BY p.id) AS rn "
            " FROM persons p WHERE p.telegram_user_id IS NOT NULL) p "
            "JOIN households h ON h.id = p.household_id JOIN units u ON u.id = h.unit_id "
            "JOIN buildings b ON b.id = u.building_id JOIN compounds k ON k.id = b.compound_id "
            f"WHERE p.rn % {max(1, households_total // city.isolated)} = 0 "
            f"AND p.rn <= {max(1, households_total // city.isolated)} * {city.isolated}",
            # An officer per community (a community-wide grant).
            "INSERT INTO persons (telegram_user_id, name, is_head, created_at) "
            f"SELECT {OFFICER_BASE} + id, '干事' || id, false, :now FROM communities",
            "INSERT INTO role_grants (person_id, role, scope_type, scope_id, granted_at) "
            "SELECT p.id, 'officer', 'community', p.telegram_user_id - "
            f"{OFFICER_BASE}, :now FROM persons p WHERE p.telegram_user_id > {OFFICER_BASE} "
            f"AND p.telegram_user_id < {TG_BASE}",
        ]
        for statement in statements:
            await conn.execute(text(statement), {"now": now, "day": DAY})
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))


# ---------------------------------------------------------------- the day


async def round_communities(session: AsyncSession, city: City) -> list[int]:
    """The first communities whose people add up to the round's size."""
    rows = (
        await session.execute(
            text(
                "SELECT k.community_id, count(*) FROM persons p JOIN households h ON h.id ="
                " p.household_id JOIN units u ON u.id = h.unit_id JOIN buildings b ON b.id ="
                " u.building_id JOIN compounds k ON k.id = b.compound_id"
                " GROUP BY k.community_id ORDER BY k.community_id"
            )
        )
    ).all()
    chosen, total = [], 0
    for community_id, people in rows:
        if total >= city.round_people:
            break
        chosen.append(int(community_id))
        total += int(people)
    return chosen


async def announce_rounds(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, catalog: Catalog, city: City
) -> tuple[int, int, int]:
    expected = groups = households = 0
    async with sessionmaker() as session:
        chosen = await round_communities(session, city)
    for community_id in chosen:
        async with sessionmaker.begin() as session:
            community = await session.get(Community, community_id)
            assert community is not None
            buildings = (
                await session.scalars(
                    select(Building.id)
                    .join(Compound, Compound.id == Building.compound_id)
                    .where(Compound.community_id == community_id)
                    .order_by(Building.id)
                )
            ).all()
            spec = rounds.RoundSpec(
                day=DAY, required="everyone", scope_type="community", scope_ids=[community_id]
            )
            for i, building_id in enumerate(buildings):
                starts = 8 + (i * 9) // len(buildings)  # slots from 08:00 to 17:00
                spec.slots[building_id] = rounds.SlotSpec(
                    building_id, time(starts), time(starts + 1), "小区广场"
                )
            rnd = await rounds.create_round(session, clock, community=community, spec=spec, by=None)
            e, g, h = await rounds.announce(session, clock, catalog, rnd=rnd, by=None)
            expected, groups, households = expected + e, groups + g, households + h
    return expected, groups, households


async def send_notices(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, catalog: Catalog, city: City
) -> int:
    """200 notices between 08:00 and 20:00: 90 % to one compound, 10 % community-wide."""
    rng = random.Random(17)
    async with sessionmaker() as session:
        compounds = (await session.execute(select(Compound.id, Compound.community_id))).all()
    queued = 0
    for n in range(city.notices):
        clock.set(at(8) + timedelta(seconds=n * 12 * 3600 // city.notices))
        compound_id, community_id = rng.choice(compounds)
        whole = n % 10 == 9
        audience = notices.Audience(
            compound_ids=() if whole else (int(compound_id),), residents=True
        )
        async with sessionmaker.begin() as session:
            identity = await load_identity(session, OFFICER_BASE + int(community_id))
            before = await _last_id(session)
            await notices.create_notice(
                session, clock, identity=identity, community_id=int(community_id),
                text=f"通知 {n + 1}：明日停水，请提前储水。", audience=audience, catalog=catalog,
            )  # fmt: skip
            queued += await _count_since(session, before)
    return queued


async def _last_id(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT max(id) FROM deliveries")) or 0)


async def _count_since(session: AsyncSession, last_id: int) -> int:
    """Deliveries added after `last_id` (a range of the primary key: counting the whole
    outbox per notice took 100 s of the day)."""
    query = text("SELECT count(*) FROM deliveries WHERE id > :last")
    return int(await session.scalar(query, {"last": last_id}) or 0)


async def analyze(engine: AsyncEngine, *tables: str) -> None:
    """Fresh planner statistics after a bulk load: the seeding and the round's 400,000
    rows land faster than autovacuum notices, and plans made on an empty table's
    statistics (a nested loop over "0 rows") stay wrong for the rest of the day."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"ANALYZE {', '.join(tables)}"))


async def answer_sample(url: str, clock: FakeClock, city: City) -> tuple[int, float, int]:
    """A sample of check-in prompts answered through the handler path: the prompt is
    sent (over HTTP to the double), the resident presses its first button, the update
    goes through the real dispatcher. Returns (answered, answers/s, replies seen)."""
    from aiogram.methods import SendMessage

    from bot.app import Application

    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    settings = Settings(
        _env_file=None, bot_token=SecretStr(TOKEN), database_url=url,
        telegram_api_base=double.base_url, redis_url=None,
    )  # type: ignore[call-arg]  # fmt: skip
    app = await Application.create(settings, clock, migrate=False)
    try:
        await app.prepare()
        async with app.sessionmaker.begin() as session:
            prompts = (
                await session.execute(
                    select(Delivery.id, Delivery.chat_id, Delivery.payload)
                    .where(Delivery.kind == "checkin_prompt", Delivery.status == "pending")
                    .order_by(Delivery.id)
                    .limit(city.sample)
                )
            ).all()
            # These go out now (for real, to the double); the rest is simulated.
            await session.execute(
                text("UPDATE deliveries SET status = 'sent', sent_at = :now WHERE id = ANY(:ids)"),
                {"now": clock.now(), "ids": [p.id for p in prompts]},
            )
        presses = []
        for _, chat_id, payload in prompts:
            user = double.user(chat_id, f"R{chat_id}")
            double.private_chat(user)
            double.started.add(chat_id)
            await app.bot(SendMessage(chat_id=chat_id, **payload))
            message = double.messages(chat_id)[-1]
            data = message.reply_markup["inline_keyboard"][0][0]["callback_data"]  # type: ignore[index]
            presses.append(double.press(user, message, data))
        mark = double.mark()
        started = timer.perf_counter()
        for update in presses:
            await app.dispatcher.feed_update(app.bot, update)
        seconds = timer.perf_counter() - started
        replies = sum(1 for c in double.calls if c.seq >= mark)
        async with app.sessionmaker() as session:
            answered = await session.scalar(
                text(
                    "SELECT count(*) FROM checkins c JOIN deliveries d ON d.checkin_id = c.id"
                    " WHERE d.id = ANY(:ids) AND c.status = 'answered'"
                ),
                {"ids": [p.id for p in prompts]},
            )
    finally:
        await app.close()
        await double.stop()
    return int(answered or 0), len(presses) / seconds if seconds else 0.0, replies


async def answer_bulk(engine: AsyncEngine, share: float, now: datetime) -> int:
    """The bulk of the answers (not through Telegram): `share` of today's open rows."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "UPDATE checkins SET status = 'answered', temperature = 36.5, answered_at = :now"
                " WHERE day = :day AND status = 'pending' AND (id * 7919) % 1000 < :cut"
            ),
            {"now": now, "day": DAY, "cut": int(share * 1000)},
        )
        return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- timeline


@dataclass
class Timeline:
    rate: float
    last_prompt: float  # seconds since 00:00 local
    last_any: float
    peak_backlog: int
    peak_at: float
    by_kind_done: dict[str, float]


def drain(arrivals: dict[int, Counter[str]], rate: float) -> Timeline:
    """First in, first out at `rate` per second (the sender claims by not_before, id):
    per second of the day, what arrived joins the queue and `rate` leave it."""
    queue: list[tuple[str, float]] = []  # (kind, count) in arrival order
    head = 0
    backlog = 0.0
    peak, peak_at = 0.0, 0.0
    done: dict[str, float] = {}
    t = min(arrivals)
    end = max(arrivals)
    while t <= end or head < len(queue):
        for kind, n in sorted(arrivals.get(t, Counter()).items()):
            queue.append((kind, float(n)))
            backlog += n
        if backlog > peak:
            peak, peak_at = backlog, t
        budget = rate
        while budget > 0 and head < len(queue):
            kind, n = queue[head]
            take = min(n, budget)
            budget -= take
            backlog -= take
            if take >= n:
                head += 1
                done[kind] = t + (take / rate)
            else:
                queue[head] = (kind, n - take)
        t += 1
    prompt = max((v for k, v in done.items() if k.startswith("checkin")), default=0.0)
    return Timeline(rate, prompt, max(done.values()), int(peak), peak_at, done)


def clock_of(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{'+' + str(days) + 'd ' if days else ''}{h:02d}:{m:02d}:{s:02d}"


async def arrivals_of(engine: AsyncEngine) -> tuple[dict[int, Counter[str]], Counter[str]]:
    midnight = datetime.combine(DAY, time(0), SHANGHAI)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT kind, floor(extract(epoch FROM not_before - :midnight))::int, count(*)"
                    " FROM deliveries WHERE status = 'pending' GROUP BY 1, 2"
                ),
                {"midnight": midnight},
            )
        ).all()
    arrivals: dict[int, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for kind, second, count in rows:
        arrivals[int(second)][str(kind)] += int(count)
        totals[str(kind)] += int(count)
    return arrivals, totals


# ---------------------------------------------------------------- main


async def run(url: str, city: City, label: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    steps = Steps()
    await ensure_database(url)
    engine = create_engine(url, pool_size=5, max_overflow=5)
    if engine.dialect.name != "postgresql":
        sys.exit("bench.city needs PostgreSQL (--database-url postgresql+asyncpg://…)")
    sessionmaker = create_sessionmaker(engine)
    catalog = Catalog()
    clock = FakeClock(at(6))
    print(
        f"city ({label}): {city.residents:,} residents, {city.compounds:,} compounds in "
        f"{city.communities} communities, {city.isolated:,} in home isolation, "
        f"{city.notices} notices, a testing round for {city.round_people:,}",
        flush=True,
    )
    since = timer.perf_counter()
    await reset(engine)
    await seed(engine, city, clock.now())
    async with engine.connect() as conn:
        counts = {
            t: int(await conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0)
            for t in ("persons", "households", "isolations", "group_chats")
        }
    steps.done(
        "seed (set-based SQL)",
        since,
        f"{counts['persons']:,} persons, {counts['households']:,} households, "
        f"{counts['isolations']:,} isolations, {counts['group_chats']:,} groups",
    )
    ctx = JobContext(sessionmaker, clock, Settings(_env_file=None), catalog)  # type: ignore[call-arg]
    from scheduler.checkins import checkin_tick
    from scheduler.rounds import testing_rounds

    clock.set(at(7))
    since = timer.perf_counter()
    expected, groups, households = await announce_rounds(sessionmaker, clock, catalog, city)
    steps.done(
        "testing round: create + announce",
        since,
        f"{expected:,} people expected, {groups} group posts, {households:,} household messages",
    )
    since = timer.perf_counter()
    await analyze(engine, "round_people", "deliveries", "test_rounds", "round_slots")
    steps.done("ANALYZE after the round's bulk rows", since)
    clock.set(at(9))
    since = timer.perf_counter()
    await checkin_tick(ctx)
    steps.done("09:00 check-in tick (rows + prompts)", since)
    since = timer.perf_counter()
    answered, per_second, replies = await answer_sample(url, clock, city)
    steps.done(
        "check-in answers, handler path (sample)",
        since,
        f"{answered}/{city.sample} answered, {per_second:.0f} answers/s, {replies} Bot API calls",
    )
    since = timer.perf_counter()
    bulk = await answer_bulk(engine, 0.8, at(11))
    steps.done("check-in answers, bulk (one UPDATE)", since, f"{bulk:,} answered by noon")
    since = timer.perf_counter()
    for half_hours in range(13 * 2 + 1):  # 07:00 … 20:00, every 30 minutes
        clock.set(at(7) + timedelta(minutes=30 * half_hours))
        await testing_rounds(ctx)
    steps.done("testing-round tick every 30 min (slot reminders)", since)
    since = timer.perf_counter()
    clock.set(at(12))
    await checkin_tick(ctx)
    await answer_bulk(engine, 0.5, at(15))
    clock.set(at(18))
    await checkin_tick(ctx)
    steps.done("12:00 and 18:00 check-in ticks (reminders)", since)
    since = timer.perf_counter()
    queued = await send_notices(sessionmaker, clock, catalog, city)
    steps.done(f"{city.notices} notices (create_notice)", since, f"{queued:,} deliveries")

    since = timer.perf_counter()
    arrivals, totals = await arrivals_of(engine)
    async with engine.connect() as conn:
        size = int(await conn.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    steps.done("timeline query", since)
    total = sum(totals.values())
    print(f"\nqueued for the day: {total:,} messages")
    for kind, n in totals.most_common():
        print(f"  {kind:<16} {n:>9,}")
    print(f"database size: {size / 2**20:,.0f} MiB (pg_database_size)")
    for name, rate in RATES:
        tl = drain(arrivals, rate)
        print(
            f"timeline at {name}: last check-in prompt/reminder out {clock_of(tl.last_prompt)},"
            f" last message out {clock_of(tl.last_any)}, backlog peak {tl.peak_backlog:,}"
            f" at {clock_of(tl.peak_at)}"
        )
        for kind, finished in sorted(tl.by_kind_done.items(), key=lambda kv: kv[1]):
            print(f"    {kind:<16} done {clock_of(finished)}")
    wall = timer.perf_counter() - steps.started
    top = max(steps.seconds.items(), key=lambda kv: kv[1])
    print(
        f"dominant step: {top[0]} ({top[1]:.1f} s of {wall:.1f} s wall); "
        f"sending dominates the day: {total / 25 / 3600:.1f} h at 25/s, "
        f"{total / 900 / 60:.0f} min at 900/s"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CG_CITY_DATABASE_URL")
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/cg_city",
        help="a scratch PostgreSQL database (its schema is dropped); default cg_city",
    )
    parser.add_argument("--small", action="store_true", help="1/100 of the city (CI, < 60 s)")
    args = parser.parse_args()
    city, label = (SMALL, "small") if args.small else (FULL, "full")
    asyncio.run(run(args.database_url, city, label))


if __name__ == "__main__":
    main()
