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

#: The slowest test modules, slowest first (`scripts/test --durations=60`, 2026-11-30):
#: they run first, so that the xdist workers end together instead of one of them
#: running a long module alone at the end (test_benches alone takes minutes).
#: The other modules keep their order.
SLOW_FIRST: tuple[str, ...] = (
    "tests/test_benches.py",
    "tests/test_deploy.py",
    "tests/core/test_graceful_stop.py",
    "tests/conversations/test_role_matrix.py",
    "tests/test_goldens.py",
    "tests/scale/test_failover.py",
    "tests/scale/test_outages.py",
    "tests/test_sandbox.py",
    "tests/core/test_faults_resident.py",
    "tests/core/test_faults_cases.py",
    "tests/conversations/test_sealed_building_acceptance.py",
    "tests/conversations/test_metrics.py",
    "tests/conversations/test_rounds_flow.py",
    "tests/conversations/test_isolation_walk.py",
    "tests/conversations/test_monitoring_import.py",
)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: index for index, module in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite tests/golden/<locale>/<key>.txt from the templates before comparing",
    )
