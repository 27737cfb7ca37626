"""A small seeded community used across tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Building, Compound, Grid, Household, Role, ScopeType, Unit
from bot.services.directory import import_register
from bot.services.identity import ensure_staff_person, grant_role

ADMIN_ID = 9001
OFFICER_ID = 9002
GRID_WORKER_ID = 9003
GUARD_ID = 9004
VOLUNTEER_ID = 9005


def register_rows() -> list[dict[str, str]]:
    rows = []
    for building, grid in (("1栋", "第一网格"), ("2栋", "第二网格")):
        for unit in ("1单元", "2单元"):
            for floor in (1, 2, 3):
                for door in (1, 2):
                    rows.append(
                        {
                            "compound": "阳光花园",
                            "building": building,
                            "unit": unit,
                            "room": f"{floor}0{door}",
                            "grid": grid,
                        }
                    )
    for room in ("101", "102"):
        rows.append(
            {
                "compound": "幸福里",
                "building": "A座",
                "unit": "1单元",
                "room": room,
                "grid": "第三网格",
                "property_managed": "no",
                "lead_unit": "市第二机械厂",
            }
        )
    return rows


@dataclass
class SeededCommunity:
    community_id: int
    compound_ids: dict[str, int]
    grid_ids: dict[str, int]
    households: dict[str, int]  # "阳光花园/1栋/1单元/101" -> id

    def household(self, key: str) -> int:
        return self.households[key]


async def seed_community(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock
) -> SeededCommunity:
    async with sessionmaker.begin() as session:
        result = await import_register(
            session,
            clock,
            community_name="东湖社区",
            timezone="Asia/Shanghai",
            rows=register_rows(),
            admin_telegram_id=ADMIN_ID,
            admin_name="社区管理员",
        )
        community_id = result.community.id
        grids = {g.name: g.id for g in await session.scalars(select(Grid))}
        staff = (
            (OFFICER_ID, "王干事", Role.OFFICER, ScopeType.COMMUNITY, community_id),
            (GRID_WORKER_ID, "李网格", Role.GRID_WORKER, ScopeType.GRID, grids["第一网格"]),
            (GUARD_ID, "张门卫", Role.GUARD, ScopeType.COMMUNITY, community_id),
            (VOLUNTEER_ID, "赵志愿", Role.VOLUNTEER, ScopeType.COMMUNITY, community_id),
        )
        for tg_id, name, role, scope, scope_id in staff:
            person = await ensure_staff_person(session, clock, telegram_user_id=tg_id, name=name)
            await grant_role(
                session,
                clock,
                person=person,
                role=role,
                scope_type=scope,
                scope_id=scope_id,
                by=result.admin,
            )
        compounds = {c.name: c.id for c in await session.scalars(select(Compound))}
        rows = await session.execute(
            select(Household.id, Compound.name, Building.name, Unit.name, Household.room)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
        )
        households = {f"{c}/{b}/{u}/{r}": hid for hid, c, b, u, r in rows}
    return SeededCommunity(community_id, compounds, grids, households)
