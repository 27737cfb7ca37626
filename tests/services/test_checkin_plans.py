"""The check-in tick's plans on PostgreSQL (issue 17): run for one community of a
database that holds twenty others (10,000 isolations, 40,000 check-in rows, 10,000
prompts), every statement of the run that reads isolations is EXPLAINed with the
values it ran with. None may scan a big table whole, and the key lookups (the day's
rows, the prompts, the cancelled prompts, the reminders, the unreachable people, the
missed streaks) must start from the community's isolations by `ix_isolations_community`
(before it and the LATERAL lookups, each of the city's 150 communities scanned them:
the tick took minutes). SQLite has no such planner: skipped there."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Community
from bot.services.checkins import run_for_community
from messages import Catalog
from scheduler.checkins import _custom_plans
from tests.support.community import SeededCommunity

TODAY = date(2022, 3, 10)
OTHERS, PER_OTHER, OURS = 20, 500, 30
BIG = {"isolations", "checkins", "deliveries", "persons"}


async def _fill(engine: AsyncEngine, community: SeededCommunity, clock: FakeClock) -> None:
    """Twenty other communities with 500 isolations each (three past days missed,
    today's row pending and prompted); ours with 30 isolations since three days ago
    and no rows yet, one of them unreachable."""
    start = TODAY - timedelta(3)
    created = clock.now() - timedelta(days=3)
    params = {"cid": community.community_id, "start": start, "today": TODAY, "at": created}
    columns = ", ".join(c.name for c in Community.__table__.columns if c.name not in ("id", "name"))
    household = min(community.households.values())
    statements = [
        f"INSERT INTO communities (name, {columns}) SELECT name || g, {columns} "
        f"FROM communities, generate_series(1, {OTHERS}) g WHERE id = :cid",
        "INSERT INTO persons (telegram_user_id, household_id, name, is_head, created_at, "
        f"unreachable_since) SELECT 7000000000 + g, {household}, '居民' || g, true, :at, "
        f"CASE WHEN g = {OTHERS * PER_OTHER + 1} THEN CAST(:at AS TIMESTAMPTZ) END "
        f"FROM generate_series(1, {OTHERS * PER_OTHER + OURS}) g",
        "INSERT INTO isolations (community_id, person_id, start_date, end_date, status, "
        "category, created_at) SELECT CASE WHEN p.telegram_user_id > "
        f"7000000000 + {OTHERS * PER_OTHER} THEN :cid ELSE (SELECT min(id) FROM communities "
        f"WHERE id <> :cid) + p.telegram_user_id % {OTHERS} END, p.id, :start, "
        "CAST(:start AS DATE) + 13, 'active', 'home_isolation', :at "
        "FROM persons p WHERE p.telegram_user_id > 7000000000",
        "INSERT INTO checkins (isolation_id, day, day_number, status, symptoms, "
        "reminders_sent, created_at) SELECT i.id, i.start_date + g, g + 1, 'missed', "
        "CAST('[]' AS JSON), 0, :at FROM isolations i, generate_series(0, 2) g "
        "WHERE i.community_id <> :cid",
        "INSERT INTO deliveries (kind, chat_id, is_group, method, payload, dedup_key, "
        "checkin_id, person_id, pin, status, attempts, not_before, created_at) "
        "SELECT 'checkin_prompt', p.telegram_user_id, false, 'sendMessage', "
        "CAST('{}' AS JSON), 'checkin:' || c.id || '\\:prompt', c.id, p.id, false, 'pending', "
        "0, :at, :at FROM checkins c JOIN isolations i ON i.id = c.isolation_id "
        "JOIN persons p ON p.id = i.person_id",
    ]
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement), params)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    # Today's rows of the others after the statistics, as in the tick: the planner
    # knows of no row of today (the day lies past its histogram).
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO checkins (isolation_id, day, day_number, status, symptoms, "
                "reminders_sent, created_at) SELECT i.id, :today, 4, 'pending', "
                "CAST('[]' AS JSON), 0, :at FROM isolations i WHERE i.community_id <> :cid"
            ),
            params,
        )


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_the_ticks_lookups_use_the_community_index_and_scan_no_big_table(
    database_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("plans are PostgreSQL's")
    await _fill(engine, community, clock)
    ran: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "isolations" in statement and not statement.lstrip().startswith("SET"):
            ran.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        for hour in (9, 12):  # the rows, misses and prompts; then the reminders
            clock.set(clock.now().replace(hour=hour, minute=5))
            async with sessionmaker.begin() as session:
                await _custom_plans(session)
                c = await session.get(Community, community.community_id)
                assert c is not None
                run = await run_for_community(session, clock, catalog, c)
                if hour == 9:
                    assert (run.created, run.missed, run.prompted) == (4 * OURS, 3 * OURS, OURS)
                    assert len(run.cases) == OURS + 1  # 30 missed streaks, 1 unreachable
                else:
                    assert run.reminded == OURS
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)

    plans: dict[str, list[dict[str, Any]]] = {}
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        for statement, parameters in ran:
            explained = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
            raw = explained.scalar_one()
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            plans[statement] = _nodes(plan)

    def whole(node: dict[str, Any]) -> bool:
        """A scan of a big table that is not a lookup: a sequential scan, an index
        walked from end to end (for a merge join), or the day's rows per isolation."""
        if node.get("Index Name") == "ix_checkins_day_status":
            return True
        if node.get("Relation Name") not in BIG:
            return False
        kind = node["Node Type"]
        return kind == "Seq Scan" or (kind.startswith("Index") and "Index Cond" not in node)

    scans = {
        " ".join(statement.split())[:100]: node.get("Relation Name") or node.get("Index Name")
        for statement, nodes in plans.items()
        for node in nodes
        if whole(node)
    }
    assert not scans, f"whole-table scans: {scans}"

    def uses_index(marker: str) -> bool:
        matching = [nodes for statement, nodes in plans.items() if marker in statement]
        assert matching, f"no statement with {marker!r} ran"
        return all(
            any(node.get("Index Name") == "ix_isolations_community" for node in nodes)
            for nodes in matching
        )

    for marker in (
        "array_agg(i.id",  # the rows due
        "array_agg(c.id",  # the prompts due
        "UPDATE checkins SET status",  # past days missed
        "UPDATE deliveries SET status",  # their prompts cancelled
        "AS day_rows",  # reminders, prompts without Telegram, missed streaks
        "AS person",  # unreachable people
    ):
        assert uses_index(marker), f"{marker!r} does not use ix_isolations_community"
