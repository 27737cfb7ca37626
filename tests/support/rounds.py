"""A round's world: 60 residents in the seeded community's 3 buildings (issue 15).

1栋 and 2栋 (阳光花园, grids 第一/第二网格): 12 households of 2 each (a head with Telegram;
5 households per building have a member without Telegram); 幸福里 A座: 2 households of
6, all with Telegram. 50 people with Telegram, 10 without. Two owners' groups and an
officers' chat are bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Community, GroupChat, Person
from bot.double import BotApiDouble
from tests.support.community import SeededCommunity

SUN_GROUP = -100301
HAPPY_GROUP = -100302
OFFICER_CHAT = -100399
TG_BASE = 30_000


@dataclass
class RoundWorld:
    people: dict[str, int] = field(default_factory=dict)  # name -> person id
    telegram: dict[str, int] = field(default_factory=dict)  # name -> telegram id
    household_of: dict[str, str] = field(default_factory=dict)  # name -> "1栋/1单元/101"


def _rooms(building: str) -> list[str]:
    return [
        f"{building}/{u}/{f}0{d}" for u in ("1单元", "2单元") for f in (1, 2, 3) for d in (1, 2)
    ]


async def seed_round_world(
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    community: SeededCommunity,
    *,
    locale: str = "zh-CN",
) -> RoundWorld:
    world = RoundWorld()
    language = "en" if locale == "en" else "zh-hans"
    double.group(SUN_GROUP, "阳光花园业主群")
    double.group(HAPPY_GROUP, "幸福里业主群")
    double.group(OFFICER_CHAT, "东湖社区工作群")
    plan: list[tuple[str, str, bool, bool]] = []  # (address key, name, head, telegram)
    for building, tag in (("1栋", "甲"), ("2栋", "乙")):
        for n, key in enumerate(_rooms(building)):
            plan.append((key, f"{tag}户主{n + 1}", True, True))
            plan.append((key, f"{tag}家人{n + 1}", False, n >= 5))
    for n, room in enumerate(("101", "102")):
        for k in range(6):
            plan.append((f"A座/1单元/{room}", f"丙{n + 1}号{k + 1}", k == 0, True))
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.locale = locale
        c.officer_chat_id = OFFICER_CHAT
        for chat_id, compound in ((SUN_GROUP, "阳光花园"), (HAPPY_GROUP, "幸福里")):
            session.add(
                GroupChat(
                    chat_id=chat_id, compound_id=community.compound_ids[compound],
                    title=compound, bound_at=clock.now(),
                )
            )  # fmt: skip
        heads: dict[str, int] = {}
        for index, (key, name, head, telegram) in enumerate(plan):
            compound = "幸福里" if key.startswith("A座") else "阳光花园"
            tg = TG_BASE + index if telegram else None
            person = Person(
                telegram_user_id=tg, name=name, is_head=head, language=locale,
                household_id=community.household(f"{compound}/{key}"),
                reported_by_id=None if head else heads.get(key), created_at=clock.now(),
            )  # fmt: skip
            session.add(person)
            await session.flush()
            if head:
                heads[key] = person.id
            world.people[name] = person.id
            world.household_of[name] = key
            if tg is not None:
                world.telegram[name] = tg
                user = double.user(tg, name, language_code=language)
                double.private_chat(user)
                double.started.add(tg)
        assert (
            len(
                list(
                    await session.scalars(select(Person.id).where(Person.household_id.is_not(None)))
                )
            )
            == 60
        )
    return world
