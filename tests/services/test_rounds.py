"""Testing rounds at the service level (issue 15): reading the officer's lines, counting
each person once, the role scope of scans, idempotent scheduler work."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Community, Delivery, Person, Role, RoundPerson, ScopeType
from bot.parsing import ParseError
from bot.services import rounds
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import Grant, Identity
from messages import Catalog
from tests.conftest import SHANGHAI
from tests.support.community import SeededCommunity

TODAY = date(2022, 3, 10)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "rounds.spec_help"),
        ("2022-03-11", "rounds.spec_help"),
        ("2022-03-09\n阳光花园 1栋 08:00-09:00 东门", "rounds.day_past"),
        ("2022-03-11 大家\n阳光花园 1栋 08:00-09:00 东门", "rounds.unknown_required"),
        ("2022-03-11\n阳光花园 1栋 9点到10点", "rounds.bad_slot_line"),
        ("2022-03-11\n阳光花园 1栋 10:00-09:00 东门", "rounds.bad_slot_line"),
        ("2022-03-11\n阳光花园 1栋 25:00-26:00 东门", "rounds.bad_slot_line"),
        ("2022-03-11\n月亮湾 08:00-09:00 东门", "coverage.unknown_place"),
        ("2022-03-11\n全部 08:00-09:00 东门\n上门 阳光花园 9栋 1单元 101", "rounds.bad_door_line"),
    ],
)
async def test_bad_round_lines_are_refused_with_a_message(
    text: str,
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(DomainError) as caught:
            await rounds.parse_spec(session, community.community_id, text, TODAY)
    assert caught.value.key == key


async def test_bad_date_is_a_parse_error(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(ParseError):
            await rounds.parse_spec(
                session, community.community_id, "明年某天\n全部 08:00-09:00 东门", TODAY
            )


async def test_scope_kinds_and_overrides(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity
) -> None:
    async with sessionmaker() as session:
        spec = await rounds.parse_spec(
            session, community.community_id,
            "今天 隔离\n全部 08:00-12:00 广场\n阳光花园 2栋 13:00-14:00 东门", TODAY,
        )  # fmt: skip
        assert spec.scope_type == "community" and spec.required == "isolated"
        assert len(spec.slots) == 3
        sites = sorted(s.site for s in spec.slots.values())
        assert sites == ["东门", "广场", "广场"]
        spec = await rounds.parse_spec(
            session, community.community_id, "2022-03-11\n幸福里 08:00-09:00 门口", TODAY
        )
        assert spec.scope_type == "compounds"
        assert spec.scope_ids == [community.compound_ids["幸福里"]]
        spec = await rounds.parse_spec(
            session, community.community_id, "今天 居家健康监测\n全部 08:00-09:00 门口", TODAY
        )
        assert spec.required == "home_health"


async def test_each_person_counts_once_and_scope_is_checked(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        person = Person(
            name="测试", household_id=community.household("阳光花园/1栋/1单元/101"),
            created_at=clock.now(),
        )  # fmt: skip
        session.add(person)
        await session.flush()
        c = await session.get(Community, community.community_id)
        assert c is not None
        spec = await rounds.parse_spec(session, c.id, "今天\n阳光花园 08:00-12:00 东门", TODAY)
        rnd = await rounds.create_round(session, clock, community=c, spec=spec, by=None)
        assert await rounds.announce(session, clock, catalog, rnd=rnd, by=None) == (1, 0, 0)
        token = await rounds.code_for(session, clock, person.id)
        assert token == await rounds.code_for(session, clock, person.id)
        staff = Person(name="志愿者", telegram_user_id=777, created_at=clock.now())
        session.add(staff)
        await session.flush()
        here = Identity(
            777,
            staff,
            (Grant(Role.VOLUNTEER, ScopeType.COMPOUND, community.compound_ids["阳光花园"]),),
        )
        elsewhere = Identity(
            777,
            staff,
            (Grant(Role.VOLUNTEER, ScopeType.COMPOUND, community.compound_ids["幸福里"]),),
        )
        guard = Identity(777, staff, (Grant(Role.GUARD, ScopeType.COMMUNITY, c.id),))
        # A compound's volunteer marks in that compound's buildings only (2 of 3).
        allowed = await rounds.marker_buildings(session, here, c.id)
        assert allowed is not None and len(allowed) == 2
        assert await rounds.marker_buildings(session, guard, c.id) == set()
        for who in (elsewhere, guard):
            with pytest.raises(NotAllowed):
                await rounds.mark_by_code(session, clock, identity=who, token=token)
        first = await rounds.mark_by_code(session, clock, identity=here, token=token)
        second = await rounds.mark_by_code(session, clock, identity=here, token=token)
        assert [m.newly for m in first + second] == [True, False]
        with pytest.raises(DomainError):
            await rounds.mark_by_code(session, clock, identity=here, token="x" * 16)
        with pytest.raises(DomainError):
            await rounds.mark_by_code(session, clock, identity=here, token="bad token!")
        tested = await session.scalar(
            select(func.count()).select_from(RoundPerson).where(RoundPerson.status == "tested")
        )
        assert tested == 1
        # Closing: nobody left, no case; a closed round takes no more marks.
        assert await rounds.close_round(session, clock, catalog, rnd=rnd, by=None) == 0
        with pytest.raises(DomainError):
            await rounds.staff_mark(
                session, clock, identity=here, round_id=rnd.id, person_id=person.id,
                status=rounds.RoundPersonStatus.EXEMPT, method="grid", note="x",
            )  # fmt: skip


async def test_scheduler_work_is_idempotent(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        session.add(
            Person(
                name="住户", telegram_user_id=555, is_head=True, created_at=clock.now(),
                household_id=community.household("阳光花园/1栋/1单元/101"),
            )
        )  # fmt: skip
        c = await session.get(Community, community.community_id)
        assert c is not None
        spec = await rounds.parse_spec(session, c.id, "今天\n阳光花园 1栋 10:00-11:00 东门", TODAY)
        rnd = await rounds.create_round(session, clock, community=c, spec=spec, by=None)
        await rounds.announce(session, clock, catalog, rnd=rnd, by=None)
    for at, expected in (((9, 0), (0, 0)), ((9, 31), (1, 0)), ((9, 45), (0, 0)), ((11, 0), (0, 1))):
        clock.set(datetime(2022, 3, 10, *at, tzinfo=SHANGHAI))
        async with sessionmaker.begin() as session:
            assert await rounds.due_work(session, clock, catalog) == expected
    async with sessionmaker() as session:
        kinds = sorted(await session.scalars(select(Delivery.kind)))
    assert kinds == ["round_notice", "round_remind", "round_todo"]
