"""Residents in home isolation for monitoring tests: a registered person (with
Telegram) and optionally family members without Telegram, isolated directly with
bot.services.isolation.start_isolation (as the reports feature does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Community, Person
from bot.services.isolation import start_isolation
from tests.support.community import SeededCommunity


@dataclass
class Isolated:
    person_id: int
    isolation_id: int
    member_ids: list[int]
    member_isolation_ids: list[int]


async def seed_isolated(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    community: SeededCommunity,
    *,
    telegram_id: int | None,
    name: str,
    household: str = "阳光花园/1栋/1单元/101",
    start: date,
    members: tuple[str, ...] = (),
    isolate_self: bool = True,
    language: str | None = None,
) -> Isolated:
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        head = Person(
            telegram_user_id=telegram_id,
            household_id=community.household(household),
            name=name,
            is_head=True,
            language=language,
            created_at=clock.now(),
        )
        session.add(head)
        await session.flush()
        iso_id = 0
        if isolate_self:
            iso, _ = await start_isolation(
                session, clock, community=c, person=head, start_date=start
            )
            iso_id = iso.id
        member_ids, member_isos = [], []
        for member_name in members:
            member = Person(
                household_id=head.household_id,
                name=member_name,
                reported_by_id=head.id,
                relation="grandparent",
                created_at=clock.now(),
            )
            session.add(member)
            await session.flush()
            iso, _ = await start_isolation(
                session, clock, community=c, person=member, start_date=start
            )
            member_ids.append(member.id)
            member_isos.append(iso.id)
        return Isolated(head.id, iso_id, member_ids, member_isos)


async def set_community(
    sessionmaker: async_sessionmaker[AsyncSession], community: SeededCommunity, **values: object
) -> None:
    async with sessionmaker.begin() as session:
        await session.execute(
            update(Community).where(Community.id == community.community_id).values(**values)
        )
