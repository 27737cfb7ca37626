"""Test databases: SQLite by default; PostgreSQL when CG_TEST_DATABASE_URL is set.

A template is migrated once per session: SQLite copies the file for each test,
PostgreSQL gets a database of its own per session (so parallel runs never collide)
and empties every table between tests with one script (one round trip: a DELETE per
table, children first, and every sequence back to its start), which is much quicker
than TRUNCATE on small tables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db.migrate import upgrade
from bot.db.models import Base
from bot.db.session import create_engine

PG_ENV = "CG_TEST_DATABASE_URL"
REDIS_ENV = "CG_TEST_REDIS_URL"


#: Empties every table (children before parents) and restarts every sequence.
RESET_SCRIPT = "".join(
    f'DELETE FROM "{table.name}";' for table in reversed(Base.metadata.sorted_tables)
) + (
    "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
    " FROM pg_sequences WHERE schemaname = current_schema();"
)


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()


class TestDatabases:
    """Hands out a fresh, migrated database URL for each test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pg_admin_url = pg_base_url()
        self.pg_url: str | None = None
        self.template: Path | None = None

    def setup(self) -> None:
        if self.pg_admin_url:
            # Named after the admin database when that is one's own (cg_<name>_*).
            admin = make_url(self.pg_admin_url).database or ""
            prefix = admin if admin.startswith("cg_") else "cg_test"
            name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            asyncio.run(self._pg_execute(f'CREATE DATABASE "{name}"'))
            self.pg_url = (
                make_url(self.pg_admin_url).set(database=name).render_as_string(hide_password=False)
            )
            asyncio.run(_migrate(self.pg_url))
        else:
            self.template = self.workdir / "template.sqlite"
            asyncio.run(_migrate(f"sqlite+aiosqlite:///{self.template}"))

    def teardown(self) -> None:
        if self.pg_url:
            name = make_url(self.pg_url).database
            asyncio.run(self._pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _pg_execute(self, statement: str) -> None:
        assert self.pg_admin_url
        engine = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    async def fresh(self, tmp_path: Path) -> str:
        if self.pg_url:
            # asyncpg itself: a script of several statements goes as one simple query,
            # in one implicit transaction.
            conn = await asyncpg.connect(
                make_url(self.pg_url).set(drivername="postgresql").render_as_string(False)
            )
            try:
                await conn.execute(RESET_SCRIPT)
            finally:
                await conn.close()
            return self.pg_url
        assert self.template is not None
        target = tmp_path / "test.sqlite"
        shutil.copyfile(self.template, target)
        return f"sqlite+aiosqlite:///{target}"
