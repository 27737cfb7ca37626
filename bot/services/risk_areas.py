"""Risk areas (R-ADM, R-RET, R-VIS): the list officers keep of places with a risk
level and the dates it applies; reports are matched against it on the arrival date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Person, RiskArea
from bot.parsing import ParseError, parse_date
from bot.places import Gazetteer
from bot.services import audit, case_text
from bot.services.errors import DomainError, NotFound

LEVELS: tuple[str, ...] = ("high", "medium", "low")
_LEVEL_ALIASES = {
    "high": "high", "高": "high", "高风险": "high", "h": "high",
    "medium": "medium", "mid": "medium", "中": "medium", "中风险": "medium", "m": "medium",
    "low": "low", "低": "low", "低风险": "low", "l": "low",
}  # fmt: skip
_RANK = {level: i for i, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class RiskAreaArgs:
    place_code: str
    level: str
    valid_from: date
    valid_to: date | None


def parse_level(text: str) -> str | None:
    return _LEVEL_ALIASES.get(text.strip().lower())


def parse_add_args(text: str, today: date) -> RiskAreaArgs:
    """`<place> <high|medium|low> [from] [to]`; the place may contain spaces
    ("shenzhen nanshan"), the level is the first word that is a level."""
    words = text.split()
    index = next((i for i, w in enumerate(words) if parse_level(w)), None)
    if index is None or index == 0:
        raise DomainError("risk.usage")
    place_text = " ".join(words[:index])
    level = parse_level(words[index])
    assert level is not None
    rest = words[index + 1 :]
    if len(rest) > 2:
        raise DomainError("risk.usage")
    try:
        valid_from = parse_date(rest[0], today) if rest else today
        valid_to = parse_date(rest[1], today) if len(rest) > 1 else None
    except ParseError as exc:
        raise DomainError("risk.bad_date") from exc
    if valid_to is not None and valid_to < valid_from:
        raise DomainError("risk.bad_range")
    places = Gazetteer.load().resolve(place_text)
    if not places:
        raise DomainError("risk.place_unknown", text=place_text)
    if len(places) > 1:
        # Named in the reader's language when the error is shown (case_text markers),
        # with the Chinese name beside it: what bulletins use and what can be typed.
        gaz = Gazetteer.load()
        raise DomainError(
            "risk.place_ambiguous",
            text=place_text,
            candidates=[
                {"name": case_text.place(p.code), "chinese": gaz.full_name(p.code, "zh-CN")}
                for p in places[:8]
            ],
        )
    return RiskAreaArgs(places[0].code, level, valid_from, valid_to)


async def add_risk_area(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    args: RiskAreaArgs,
    actor: Person | None,
) -> RiskArea:
    """Add a risk area (an identical active one is returned instead of a duplicate)."""
    existing = await session.scalar(
        select(RiskArea).where(
            RiskArea.community_id == community_id,
            RiskArea.place_code == args.place_code,
            RiskArea.level == args.level,
            RiskArea.valid_from == args.valid_from,
            RiskArea.removed_at.is_(None),
        )
    )
    if existing is not None and existing.valid_to == args.valid_to:
        return existing
    area = RiskArea(
        community_id=community_id,
        place_code=args.place_code,
        place_name=Gazetteer.load().full_name(args.place_code),
        level=args.level,
        valid_from=args.valid_from,
        valid_to=args.valid_to,
        added_by_id=actor.id if actor else None,
        added_at=clock.now(),
    )
    session.add(area)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=actor, action="risk.add", entity="risk_area",
        entity_id=area.id,
        details={"place": args.place_code, "level": args.level,
                 "from": args.valid_from.isoformat(),
                 "to": args.valid_to.isoformat() if args.valid_to else None},
    )  # fmt: skip
    return area


async def already_listed(
    session: AsyncSession, *, community_id: int, args: RiskAreaArgs, today: date
) -> RiskArea | None:
    """An area of the same place still in force (not removed, not ended before today)
    whose days meet the new one's: `/risk add` says it is listed instead of adding it
    again (`/risk from` moves its start, `/risk remove` ends it)."""
    for area in await list_risk_areas(session, community_id):
        if area.place_code != args.place_code:
            continue
        if area.valid_to is not None and area.valid_to < today:
            continue
        starts_before_new_ends = args.valid_to is None or area.valid_from <= args.valid_to
        ends_after_new_starts = area.valid_to is None or area.valid_to >= args.valid_from
        if starts_before_new_ends and ends_after_new_starts:
            return area
    return None


async def remove_risk_area(
    session: AsyncSession, clock: Clock, *, community_id: int, area_id: int, actor: Person | None
) -> RiskArea:
    area = await session.get(RiskArea, area_id)
    if area is None or area.community_id != community_id or area.removed_at is not None:
        raise NotFound("risk.not_found", id=area_id)
    area.removed_at = clock.now()
    area.removed_by_id = actor.id if actor else None
    await audit.record(
        session, at=clock.now(), actor=actor, action="risk.remove", entity="risk_area",
        entity_id=area.id, details={"place": area.place_code},
    )  # fmt: skip
    return area


async def list_risk_areas(session: AsyncSession, community_id: int) -> Sequence[RiskArea]:
    """Active (not removed) risk areas, newest first."""
    return (
        await session.scalars(
            select(RiskArea)
            .where(RiskArea.community_id == community_id, RiskArea.removed_at.is_(None))
            .order_by(RiskArea.id.desc())
        )
    ).all()


async def containing_area(
    session: AsyncSession, community_id: int, place_code: str | None, on: date | None
) -> RiskArea | None:
    """The highest-level risk area of the community containing `place_code` (at any
    level: a district is within its city's and province's areas) on the date `on`."""
    if not place_code or on is None:
        return None
    gaz = Gazetteer.load()
    best: RiskArea | None = None
    for area in await list_risk_areas(session, community_id):
        if area.valid_from > on or (area.valid_to is not None and area.valid_to < on):
            continue
        if not gaz.is_within(place_code, area.place_code):
            continue
        if best is None or _RANK.get(area.level, 9) < _RANK.get(best.level, 9):
            best = area
    return best


async def risk_level(
    session: AsyncSession, community_id: int, place_code: str | None, on: date | None
) -> str | None:
    """The level of `containing_area`, or None when the place is in no risk area."""
    area = await containing_area(session, community_id, place_code, on)
    return area.level if area is not None else None


def is_risky(level: str | None) -> bool:
    """Coming from any listed risk area (whatever its level) means home isolation."""
    return level is not None


async def backdate_risk_area(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    area_id: int,
    valid_from: date,
    actor: Person | None,
) -> RiskArea:
    """Move an area's start earlier (a bulletin corrected, R-RISK); the caller re-matches
    the reports of the longer window."""
    area = await session.get(RiskArea, area_id)
    if area is None or area.community_id != community_id or area.removed_at is not None:
        raise NotFound("risk.not_found", id=area_id)
    if area.valid_to is not None and valid_from > area.valid_to:
        raise DomainError("risk.bad_range")
    old = area.valid_from
    area.valid_from = valid_from
    await audit.record(
        session, at=clock.now(), actor=actor, action="risk.backdate", entity="risk_area",
        entity_id=area.id, details={"from": old.isoformat(), "to": valid_from.isoformat()},
    )  # fmt: skip
    return area
