"""Shared fixtures: a real database per test, an injected clock, a seeded community,
and (in tests/conversations) the real bot talking HTTP to the Bot API test double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.session import create_engine, create_sessionmaker
from messages import Catalog
from tests.support.community import SeededCommunity, seed_community
from tests.support.database import TestDatabases

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session")
def test_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    databases = TestDatabases(tmp_path_factory.mktemp("db"))
    databases.setup()
    yield databases
    databases.teardown()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
async def database_url(test_databases: TestDatabases, tmp_path: Path) -> str:
    return await test_databases.fresh(tmp_path)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def clock() -> FakeClock:
    # A Thursday morning in March 2022, the period of the plan.
    return FakeClock(datetime(2022, 3, 10, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
async def community(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> SeededCommunity:
    return await seed_community(sessionmaker, clock)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite tests/golden/<locale>/<key>.txt from the templates before comparing",
    )
