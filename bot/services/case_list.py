"""Open cases as staff read them (R-ESC, R-RBAC): `/cases` a page at a time, with one
button per case, and `/case N` or such a button opening one case's card.

Both ask `bot.services.scope` on every command and press: officers of the community read
all its cases, an officer granted for a compound that compound's, a grid worker their
grid's. A case outside the reader's scope is answered exactly as one that does not exist,
so that nobody learns that another community (or grid) has a case with that number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseKind
from bot.parsing import ID_MAX
from bot.services import scope
from bot.services.cases import list_open_cases
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import Identity

PER_PAGE = 10
KINDS = frozenset(k.value for k in CaseKind)
_PLACE = re.compile(r"(?:c(\d{1,12}))?(?:g(\d{1,12}))?")


@dataclass(frozen=True)
class CaseFilter:
    """The filters of `/cases [compound] [grid] [kind]` (ids inside the acting community)."""

    compound_id: int | None = None
    grid_id: int | None = None
    kind: str | None = None

    @property
    def place_code(self) -> str:
        """The place filters as a short code for a button ("c3", "g7", "c3g7", "")."""
        compound = f"c{self.compound_id}" if self.compound_id is not None else ""
        return compound + (f"g{self.grid_id}" if self.grid_id is not None else "")

    @classmethod
    def from_codes(cls, kind: str, place: str) -> CaseFilter:
        """The filter a page button carries; anything else (forged) is an expired button.
        Ids of another community select nothing: the list is of the acting community."""
        match = _PLACE.fullmatch(place)
        if match is None or (kind and kind not in KINDS):
            raise DomainError("common.button_expired")
        compound, grid = match.groups()
        return cls(int(compound) if compound else None, int(grid) if grid else None, kind or None)


@dataclass(frozen=True)
class CasePage:
    """One page of the open cases the reader's scope reaches."""

    cases: tuple[Case, ...]
    total: int
    page: int  # 0-based
    pages: int
    filter: CaseFilter


async def open_cases_page(
    session: AsyncSession, acting: scope.ActingScope, flt: CaseFilter, page: int
) -> CasePage:
    """Open cases of the acting community that its scope reaches, urgent first, then
    oldest first; `page` is clamped to the pages there are (the list may have shrunk
    since the buttons were sent)."""
    listed = await list_open_cases(
        session, acting.community.id, compound_id=flt.compound_id, grid_id=flt.grid_id,
        kind=flt.kind,
    )  # fmt: skip
    found = [c for c in listed if acting.reaches(compound_id=c.compound_id, grid_id=c.grid_id)]
    pages = max(1, -(-len(found) // PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = tuple(found[page * PER_PAGE : (page + 1) * PER_PAGE])
    return CasePage(shown, len(found), page, pages, flt)


async def case_for_reader(session: AsyncSession, identity: Identity, case_id: int) -> Case:
    """The case, when a role that reads cases (roles from the database) reaches its
    community, compound or grid. A case of another community or grid is "not found",
    word for word as a number that was never used. Someone holding no such role at all
    (a resident, a guard) is refused as for every staff command."""
    if not any(g.role in scope.roles_for("cases") for g in identity.grants):
        raise NotAllowed()
    case = await session.get(Case, case_id) if 1 <= case_id <= ID_MAX else None
    if case is None or not scope.covers(
        identity, "cases", community_id=case.community_id, compound_id=case.compound_id,
        grid_id=case.grid_id,
    ):  # fmt: skip
        raise NotFound("cases.not_found", id=case_id)
    return case
