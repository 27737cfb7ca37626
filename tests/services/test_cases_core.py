from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, CaseEvent, CaseKind, Community, Delivery
from bot.services.cases import open_case
from messages import Catalog
from tests.support.community import GRID_WORKER_ID, SeededCommunity

OFFICER_CHAT = -100777


async def test_open_case_routes_to_grid_worker_and_queues_one_card(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    household = community.household("阳光花园/1栋/1单元/101")
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.officer_chat_id = OFFICER_CHAT
        first = await open_case(
            session,
            clock,
            catalog,
            community_id=c.id,
            kind=CaseKind.SYMPTOM,
            urgent=True,
            household_id=household,
            details={"summary": "<发热> 38.5"},
            dedup_key="report:1",
        )
        again = await open_case(
            session,
            clock,
            catalog,
            community_id=c.id,
            kind=CaseKind.SYMPTOM,
            urgent=True,
            household_id=household,
            dedup_key="report:1",
        )
        assert again.id == first.id
    async with sessionmaker() as session:
        case = await session.scalar(select(Case))
        assert case is not None and case.grid_id == community.grid_ids["第一网格"]
        deliveries = (await session.scalars(select(Delivery).order_by(Delivery.id))).all()
        # one anonymised card in the officers' chat, the whole card to the grid worker
        assert [(d.kind, d.chat_id, d.is_group) for d in deliveries] == [
            ("case_card", OFFICER_CHAT, True),
            ("case_private", GRID_WORKER_ID, False),
        ]
        card, private = deliveries
        assert card.case_id == case.id
        text = card.payload["text"]
        assert "李网格" in text and "1栋" in text and "紧急" in text
        assert "38.5" not in text and "101" not in text
        assert "&lt;发热&gt; 38.5" in private.payload["text"]
        rows = card.payload["reply_markup"]["inline_keyboard"]
        assert [[b["callback_data"] for b in row] for row in rows] == [
            [f"case:ack:{case.id}", f"case:take:{case.id}", f"case:resolve:{case.id}"],
            [f"mc:{case.id}"],
            [f"cdt:{case.id}"],
        ]
        assert [e.action for e in await session.scalars(select(CaseEvent))] == ["opened"]


async def test_case_without_officer_chat_is_kept_without_card(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        await open_case(
            session,
            clock,
            catalog,
            community_id=community.community_id,
            kind=CaseKind.TIPOFF,
            urgent=False,
        )
    async with sessionmaker() as session:
        assert await session.scalar(select(Case)) is not None
        assert (await session.scalars(select(Delivery))).all() == []


async def test_isolation_dates_and_extension(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    from datetime import date

    from bot.db.models import Person
    from bot.services.isolation import isolation_end, start_isolation

    assert isolation_end(date(2022, 3, 1), 14) == date(2022, 3, 14)
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        person = Person(name="张三", created_at=clock.now())
        session.add(person)
        await session.flush()
        first, new = await start_isolation(
            session, clock, community=c, person=person, start_date=date(2022, 3, 1)
        )
        assert new and first.end_date == date(2022, 3, 14)
        same, new = await start_isolation(
            session, clock, community=c, person=person, start_date=date(2022, 3, 5)
        )
        assert not new and same.id == first.id and same.end_date == date(2022, 3, 18)
