"""Services of issue 14: re-matching a visit and running it twice, assignment-list
address matching, rule parsing, the gate's view of a household."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Community, Isolation, Person
from bot.services import assignments, monitoring, rematch, reports, risk_areas
from bot.services.errors import DomainError
from messages import Catalog
from tests.support.community import SeededCommunity


async def test_visit_rematched_once_and_expired_window_ignored(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    async with sessionmaker.begin() as session:
        host = Person(
            telegram_user_id=5001, household_id=community.household("阳光花园/1栋/1单元/101"),
            name="张三", is_head=True, created_at=clock.now(),
        )  # fmt: skip
        session.add(host)
        await session.flush()
        await reports.submit_visit(
            session, clock, catalog, reporter=host, visitor_name="李姑妈", visitor_phone=None,
            origin_code="310115", arrival_date=date(2022, 3, 8), stay_days=10,
        )  # fmt: skip
        # An area that ended before the arrival matches nothing.
        old = await risk_areas.add_risk_area(
            session, clock, community_id=community.community_id, actor=None,
            args=risk_areas.RiskAreaArgs("310100", "high", date(2022, 2, 1), date(2022, 3, 1)),
        )  # fmt: skip
        assert (
            await rematch.rematch_area(session, clock, catalog, area=old, actor=None)
        ).cases == []
        area = await risk_areas.add_risk_area(
            session, clock, community_id=community.community_id, actor=None,
            args=risk_areas.RiskAreaArgs("310100", "medium", date(2022, 3, 5), None),
        )  # fmt: skip
        first = await rematch.rematch_area(session, clock, catalog, area=area, actor=None)
        second = await rematch.rematch_area(session, clock, catalog, area=area, actor=None)
        assert (first.reports, first.isolations, len(first.cases)) == (1, 1, 1)
        assert (second.reports, len(second.cases)) == (0, 0)
        visitor = await session.scalar(select(Person).where(Person.name == "李姑妈"))
        assert visitor is not None and visitor.reported_by_id == host.id
        isolation = await session.scalar(select(Isolation).where(Isolation.person_id == visitor.id))
        assert isolation is not None and isolation.start_date == date(2022, 3, 8)
        assert len(list(await session.scalars(select(Case)))) == 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("阳光花园1栋1单元101", ["阳光花园/1栋/1单元/101"]),
        ("阳光花园 1号楼 2单元 302室", ["阳光花园/1栋/2单元/302"]),
        ("东湖社区阳光花园1幢1单元101", ["阳光花园/1栋/1单元/101"]),
        ("阳光花园2栋101", ["阳光花园/2栋/1单元/101", "阳光花园/2栋/2单元/101"]),
        ("幸福里A座1单元102", ["幸福里/A座/1单元/102"]),
        ("阳光花园1栋1单元909", []),
        ("月亮湾1栋1单元101", []),
    ],
)
async def test_address_matching(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    address: str,
    expected: list[str],
) -> None:
    async with sessionmaker() as session:
        register = await assignments._register(session, community.community_id)
    found = assignments._address_matches(register, address)
    assert sorted(found) == sorted(community.household(k) for k in expected)


async def test_rules_parsing_and_overrides(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> None:
    category, change = monitoring.parse_rule_change(
        "居家隔离", ["days=7", "tests=1，4，7", "go_out=否", "then=健康监测", "then_days=7"]
    )
    assert category == "home_isolation"
    assert change == {"days": 7, "tests": [1, 4, 7], "go_out": False, "then": "home_health",
                      "then_days": 7}  # fmt: skip
    for bad in (["days=0"], ["tests=a"], ["then=火星"], ["colour=red"], []):
        with pytest.raises(DomainError):
            monitoring.parse_rule_change("居家隔离", bad)
    async with sessionmaker() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        assert monitoring.rule(c, "home_isolation").days == c.isolation_days
        c.monitoring_rules = {"home_isolation": change}
        r = monitoring.rule(c, "home_isolation")
        assert (r.days, r.tests, r.go_out, r.then, r.then_days) == (
            7, (1, 4, 7), False, "home_health", 7,
        )  # fmt: skip


async def test_gate_status_of_a_household(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        home = community.household("阳光花园/1栋/1单元/101")
        a, b, d = (Person(household_id=home, name=n, created_at=clock.now()) for n in "ABD")
        session.add_all([a, b, d])
        await session.flush()
        assert await monitoring.gate_status(session, c, a) is None
        await monitoring.start(
            session, clock, catalog, community=c, person=a, category="home_health",
            start_date=None, reason="r", actor=None,
        )  # fmt: skip
        # Health monitoring of a member does not confine the others.
        assert await monitoring.gate_status(session, c, b) is None
        assert await monitoring.gate_status(session, c, a) == monitoring.GateStatus(
            "home_health", True, False
        )
        await monitoring.start(
            session, clock, catalog, community=c, person=d, category="central",
            start_date=None, reason="r", actor=None,
        )  # fmt: skip
        # A member handed off to central quarantine: the household is confined.
        assert await monitoring.gate_status(session, c, b) == monitoring.GateStatus(
            "central", False, True
        )
        assert await monitoring.gate_status(session, c, a) == monitoring.GateStatus(
            "central", False, True
        )
