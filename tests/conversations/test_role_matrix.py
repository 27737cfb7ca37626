"""The role matrix (R-RBAC): every staff command and every staff callback, pressed by
every role, in scope and out of scope. Roles are read from the database; a chat or a
Telegram group right never counts. One rule (bot.services.scope) decides."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Compound, Grid, Role, ScopeType
from bot.double import BotApiDouble
from bot.services.identity import ensure_staff_person, grant_role
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import (
    ADMIN_ID,
    GRID_WORKER_ID,
    GUARD_ID,
    OFFICER_ID,
    VOLUNTEER_ID,
    SeededCommunity,
)

COMPOUND_OFFICER_ID = 9006  # officer granted for 幸福里 only
PROPERTY_MANAGER_ID = 9007  # property manager / lead-unit contact of 阳光花园
OTHER_GRID_ID = 9008  # grid worker of 第二网格 (阳光花园 2栋)
RESIDENT_ID = 5001
STRANGER_ID = 5999

ACTORS = {
    "admin": ADMIN_ID,
    "officer": OFFICER_ID,
    "compound_officer": COMPOUND_OFFICER_ID,
    "grid_worker": GRID_WORKER_ID,
    "other_grid_worker": OTHER_GRID_ID,
    "property_manager": PROPERTY_MANAGER_ID,
    "guard": GUARD_ID,
    "volunteer": VOLUNTEER_ID,
    "resident": RESIDENT_ID,
    "stranger": STRANGER_ID,
}


async def _extra_staff(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        compounds = {c.name: c.id for c in await session.scalars(select(Compound))}
        grids = {g.name: g.id for g in await session.scalars(select(Grid))}
        for tg, name, role, scope_type, scope_id in (
            (COMPOUND_OFFICER_ID, "钱干事", Role.OFFICER, ScopeType.COMPOUND, compounds["幸福里"]),
            (PROPERTY_MANAGER_ID, "孙物业", Role.PROPERTY_MANAGER, ScopeType.COMPOUND,
             compounds["阳光花园"]),
            (OTHER_GRID_ID, "周网格", Role.GRID_WORKER, ScopeType.GRID, grids["第二网格"]),
        ):  # fmt: skip
            person = await ensure_staff_person(session, clock, telegram_user_id=tg, name=name)
            await grant_role(
                session, clock, person=person, role=role, scope_type=scope_type,
                scope_id=scope_id, by=None,
            )  # fmt: skip


async def test_probe(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    from bot.commands import OFFICER_COMMANDS

    await _extra_staff(sessionmaker, clock, community)
    users = {k: ChatUser(double, double.user(v, k)) for k, v in ACTORS.items()}
    await register(sessionmaker, clock, community, users["resident"])
    out = []
    for cmd in (*OFFICER_COMMANDS, "household", "profile", "me", "invite", "register_for"):
        for role, user in users.items():
            replies = await user.send(f"/{cmd}")
            out.append(f"{cmd}\t{role}\t{texts(replies)[:70]!r}")
    open("/tmp/i10/probe.txt", "w").write("\n".join(out))
