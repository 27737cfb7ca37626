from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Role, ScopeType
from bot.services.errors import DomainError
from bot.services.identity import OFFICER_ROLES, grant_role, load_identity, revoke_role
from tests.support.community import (
    ADMIN_ID,
    GRID_WORKER_ID,
    OFFICER_ID,
    SeededCommunity,
)


async def test_roles_are_read_from_the_database_and_scoped(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    cid = community.community_id
    async with sessionmaker() as session:
        admin = await load_identity(session, ADMIN_ID)
        officer = await load_identity(session, OFFICER_ID)
        worker = await load_identity(session, GRID_WORKER_ID)
        nobody = await load_identity(session, 123)
    assert admin.allows(OFFICER_ROLES, community_id=cid)
    assert officer.allows(OFFICER_ROLES, community_id=cid)
    assert not officer.allows(OFFICER_ROLES, community_id=cid + 1)
    assert not worker.allows(OFFICER_ROLES, community_id=cid)
    assert worker.allows(
        {Role.GRID_WORKER}, community_id=cid, grid_id=community.grid_ids["第一网格"]
    )
    assert not worker.allows(
        {Role.GRID_WORKER}, community_id=cid, grid_id=community.grid_ids["第二网格"]
    )
    assert nobody.person is None and not nobody.grants


async def test_revoked_role_stops_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    cid = community.community_id
    async with sessionmaker.begin() as session:
        officer = await load_identity(session, OFFICER_ID)
        admin = await load_identity(session, ADMIN_ID)
        assert officer.person is not None
        await revoke_role(
            session,
            clock,
            person=officer.person,
            role=Role.OFFICER,
            scope_type=ScopeType.COMMUNITY,
            scope_id=cid,
            by=admin.person,
        )
        with pytest.raises(DomainError):
            await revoke_role(
                session,
                clock,
                person=officer.person,
                role=Role.OFFICER,
                scope_type=ScopeType.COMMUNITY,
                scope_id=cid,
                by=admin.person,
            )
    async with sessionmaker.begin() as session:
        assert not (await load_identity(session, OFFICER_ID)).allows(
            OFFICER_ROLES, community_id=cid
        )
        person = (await load_identity(session, OFFICER_ID)).person
        assert person is not None
        again = await grant_role(
            session,
            clock,
            person=person,
            role=Role.OFFICER,
            scope_type=ScopeType.COMMUNITY,
            scope_id=cid,
            by=None,
        )
        same = await grant_role(
            session,
            clock,
            person=person,
            role=Role.OFFICER,
            scope_type=ScopeType.COMMUNITY,
            scope_id=cid,
            by=None,
        )
        assert again.id == same.id
