"""Role checks as filters: the role is read from the database (IdentityMiddleware loads
the grants on every update), and the acting scope is injected into the handler.

Deliberately thin: the scope rule is `Identity.acting_community_id()` (one community per
officer). A fuller scope rule (issue 10) replaces `ActingCommunity` without touching the
handlers that use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiogram.filters import Filter
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Community, Role
from bot.services.errors import NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity


class ActingCommunity(Filter):
    """Passes with `community` (the Community the actor acts for with one of `roles`);
    an actor without such a grant gets the polite refusal (NotAllowed → error path)."""

    def __init__(self, roles: Iterable[Role] = OFFICER_ROLES) -> None:
        self.roles = frozenset(roles)

    async def __call__(
        self, event: Any, identity: Identity, session: AsyncSession
    ) -> dict[str, Any]:
        community_id = identity.acting_community_id(self.roles)
        community = await session.get(Community, community_id) if community_id else None
        if community is None:
            raise NotAllowed()
        return {"community": community}
