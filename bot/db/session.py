"""Engine and session factory; SQLite gets foreign keys and WAL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session

from bot.logsafety import quiet_personal_loggers


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Build the async engine for a URL. For a SQLite file, its folder is created."""
    url = make_url(database_url)
    # Never let a bound value (a name, a phone, a temperature) reach a log or an error
    # message (logsafety).
    kwargs.setdefault("hide_parameters", True)
    quiet_personal_loggers()
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if url.get_driver_name() == "asyncpg":
        # No JIT: the bot's statements are short, and a batch whose row estimate is
        # inflated (generate_series counts 1,000 rows a call) paid 0.3-1.6 s compiling
        # a statement that runs in milliseconds (issue 13).
        kwargs.setdefault("connect_args", {"server_settings": {"jit": "off"}})
    # No ping on every checkout (a round trip per update): only a connection that sat
    # idle in the pool is checked; a dead one is replaced by the pool (see below).
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 30.0


def _ping_when_idle(engine: AsyncEngine, idle: float = IDLE_PING_SECONDS) -> None:
    """Busy connections are known alive; one idle for `idle` seconds (the server may
    have restarted or dropped it) is pinged at checkout, and if the ping fails the
    pool discards it and retries with a fresh connection (DisconnectionError). A
    connection that dies while in use fails that statement; SQLAlchemy then
    invalidates the whole pool, so the next update gets fresh connections."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    def checkin(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle:
            return
        try:
            alive = dialect.do_ping(dbapi)
        except Exception as exc:
            raise DisconnectionError("idle connection is gone") from exc
        if not alive:
            raise DisconnectionError("idle connection is gone")

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the sender read while a handler writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # With WAL, NORMAL is durable across a process crash (kill -9); only an OS crash or
    # power loss can drop the last commits. It makes commits an order of magnitude cheaper.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: `Session.info` key: the id of the bot this process is (Settings.bot_id). The outbox
#: stamps it on the rows it adds and the inbox keys updates by it, so several bots (one
#: per district) can share one database.
BOT_ID = "bot_id"


def create_sessionmaker(
    engine: AsyncEngine, *, bot_id: int = 0, communities: frozenset[int] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions of one bot (`bot_id`; 0: none). With `communities`, every ORM query of
    these sessions sees only those communities' rows (`_serving_only`): the scheduler of
    a district's bot never reads (and so never works for) another district."""
    info = {BOT_ID: bot_id} if bot_id else {}
    if communities is None:
        return async_sessionmaker(engine, expire_on_commit=False, info=info)
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        info=info,
        sync_session_class=_serving_only(communities),
    )


def database_wide(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions of the same engine and bot without a district's COMMUNITIES filter, for
    the work that belongs to the database rather than to a district: the retention
    purge (its day is recorded once for the database, so it must purge every community)."""
    return async_sessionmaker(
        sessionmaker.kw["bind"],
        expire_on_commit=False,
        info=dict(sessionmaker.kw.get("info") or {}),
    )


def bot_of(session: AsyncSession) -> int | None:
    """The bot of this session (see BOT_ID), or None."""
    return session.info.get(BOT_ID) or None


def _serving_only(communities: frozenset[int]) -> type[Session]:
    """A Session class whose ORM SELECTs (session.get included) carry "community in
    `communities`" for `Community` and every model with a `community_id` column
    (compounds, grids, isolations, cases, notices, rounds, …): a query joining through a
    compound or a community sees only this bot's. Core statements on a connection are not
    filtered (the per-community code they belong to is already scoped)."""
    from sqlalchemy.orm import with_loader_criteria

    from bot.db.models import Base, Community

    ids = sorted(communities)
    scoped = [
        mapper.class_
        for mapper in Base.registry.mappers
        if "community_id" in mapper.columns and mapper.class_ is not Community
    ]
    options = [
        with_loader_criteria(Community, lambda cls: cls.id.in_(ids), include_aliases=True),
        *(
            with_loader_criteria(model, lambda cls: cls.community_id.in_(ids), include_aliases=True)
            for model in scoped
        ),
    ]

    class ServingSession(Session):
        pass

    @event.listens_for(ServingSession, "do_orm_execute")
    def _only_ours(state: ORMExecuteState) -> None:
        if state.is_select and not state.is_column_load and not state.is_relationship_load:
            state.statement = state.statement.options(*options)

    return ServingSession
