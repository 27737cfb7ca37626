"""The group-chat privacy guard (R-WHERE): every message the bot sends to, or edits in,
any group chat during the whole suite is scanned for the test residents' names, phones,
rooms and temperatures. A match fails the test that caused it, and the session."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from bot.db.models import (
    Building,
    CheckIn,
    GateEntry,
    Household,
    Person,
    RoleGrant,
    Unit,
)
from bot.db.session import create_engine, create_sessionmaker
from bot.double import BotApiDouble

GROUP_TYPES = {"group", "supergroup", "channel"}


@dataclass
class Markers:
    names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    rooms: set[str] = field(default_factory=set)
    temperatures: set[str] = field(default_factory=set)

    def found_in(self, text: str) -> list[str]:
        hits = [f"name {n}" for n in self.names if n in text]
        digits = re.sub(r"[\s-]", "", text)
        hits += [f"phone {p}" for p in self.phones if p in digits]
        hits += [f"room {r}" for r in self.rooms if r in text]
        for temp in self.temperatures:
            if re.search(rf"(?<![\d.]){re.escape(temp)}\s*(℃|°C|度)", text):
                hits.append(f"temperature {temp}")
        return hits


async def resident_markers(database_url: str) -> Markers:
    """Names, phones, rooms (as "unit room") and recorded temperatures of every person
    who holds no staff role."""
    engine = create_engine(database_url)
    markers = Markers()
    try:
        async with create_sessionmaker(engine)() as session:
            staff = set(await session.scalars(select(RoleGrant.person_id)))
            rows = await session.execute(
                select(Person, Household.room, Unit.name, Building.name)
                .outerjoin(Household, Person.household_id == Household.id)
                .outerjoin(Unit, Household.unit_id == Unit.id)
                .outerjoin(Building, Unit.building_id == Building.id)
            )
            for person, room, unit, _building in rows.all():
                if person.id in staff:
                    continue
                if len(person.name) >= 2:
                    markers.names.add(person.name)
                if person.phone:
                    markers.phones.add(person.phone.lstrip("+"))
                    markers.phones.add(person.phone.removeprefix("+86"))
                if room and unit:
                    markers.rooms.update({f"{unit} {room}", f"{unit}{room}", f"{room}室"})
            temps: set[Decimal] = {
                t for t in await session.scalars(select(CheckIn.temperature)) if t is not None
            }
            temps |= {
                t for t in await session.scalars(select(GateEntry.temperature)) if t is not None
            }
            markers.temperatures = {f"{t:.1f}" for t in temps}
    finally:
        await engine.dispose()
    return markers


def group_messages(double: BotApiDouble) -> list[tuple[int, str]]:
    """(chat id, visible text incl. caption and button labels) of everything the bot
    sent to or edited in a group chat."""
    groups = {cid for cid, chat in double.chats.items() if chat.type in GROUP_TYPES}
    out: list[tuple[int, str]] = []
    for call in double.calls:
        for message in (*call.messages, *call.edited):
            if message.chat_id not in groups and message.chat_id >= 0:
                continue
            labels = " ".join(text for row in double.inline_buttons(message) for text, _ in row)
            out.append((message.chat_id, f"{message.content or ''} {labels}"))
    return out


async def check_groups(double: BotApiDouble, database_url: str | None, test: str) -> list[str]:
    if database_url is None:
        return []
    sent = group_messages(double)
    if not sent:
        return []
    markers = await resident_markers(database_url)
    found = []
    for chat_id, text in sent:
        for hit in markers.found_in(text):
            found.append(f"{test}: group {chat_id} got {hit}: {text[:200]!r}")
    return found
