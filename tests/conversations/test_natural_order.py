"""Lists of places shown to people sort as people count them: "2栋" before "10栋", "2号院"
before "10号院" (bot.services.directory.natural_key), never as plain text."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    Building,
    CareFlag,
    Compound,
    Gate,
    Household,
    Person,
    SupplyRequest,
    Unit,
)
from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GUARD_ID, OFFICER_ID, VOLUNTEER_ID, SeededCommunity


async def _seed_places(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    """A 10栋 next to the 1栋 and 2栋 of 阳光花园, compounds 2号院 and 10号院, gates 10号门
    and 2号门, a supply request and a care flag in 2栋 and in 10栋 each."""
    now = clock.now()
    sunny = community.compound_ids["阳光花园"]
    async with sessionmaker.begin() as session:
        first_grid = await session.scalar(
            select(Building.grid_id).where(Building.compound_id == sunny, Building.name == "1栋")
        )
        tenth = Building(compound_id=sunny, name="10栋", grid_id=first_grid)
        session.add(tenth)
        await session.flush()
        unit = Unit(building_id=tenth.id, name="1单元")
        session.add(unit)
        await session.flush()
        household = Household(unit_id=unit.id, room="101")
        session.add(household)
        for name in ("10号院", "2号院"):
            session.add(Compound(community_id=community.community_id, name=name))
        for name in ("10号门", "2号门"):
            session.add(Gate(compound_id=sunny, name=name, token=f"tok{name[:-2]}"))
        await session.flush()
        second = community.household("阳光花园/2栋/1单元/101")
        second_building = await session.scalar(
            select(Unit.building_id).join(Household).where(Household.id == second)
        )
        assert second_building is not None
        for hid, building_id, who in (
            (household.id, tenth.id, "钱十"),
            (second, second_building, "孙二"),
        ):
            session.add(
                SupplyRequest(
                    community_id=community.community_id, household_id=hid,
                    building_id=building_id, kind="food", created_at=now,
                )
            )  # fmt: skip
            person = Person(name=who, household_id=hid, created_at=now)
            session.add(person)
            await session.flush()
            session.add(CareFlag(person_id=person.id, kind="pregnant", created_at=now))


async def test_places_are_listed_as_people_count_them(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _seed_places(sessionmaker, clock, community)
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    # /supplies: per building
    assert texts(await officer.send("/supplies")) == (
        "Supplies per building (overdue after 240 minutes)\n"
        "阳光花园 2栋: open 1, in delivery 0, delivered 0\n"
        "阳光花园 10栋: open 1, in delivery 0, delivered 0"
    )
    # /bind in an owners' group: the compounds to choose from
    group = double.group(-1009301, "业主群")
    [reply] = await officer.send("/bind", chat=group)
    assert reply.content == "Choose the compound this group belongs to:"
    assert [[text for text, _ in row] for row in double.inline_buttons(reply)] == [
        ["2号院"],
        ["10号院"],
        ["幸福里"],
        ["阳光花园"],
    ]
    # /gate: the gates to choose from
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫", language_code="en"))
    [reply] = await guard.send("/gate")
    assert reply.content == "Which gate?"
    assert [[text for text, _ in row] for row in double.inline_buttons(reply)] == [
        ["阳光花园 2号门"],
        ["阳光花园 10号门"],
    ]
    # /deliveries: a volunteer's open requests, per building
    volunteer = ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿", language_code="en"))
    replies = await volunteer.send("/deliveries")
    assert texts(replies) == (
        "Requests to deliver (2)\n"
        "阳光花园 2栋\n#2 阳光花园 2栋 1单元 101 · 🥬 Food pack\n"
        "阳光花园 10栋\n#1 阳光花园 10栋 1单元 101 · 🥬 Food pack"
    )
    # the ledger's care sheet
    replies = await officer.send("/ledger")
    [xlsx] = [m for m in replies if m.document is not None][:1]
    book = load_workbook(io.BytesIO(double.file(xlsx.document["file_id"]).content))  # type: ignore[index]
    care = book["Care list"]
    assert [row[1:4] for row in care.iter_rows(min_row=2, values_only=True)] == [
        ("孙二", "阳光花园", "2栋 1单元 101"),
        ("钱十", "阳光花园", "10栋 1单元 101"),
    ]
