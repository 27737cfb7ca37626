"""Engine and session factory; SQLite gets foreign keys and WAL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

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
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


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


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
