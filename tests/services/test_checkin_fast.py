"""The check-in answer fast path's statement (bot/services/checkin_fast.py) on its own:
a pooled connection that died is retried on a fresh one (also when every pooled
connection died with a restarted server), a press it does not take writes nothing, and
its audit entries join the hash chain as the general path's do. PostgreSQL only (SQLite
has no fast path), but for the chain test's general path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, CheckIn, CheckInStatus, Person
from bot.db.session import create_engine
from bot.services import audit, checkin_fast
from bot.services.checkin_answers import answer_checkin
from bot.services.checkin_fast import POOL_SIZE, FastAnswer, FastAnswers
from messages import Catalog
from tests.support.community import SeededCommunity
from tests.support.isolation import seed_isolated
from tests.support.tcpproxy import TcpFaultProxy

USER = 5001


@pytest.fixture
async def fast(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[FastAnswers]:
    answers = FastAnswers(engine, clock)
    yield answers
    await answers.close()


async def _pending_checkin(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> int:
    iso = await seed_isolated(
        sessionmaker, clock, community, telegram_id=USER, name="张三", start=date(2022, 3, 10)
    )
    async with sessionmaker.begin() as session:
        checkin = CheckIn(
            isolation_id=iso.isolation_id,
            day=date(2022, 3, 10),
            day_number=1,
            status=CheckInStatus.PENDING,
            created_at=clock.now(),
        )
        session.add(checkin)
        await session.flush()
        return checkin.id


async def _kill_pooled(fast: FastAnswers, database_url: str, connections: int) -> None:
    """Open `connections` connections of the fast path's pool, return them to the pool,
    and end their server processes (as a restarted server or a proxy's idle timeout
    would)."""
    pool = await fast.pool()
    held = [await pool.acquire() for _ in range(connections)]
    pids = [await conn.fetchval("SELECT pg_backend_pid()") for conn in held]
    for conn in held:
        await pool.release(conn)
    admin = create_engine(database_url)
    async with admin.connect() as conn:
        for pid in pids:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await admin.dispose()


@pytest.mark.parametrize("how", ["terminated", "terminated_all", "cut_in_use"])
async def test_a_dead_pooled_connection_is_replaced_or_retried_on_a_fresh_one(
    how: str,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    """Server processes ended while their connections sat in the pool (one, or all:
    a restarted server): asyncpg sees them closed and the pool opens fresh ones. A
    connection cut without the client having noticed yet (a proxy dropping it): the
    call fails, the pool's connections are expired and the press is tried once more."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the fast path is PostgreSQL's")
    clock.set(clock.now().replace(hour=9, minute=5))
    checkin_id = await _pending_checkin(sessionmaker, clock, community)
    url = make_url(database_url)
    proxy = TcpFaultProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    engine = create_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    fast = FastAnswers(engine, clock)
    try:
        if how == "cut_in_use":
            # A press it leaves alone opens (and prepares on) a pooled connection.
            assert await fast.record(update_id=9, user_id=USER + 1, checkin_id=checkin_id) is None
            proxy.cut()
            proxy.restore()
        else:
            await _kill_pooled(fast, database_url, 1 if how == "terminated" else POOL_SIZE)
        found = await fast.record(update_id=1, user_id=USER, checkin_id=checkin_id)
        assert found == FastAnswer(locale=None, own=True, name="张三")
        assert fast.recorded == 1
        # Seen closed in the pool (replaced, no retry) or at the call (one retry): which
        # one depends on when the end reaches the client; a cut in use is always retried.
        assert fast.retries == 1 if how == "cut_in_use" else fast.retries <= 1
        # Pressed again (Telegram re-sent it, or a second tap): nothing more is written.
        assert await fast.record(update_id=2, user_id=USER, checkin_id=checkin_id) is None
    finally:
        await fast.close()
        await engine.dispose()
        await proxy.stop()
    async with sessionmaker() as session:
        checkin = await session.get(CheckIn, checkin_id)
        assert checkin is not None and checkin.status == CheckInStatus.ANSWERED
        assert checkin.answered_at == clock.now()
        audits = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity == "checkin", AuditEntry.entity_id == checkin_id)
        )
        assert audits == 1


async def test_someone_elses_or_another_days_checkin_is_left_to_the_general_path(
    database_url: str,
    fast: FastAnswers,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the fast path is PostgreSQL's")
    checkin_id = await _pending_checkin(sessionmaker, clock, community)
    assert await fast.record(update_id=1, user_id=USER + 1, checkin_id=checkin_id) is None
    assert await fast.record(update_id=2, user_id=USER, checkin_id=checkin_id + 1) is None
    clock.set(clock.now().replace(day=11))  # the next day: that check-in is over
    assert await fast.record(update_id=3, user_id=USER, checkin_id=checkin_id) is None
    assert fast.recorded == 0 and fast.statements == 3
    async with sessionmaker() as session:
        checkin = await session.get(CheckIn, checkin_id)
        assert checkin is not None and checkin.status == CheckInStatus.PENDING
        assert not await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "checkin")
        )


async def _pending_checkins(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    count: int,
) -> list[tuple[int, int]]:
    """`count` residents in isolation, each with a pending check-in today: (user, id)."""
    people = []
    for n, household in enumerate(sorted(community.households)[:count]):
        iso = await seed_isolated(
            sessionmaker, clock, community, telegram_id=USER + 100 + n, name=f"住户{n}",
            household=household, start=date(2022, 3, 10), language="en" if n % 2 else None,
        )  # fmt: skip
        async with sessionmaker.begin() as session:
            checkin = CheckIn(
                isolation_id=iso.isolation_id, day=date(2022, 3, 10), day_number=1,
                status=CheckInStatus.PENDING, created_at=clock.now(),
            )  # fmt: skip
            session.add(checkin)
            await session.flush()
            people.append((USER + 100 + n, checkin.id))
    return people


async def test_answers_by_either_path_join_the_audit_chain(
    database_url: str,
    fast: FastAnswers,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    """Every `checkin.answer` entry is hashed into the chain and belongs to the
    check-in's community, whichever path wrote it, also with the fast path's statements
    and general-path answers running at the same time (PostgreSQL; SQLite: the general
    path, one after another). `audit verify` then finds the chain whole."""
    clock.set(clock.now().replace(hour=9, minute=5))
    people = await _pending_checkins(sessionmaker, clock, community, 6)
    catalog = Catalog()

    async def general(user_id: int, checkin_id: int) -> None:
        async with sessionmaker.begin() as session:
            actor = await session.scalar(select(Person).where(Person.telegram_user_id == user_id))
            assert actor is not None
            await answer_checkin(session, clock, catalog, checkin_id=checkin_id, actor=actor)

    async def by_fast_path(user_id: int, checkin_id: int) -> None:
        found = await fast.record(update_id=checkin_id, user_id=user_id, checkin_id=checkin_id)
        assert found is not None

    if fast.enabled:
        await asyncio.gather(
            *(
                (by_fast_path if n % 2 else general)(user_id, checkin_id)
                for n, (user_id, checkin_id) in enumerate(people)
            )
        )
    else:
        for user_id, checkin_id in people:
            await general(user_id, checkin_id)
    async with sessionmaker() as session:
        entries = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "checkin.answer"))
        )
        assert len(entries) == len(people)
        assert {e.community_id for e in entries} == {community.community_id}
        assert all(e.row_hash and e.prev_hash for e in entries)
        assert await audit.verify(session) == audit.Verification(True, await _audit_rows(session))


async def _audit_rows(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def test_presses_arriving_together_share_one_call_and_each_gets_its_own_answer(
    database_url: str,
    fast: FastAnswers,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    """Presses handled in the same turn of the event loop go out in one call (one
    transaction, one WAL flush): each is decided on its own — recorded, someone else's
    check-in refused, the second of two presses on one check-in refused — and the
    entries join the chain in the order the presses arrived, whole."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the fast path is PostgreSQL's")
    clock.set(clock.now().replace(hour=9, minute=5))
    people = await _pending_checkins(sessionmaker, clock, community, 5)
    (u0, c0), (u1, c1), (u2, c2), (u3, c3), (u4, c4) = people
    presses = [
        (u3, c3), (u0, c0), (u1, c2),  # u1 presses u2's check-in: not theirs
        (u4, c4), (u0, c0),  # u0 again, same check-in: the second is refused
        (u1, c1),
    ]  # fmt: skip
    found = await asyncio.gather(
        *(
            fast.record(update_id=100 + n, user_id=user, checkin_id=checkin)
            for n, (user, checkin) in enumerate(presses)
        )
    )
    assert found == [
        FastAnswer(locale="en", own=True, name="住户3"),
        FastAnswer(locale=None, own=True, name="住户0"),
        None,
        FastAnswer(locale=None, own=True, name="住户4"),
        None,
        FastAnswer(locale="en", own=True, name="住户1"),
    ]
    assert fast.statements == 1 and fast.presses_sent == len(presses) and fast.recorded == 4
    async with sessionmaker() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "checkin.answer")
                .order_by(AuditEntry.id)
            )
        )
        assert [e.entity_id for e in entries] == [c3, c0, c4, c1]
        assert [e.actor_telegram_id for e in entries] == [u3, u0, u4, u1]
        assert all(e.at == clock.now() for e in entries)
        rows = await session.execute(
            select(CheckIn.id, CheckIn.status).where(CheckIn.id.in_([c0, c1, c2, c3, c4]))
        )
        statuses = {row.id: row.status for row in rows}
        assert statuses == {
            c0: CheckInStatus.ANSWERED, c1: CheckInStatus.ANSWERED, c2: CheckInStatus.PENDING,
            c3: CheckInStatus.ANSWERED, c4: CheckInStatus.ANSWERED,
        }  # fmt: skip
        assert await audit.verify(session) == audit.Verification(True, await _audit_rows(session))
    # Alone again: a press on its own goes out at once, in a call of its own.
    assert await fast.record(update_id=200, user_id=u2, checkin_id=c2) == FastAnswer(
        locale=None, own=True, name="住户2"
    )
    assert fast.statements == 2 and fast.presses_sent == len(presses) + 1


async def test_a_batch_the_server_refuses_goes_to_the_general_path_whole(
    database_url: str,
    fast: FastAnswers,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call the server rolls back (here: a function it does not know; in life a
    deadlock or a timeout) writes nothing, and every press of it is left to the general
    path; a closed FastAnswers leaves no press waiting."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the fast path is PostgreSQL's")
    clock.set(clock.now().replace(hour=9, minute=5))
    people = await _pending_checkins(sessionmaker, clock, community, 3)
    monkeypatch.setattr(
        checkin_fast, "ANSWER_SQL", "SELECT * FROM pg_temp.no_such($1, $2, $3, $4, $5)"
    )
    found = await asyncio.gather(
        *(fast.record(update_id=n, user_id=u, checkin_id=c) for n, (u, c) in enumerate(people))
    )
    assert found == [None, None, None] and fast.statements == 1 and fast.recorded == 0
    async with sessionmaker() as session:
        assert not await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "checkin")
        )
    monkeypatch.undo()
    user, checkin_id = people[0]
    waiting = asyncio.ensure_future(fast.record(update_id=9, user_id=user, checkin_id=checkin_id))
    await asyncio.sleep(0)  # queued, the call not yet out
    await fast.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
