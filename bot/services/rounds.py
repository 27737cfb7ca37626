"""Mass testing rounds (R-ROUND, issue 15): 全员核酸 that misses no one.

An officer writes a round as a few lines (date, then a slot and site per building,
compound or the whole community, and the households tested at their door); the draft is
announced, which fixes the list of people expected (`RoundPerson`, one row per person,
so each person counts once), posts the slot per building to the owners' groups (no
personal data) and a private notice with its slot to each registered household.

People are marked tested by a volunteer / test-site staffer / grid worker / officer who
scans the person's personal QR code (a deep link with an unguessable token; members
without Telegram have one too, shown by their head), or ticks them in the household
list; residents may self-report (with an optional photo). Grid workers get the people
not yet tested in their grid with "visited" / "exempt (reason)" / "away (where)"; at
close the rest become cases. Lab positives (CSV) start home isolation and a case.

Who may do what is decided in one place: `may_manage` and `may_mark`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, false, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now, local_today
from bot.db.models import (
    Building,
    CaseKind,
    Community,
    Compound,
    Delivery,
    Grid,
    GroupChat,
    Household,
    Isolation,
    IsolationStatus,
    Person,
    PersonCode,
    Role,
    RoleGrant,
    Round,
    RoundPerson,
    RoundPersonStatus,
    RoundSlot,
    RoundStatus,
    ScopeType,
    Unit,
)
from bot.parsing import ParseError, clean_text, parse_date, parse_phone
from bot.services import audit, case_text, outbox
from bot.services.cases import open_case
from bot.services.coverage import resolve_scope
from bot.services.directory import natural_key
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import OFFICER_ROLES, Identity, own_locales
from bot.services.isolation import start_isolation
from bot.services.monitoring import CATEGORIES, parse_category
from messages import Catalog

# ---------------------------------------------------------------- who may do what

MARKER_ROLES: frozenset[Role] = OFFICER_ROLES | {Role.VOLUNTEER, Role.GRID_WORKER}
REQUIRED = ("everyone", "isolated")
REMIND_BEFORE = timedelta(minutes=30)
TOKEN_BYTES = 12  # 16 URL-safe characters: 96 random bits


def may_manage(identity: Identity, community_id: int) -> bool:
    """Create, announce, close a round, import results: officers of the community."""
    return identity.allows(OFFICER_ROLES, community_id=community_id)


def may_mark(
    identity: Identity, community_id: int, compound_id: int | None, grid_id: int | None
) -> bool:
    """Mark a person tested / visited / exempt / away: officers, volunteers (test-site
    staff) of the community or the person's compound, grid workers of the person's grid."""
    return identity.allows(
        MARKER_ROLES, community_id=community_id, compound_id=compound_id, grid_id=grid_id
    )


async def marker_buildings(
    session: AsyncSession, identity: Identity, community_id: int
) -> set[int] | None:
    """The buildings `identity` may mark people in: None for a community-wide grant
    (officer, admin, volunteer of the community), else those `may_mark` allows."""
    if identity.allows(MARKER_ROLES, community_id=community_id):
        return None
    rows = await session.execute(
        select(Building.id, Building.compound_id, Building.grid_id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Compound.community_id == community_id)
    )
    return {bid for bid, cid, gid in rows if may_mark(identity, community_id, cid, gid)}


async def building_of_household(session: AsyncSession, household_id: int) -> int | None:
    return await session.scalar(
        select(Unit.building_id)
        .join(Household, Household.unit_id == Unit.id)
        .where(Household.id == household_id)
    )


# ---------------------------------------------------------------- personal codes


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start=p_{token}"


async def code_for(session: AsyncSession, clock: Clock, person_id: int) -> str:
    """The person's code token, created on first use."""
    existing = await session.get(PersonCode, person_id)
    if existing is not None:
        return existing.token
    code = PersonCode(
        person_id=person_id, token=secrets.token_urlsafe(TOKEN_BYTES), created_at=clock.now()
    )
    session.add(code)
    await session.flush()
    return code.token


def may_show_code(actor: Person, person: Person) -> bool:
    """One's own code; the head shows every member's code."""
    if actor.id == person.id:
        return True
    return (
        actor.is_head and actor.household_id is not None
        and actor.household_id == person.household_id
    )  # fmt: skip


def qr_png(url: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


# ---------------------------------------------------------------- creating a round

_TIME_RANGE = re.compile(r"(\d{1,2})[:：](\d{2})\s*(?:-|–|~|～|至|to)\s*(\d{1,2})[:：](\d{2})")
_ALL_WORDS = {"全部", "全社区", "all", "community"}
_DOOR_WORDS = {"上门", "door"}
_REQUIRED_WORDS = {"全员": "everyone", "everyone": "everyone", "隔离": "isolated",
                   "isolated": "isolated"}  # fmt: skip


@dataclass
class SlotSpec:
    building_id: int
    starts: time
    ends: time
    site: str


@dataclass
class RoundSpec:
    day: date
    required: str
    scope_type: str
    scope_ids: list[int]
    slots: dict[int, SlotSpec] = field(default_factory=dict)
    door: list[dict[str, Any]] = field(default_factory=list)


async def _buildings_of(
    session: AsyncSession, community_id: int, *, compound_id: int | None = None,
    grid_ids: Iterable[int] | None = None, building_id: int | None = None,
) -> list[Building]:  # fmt: skip
    stmt = (
        select(Building)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Compound.community_id == community_id)
    )
    if compound_id is not None:
        stmt = stmt.where(Building.compound_id == compound_id)
    if grid_ids is not None:
        stmt = stmt.where(Building.grid_id.in_(set(grid_ids)))
    if building_id is not None:
        stmt = stmt.where(Building.id == building_id)
    return list(await session.scalars(stmt))


async def _household_by_address(
    session: AsyncSession, community_id: int, words: Sequence[str]
) -> Household:
    """ "阳光花园 1栋 1单元 101" (compound optional when the building is unique)."""
    if len(words) < 3:
        raise DomainError("rounds.bad_door_line", line=" ".join(words))
    *head, unit_name, room = words
    building_name = head[-1]
    compound_name = head[-2] if len(head) >= 2 else None
    stmt = (
        select(Household)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(
            Compound.community_id == community_id,
            Building.name == building_name,
            Unit.name == unit_name,
            Household.room == room,
        )
    )
    if compound_name:
        stmt = stmt.where(Compound.name == compound_name)
    found = list(await session.scalars(stmt))
    if len(found) != 1:
        raise DomainError("rounds.bad_door_line", line=" ".join(words))
    return found[0]


async def _door_address(
    session: AsyncSession, community_id: int, words: Sequence[str]
) -> tuple[Household, str | None]:
    """A door line's address ("阳光花园 1栋 1单元 101", the compound optional) and the
    name after it, which may have several words ("Grandma Zhang")."""
    for length in (4, 3):
        if len(words) < length:
            continue
        try:
            household = await _household_by_address(session, community_id, words[:length])
        except DomainError:
            continue
        return household, " ".join(words[length:]) or None
    raise DomainError("rounds.bad_door_line", line=" ".join(words))


async def parse_spec(session: AsyncSession, community_id: int, text: str, today: date) -> RoundSpec:
    """Read a round from the officer's lines (see the module doc and docs/testing-rounds.md).
    Raises DomainError rounds.* or ParseError date.invalid."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise DomainError("rounds.spec_help")
    head = lines[0].split()
    if not head:
        raise DomainError("rounds.spec_help")
    day = parse_date(head[0], today, ahead=True)
    if day < today:
        raise DomainError("rounds.day_past", day=day.isoformat())
    required = "everyone"
    for word in head[1:]:
        # "everyone", anyone monitored ("isolated"), or one monitoring category (R-CAT).
        found = _REQUIRED_WORDS.get(word.lower()) or parse_category(word)
        if found is None:
            raise DomainError("rounds.unknown_required", word=word)
        required = found
    spec = RoundSpec(day=day, required=required, scope_type="buildings", scope_ids=[])
    kinds: set[str] = set()
    for line in lines[1:]:
        words = line.split()
        if words[0].lower() in _DOOR_WORDS:
            household, name = await _door_address(session, community_id, words[1:])
            spec.door.append({"household_id": household.id, "name": name})
            continue
        match = _TIME_RANGE.search(line)
        if match is None:
            raise DomainError("rounds.bad_slot_line", line=line)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) >= (h2, m2):
            raise DomainError("rounds.bad_slot_line", line=line)
        place = line[: match.start()].strip()
        site = clean_text(line[match.end() :].strip() or "—", 80)
        if place.lower() in _ALL_WORDS:
            buildings = await _buildings_of(session, community_id)
            kinds.add("community")
        else:
            scope = await resolve_scope(session, community_id, place)
            buildings = await _buildings_of(
                session, community_id, compound_id=scope.compound_id,
                grid_ids=scope.grid_ids, building_id=scope.building_id,
            )  # fmt: skip
            if scope.compound_id is not None:
                kinds.add("compounds")
                spec.scope_ids.append(scope.compound_id)
            else:
                kinds.add("buildings")
                spec.scope_ids.extend(b.id for b in buildings)
        for building in buildings:
            spec.slots[building.id] = SlotSpec(building.id, time(h1, m1), time(h2, m2), site)
    if not spec.slots:
        raise DomainError("rounds.spec_help")
    if "community" in kinds:
        spec.scope_type, spec.scope_ids = "community", [community_id]
    elif kinds == {"compounds"}:
        spec.scope_type = "compounds"
    else:
        spec.scope_type, spec.scope_ids = "buildings", sorted(spec.slots)
    return spec


async def create_round(
    session: AsyncSession, clock: Clock, *, community: Community, spec: RoundSpec, by: Person | None
) -> Round:
    """A draft round; nothing is sent until it is announced."""
    rnd = Round(
        community_id=community.id, day=spec.day, required=spec.required,
        scope={"type": spec.scope_type, "ids": spec.scope_ids, "door": spec.door},
        status=RoundStatus.DRAFT.value, created_by_id=by.id if by else None,
        created_at=clock.now(),
    )  # fmt: skip
    session.add(rnd)
    await session.flush()
    session.add_all(
        RoundSlot(round_id=rnd.id, building_id=s.building_id, starts=s.starts, ends=s.ends,
                  site=s.site)
        for s in spec.slots.values()
    )  # fmt: skip
    await audit.record(
        session, at=clock.now(), actor=by, action="round.create", entity="round",
        entity_id=rnd.id, details={"day": spec.day.isoformat(), "scope": spec.scope_type,
                                   "buildings": len(spec.slots), "required": spec.required},
    )  # fmt: skip
    return rnd


async def get_round(session: AsyncSession, round_id: int, community_id: int) -> Round:
    rnd = await session.get(Round, round_id)
    if rnd is None or rnd.community_id != community_id:
        raise NotFound("rounds.not_found", id=round_id)
    return rnd


@dataclass(frozen=True)
class SlotView:
    compound_id: int
    compound: str
    building_id: int
    building: str
    grid_id: int | None
    starts: str
    ends: str
    site: str


async def slots(session: AsyncSession, round_id: int) -> list[SlotView]:
    rows = await session.execute(
        select(RoundSlot, Building, Compound)
        .join(Building, RoundSlot.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(RoundSlot.round_id == round_id)
    )
    views = [
        SlotView(c.id, c.name, b.id, b.name, b.grid_id, s.starts.strftime("%H:%M"),
                 s.ends.strftime("%H:%M"), s.site)
        for s, b, c in rows
    ]  # fmt: skip
    return sorted(views, key=lambda v: (v.starts, natural_key(v.compound), natural_key(v.building)))


def slot_rows(views: Sequence[SlotView]) -> list[dict[str, str]]:
    return [
        {"compound": v.compound, "building": v.building, "starts": v.starts, "ends": v.ends,
         "site": v.site}
        for v in views
    ]  # fmt: skip


# ---------------------------------------------------------------- announcing


async def _materialise(session: AsyncSession, rnd: Round) -> int:
    """Fix the list of people expected: every registered person living in a building of
    the round (for "isolated", only those in an active home isolation). One INSERT …
    SELECT in the database: a city's round is 300,000 people (bench/city.py), which as
    rows fetched and inserted back took seconds per community."""
    stmt = (
        select(literal(rnd.id), Person.id, Person.household_id, Building.id, Building.grid_id,
               false(), literal(RoundPersonStatus.PENDING.value))
        .select_from(Person)
        .join(Household, Person.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(RoundSlot, and_(RoundSlot.building_id == Building.id, RoundSlot.round_id == rnd.id))
    )  # fmt: skip
    if rnd.required != "everyone":
        stmt = (
            stmt.join(Isolation, Isolation.person_id == Person.id)
            .where(Isolation.status == IsolationStatus.ACTIVE)
            .distinct()
        )
        if rnd.required in CATEGORIES:
            stmt = stmt.where(Isolation.category == rnd.required)
    columns = ["round_id", "person_id", "household_id", "building_id", "grid_id",
               "door_to_door", "status"]  # fmt: skip
    result = await session.execute(insert(RoundPerson).from_select(columns, stmt))
    expected = int(getattr(result, "rowcount", 0) or 0)
    for door in rnd.scope.get("door", []):
        stmt_door = update(RoundPerson).where(
            RoundPerson.round_id == rnd.id, RoundPerson.household_id == door["household_id"]
        )
        if door.get("name"):
            stmt_door = stmt_door.where(
                RoundPerson.person_id.in_(
                    select(Person.id).where(
                        Person.household_id == door["household_id"], Person.name == door["name"]
                    )
                )
            )
        await session.execute(stmt_door.values(door_to_door=True))
    return expected


async def announce(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, rnd: Round, by: Person | None
) -> tuple[int, int, int]:
    """Open the round: fix who is expected, queue the group notices and the private
    notices. Returns (people expected, group notices, household notices)."""
    if rnd.status != RoundStatus.DRAFT:
        raise DomainError("rounds.already_announced", id=rnd.id)
    community = await session.get(Community, rnd.community_id)
    assert community is not None
    rnd.status = RoundStatus.OPEN.value
    rnd.announced_at = clock.now()
    expected = await _materialise(session, rnd)
    views = await slots(session, rnd.id)
    by_compound: dict[int, list[SlotView]] = defaultdict(list)
    for v in views:
        by_compound[v.compound_id].append(v)
    groups = 0
    chats = await session.scalars(
        select(GroupChat).where(
            GroupChat.active.is_(True), GroupChat.compound_id.in_(list(by_compound))
        )
    )
    for chat in chats:
        text = catalog.render(
            community.locale, "rounds.group_notice", id=rnd.id, day=rnd.day.isoformat(),
            compound=by_compound[chat.compound_id][0].compound,
            slots=slot_rows(by_compound[chat.compound_id]),
        )  # fmt: skip
        if await outbox.enqueue(
            session, clock, kind="round_group", chat_id=chat.chat_id, is_group=True,
            dedup_key=f"round:{rnd.id}:group:{chat.chat_id}", payload=outbox.message_payload(text),
        ):  # fmt: skip
            groups += 1
    households = await _queue_household_messages(
        session, clock, catalog, rnd, "notice", views=views
    )
    await audit.record(
        session, at=clock.now(), actor=by, action="round.announce", entity="round",
        entity_id=rnd.id, details={"expected": expected, "groups": groups,
                                   "households": households},
    )  # fmt: skip
    return expected, groups, households


async def _queue_household_messages(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    rnd: Round,
    kind: str,
    building_ids: set[int] | None = None,
    views: Sequence[SlotView] | None = None,
) -> int:
    """One private message per household with someone still pending (its head, or
    the first member with Telegram): the slot, the site and who is still expected.
    `kind` is "notice" (at the announcement) or "remind" (before the slot)."""
    from bot.presentation.rounds import round_household_markup

    community = await session.get(Community, rnd.community_id)
    assert community is not None
    slot_of = {
        v.building_id: v for v in (views if views is not None else await slots(session, rnd.id))
    }
    # Households told already are left out in the database, by their dedup key (the
    # unique index answers it): the reminder tick runs every 30 s for every open round,
    # and re-reading every due building's people only to find them told took seconds
    # per tick at a city's scale (bench/city.py).
    told = exists().where(
        Delivery.dedup_key
        == literal(f"round:{rnd.id}:{kind}:") + cast(RoundPerson.household_id, String)
    )
    stmt = (
        select(RoundPerson.household_id, RoundPerson.building_id, Person.name,
               RoundPerson.door_to_door)
        .join(Person, RoundPerson.person_id == Person.id)
        .where(RoundPerson.round_id == rnd.id, RoundPerson.status == RoundPersonStatus.PENDING,
               RoundPerson.household_id.is_not(None), ~told)
        .order_by(RoundPerson.household_id, Person.id)
    )  # fmt: skip
    if building_ids is not None:
        stmt = stmt.where(RoundPerson.building_id.in_(building_ids))
    pending: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    building_of: dict[int, int] = {}
    for hid, bid, name, door in await session.execute(stmt):
        if hid is None or bid is None:
            continue
        pending[hid].append((name, door))
        building_of[hid] = bid
    if not pending:
        return 0
    # Plain columns (no ORM objects): 100,000 households at an announcement.
    recipients: dict[int, tuple[int, int, str | None]] = {}
    members = await session.execute(
        select(Person.household_id, Person.id, Person.telegram_user_id, Person.language)
        .where(Person.household_id.in_(list(pending)), Person.telegram_user_id.is_not(None))
        .order_by(Person.is_head.desc(), Person.id)
    )
    for hid, pid, tg, language in members:
        if hid is not None and tg is not None:
            recipients.setdefault(hid, (pid, tg, language))
    # One INSERT per thousand households, not one per household (a city's round has
    # 100,000: bench/city.py); the dedup key still refuses a household told already.
    rows: list[dict[str, Any]] = []
    markups: dict[str, Any] = {}
    for hid, (person_id, chat_id, language) in recipients.items():
        slot = slot_of.get(building_of[hid])
        if slot is None:
            continue
        if kind == "remind" and all(door for _, door in pending[hid]):
            continue  # staff come to the door: nothing to remind
        locale = language or community.locale
        text = catalog.render(
            locale, f"rounds.household_{kind}", id=rnd.id, day=rnd.day.isoformat(),
            building=f"{slot.compound} {slot.building}", starts=slot.starts, ends=slot.ends,
            site=slot.site, people=[{"name": n, "door": d} for n, d in pending[hid]],
        )  # fmt: skip
        if locale not in markups:
            markups[locale] = round_household_markup(catalog.translator(locale), rnd.id)
        rows.append(
            {"kind": f"round_{kind}", "chat_id": chat_id,
             "dedup_key": f"round:{rnd.id}:{kind}:{hid}", "person_id": person_id,
             "payload": outbox.message_payload(text, reply_markup=markups[locale])}
        )  # fmt: skip
    queued = 0
    for start in range(0, len(rows), 1000):
        queued += await outbox.enqueue_many(session, clock, rows[start : start + 1000])
    return queued


# ---------------------------------------------------------------- marking


@dataclass(frozen=True)
class Marked:
    round_id: int
    person: Person
    address: str
    newly: bool  # False: already counted in this round


_MARKABLE = (RoundPersonStatus.PENDING, RoundPersonStatus.AWAY, RoundPersonStatus.EXEMPT)


async def _set_status(
    session: AsyncSession, clock: Clock, *, round_id: int, person_id: int, status: str,
    method: str, by: Person | None, note: str | None = None, photo: str | None = None,
) -> bool:  # fmt: skip
    """One UPDATE: True when the row changed (a person counts once per round)."""
    values: dict[str, Any] = {
        "status": status, "method": method, "marked_at": clock.now(),
        "marked_by_id": by.id if by else None,
    }  # fmt: skip
    if note is not None:
        values["note"] = note
    if photo is not None:
        values["photo_file_id"] = photo
    allowed = _MARKABLE if status == RoundPersonStatus.TESTED else (RoundPersonStatus.PENDING,)
    if status in (RoundPersonStatus.EXEMPT, RoundPersonStatus.AWAY):
        allowed = (RoundPersonStatus.PENDING, RoundPersonStatus.EXEMPT, RoundPersonStatus.AWAY)
    result = await session.execute(
        update(RoundPerson)
        .where(
            RoundPerson.round_id == round_id,
            RoundPerson.person_id == person_id,
            RoundPerson.status.in_([s.value for s in allowed]),
            RoundPerson.round_id.in_(select(Round.id).where(Round.status == RoundStatus.OPEN)),
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_by_code(
    session: AsyncSession, clock: Clock, *, identity: Identity, token: str
) -> list[Marked]:
    """A staffer scanned a personal code: mark the person tested in every open round
    that expects them. NotAllowed for anyone who may not mark this person."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,32}", token):
        raise NotFound("rounds.code_unknown")
    # One query: the person, where they live (the scope the role is checked in) and
    # their rows in the open rounds.
    open_rounds_ = select(Round.id).where(Round.status == RoundStatus.OPEN)
    rows = (
        await session.execute(
            select(
                Person, Compound.community_id, Compound.id, Building.grid_id, Compound.name,
                Building.name, Unit.name, Household.room, RoundPerson.round_id,
            )
            .select_from(PersonCode)
            .join(Person, PersonCode.person_id == Person.id)
            .join(Household, Person.household_id == Household.id)
            .join(Unit, Household.unit_id == Unit.id)
            .join(Building, Unit.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id)
            .outerjoin(
                RoundPerson,
                and_(RoundPerson.person_id == Person.id, RoundPerson.round_id.in_(open_rounds_)),
            )
            .where(PersonCode.token == token)
        )
    ).all()  # fmt: skip
    if not rows:
        raise NotFound("rounds.code_unknown")
    person, community_id, compound_id, grid_id = rows[0][0], rows[0][1], rows[0][2], rows[0][3]
    address = " ".join(rows[0][4:8])
    if not may_mark(identity, community_id, compound_id, grid_id):
        raise NotAllowed("rounds.scan_not_allowed")
    round_ids = [r[8] for r in rows if r[8] is not None]
    if not round_ids:
        raise DomainError("rounds.not_in_open_round", name=person.name)
    marked = []
    for round_id in round_ids:
        newly = await _set_status(
            session, clock, round_id=round_id, person_id=person.id,
            status=RoundPersonStatus.TESTED, method="scan", by=identity.person,
        )  # fmt: skip
        marked.append(Marked(round_id, person, address, newly))
    return marked


async def _round_person(
    session: AsyncSession, round_id: int, person_id: int
) -> tuple[Round, RoundPerson, Person]:
    row = (
        await session.execute(
            select(Round, RoundPerson, Person)
            .join(RoundPerson, RoundPerson.round_id == Round.id)
            .join(Person, RoundPerson.person_id == Person.id)
            .where(Round.id == round_id, RoundPerson.person_id == person_id)
        )
    ).one_or_none()
    if row is None:
        raise NotAllowed("rounds.not_in_round")
    return row[0], row[1], row[2]


async def _compound_of_building(session: AsyncSession, building_id: int | None) -> int | None:
    if building_id is None:
        return None
    return await session.scalar(select(Building.compound_id).where(Building.id == building_id))


async def check_staff_mark(
    session: AsyncSession, *, identity: Identity, round_id: int, person_id: int
) -> Person:
    """Raise unless `identity` may mark this person of this (open) round."""
    rnd, rp, person = await _round_person(session, round_id, person_id)
    compound_id = await _compound_of_building(session, rp.building_id)
    if not may_mark(identity, rnd.community_id, compound_id, rp.grid_id):
        raise NotAllowed("rounds.scan_not_allowed")
    if rnd.status != RoundStatus.OPEN:
        raise DomainError("rounds.not_open", id=rnd.id)
    return person


async def staff_mark(
    session: AsyncSession, clock: Clock, *, identity: Identity, round_id: int, person_id: int,
    status: RoundPersonStatus, method: str, note: str | None = None,
) -> tuple[Person, bool]:  # fmt: skip
    """A staffer ticks a person in a household list, or a grid worker marks visited /
    exempt / away. The role is checked for the person's compound and grid."""
    person = await check_staff_mark(
        session, identity=identity, round_id=round_id, person_id=person_id
    )
    changed = await _set_status(
        session, clock, round_id=round_id, person_id=person_id, status=status, method=method,
        by=identity.person, note=note,
    )  # fmt: skip
    if changed and status != RoundPersonStatus.TESTED:
        await audit.record(
            session, at=clock.now(), actor=identity.person, action=f"round.{status.value}",
            entity="person", entity_id=person_id, details={"round_id": round_id, "note": note},
        )  # fmt: skip
    return person, changed


def may_self_report(actor: Person, person: Person) -> bool:
    """Oneself, or as head (or the one who registered them) a member of one's household."""
    if actor.id == person.id:
        return True
    return (
        actor.household_id is not None
        and actor.household_id == person.household_id
        and (actor.is_head or person.reported_by_id == actor.id or person.telegram_user_id is None)
    )


async def self_candidates(
    session: AsyncSession, round_id: int, actor: Person
) -> list[tuple[Person, str]]:
    """The people of the actor's household in the round, with their status."""
    if actor.household_id is None:
        raise NotAllowed("rounds.not_in_round")
    rows = await session.execute(
        select(Person, RoundPerson.status)
        .join(RoundPerson, RoundPerson.person_id == Person.id)
        .where(RoundPerson.round_id == round_id, RoundPerson.household_id == actor.household_id)
        .order_by(Person.is_head.desc(), Person.id)
    )
    return [(p, s) for p, s in rows if may_self_report(actor, p)]


async def self_report(
    session: AsyncSession, clock: Clock, *, actor: Person, round_id: int, person_id: int
) -> tuple[Person, bool]:
    _rnd, _rp, person = await _round_person(session, round_id, person_id)
    if not may_self_report(actor, person):
        raise NotAllowed("rounds.not_in_round")
    changed = await _set_status(
        session, clock, round_id=round_id, person_id=person_id,
        status=RoundPersonStatus.TESTED, method="self", by=actor,
    )  # fmt: skip
    return person, changed


async def attach_photo(
    session: AsyncSession, *, actor: Person, round_id: int, person_ids: Sequence[int], file_id: str
) -> int:
    """The photo of the result screen, on the rows this actor self-reported."""
    result = await session.execute(
        update(RoundPerson)
        .where(
            RoundPerson.round_id == round_id,
            RoundPerson.person_id.in_(list(person_ids)),
            RoundPerson.marked_by_id == actor.id,
            RoundPerson.method == "self",
        )
        .values(photo_file_id=file_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- progress and lists


@dataclass
class BuildingProgress:
    name: str
    expected: int = 0
    tested: int = 0
    exempt: int = 0
    away: int = 0
    positive: int = 0

    @property
    def pending(self) -> int:
        return self.expected - self.tested - self.exempt - self.away - self.positive

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expected": self.expected, "tested": self.tested,
                "exempt": self.exempt, "away": self.away, "positive": self.positive,
                "pending": self.pending}  # fmt: skip


async def progress(session: AsyncSession, round_id: int) -> list[BuildingProgress]:
    """Per building: expected / tested / exempt / away / positive (one GROUP BY)."""
    names = {v.building_id: f"{v.compound} {v.building}" for v in await slots(session, round_id)}
    result = {bid: BuildingProgress(name) for bid, name in names.items()}
    rows = await session.execute(
        select(RoundPerson.building_id, RoundPerson.status, func.count())
        .where(RoundPerson.round_id == round_id)
        .group_by(RoundPerson.building_id, RoundPerson.status)
    )
    for bid, status, count in rows:
        entry = result.setdefault(bid or 0, BuildingProgress(names.get(bid or 0, "—")))
        entry.expected += count
        if status != RoundPersonStatus.PENDING:
            setattr(entry, status, getattr(entry, status) + count)
    return list(result.values())


def total(rows: Sequence[BuildingProgress]) -> BuildingProgress:
    t = BuildingProgress("")
    for r in rows:
        t.expected += r.expected
        t.tested += r.tested
        t.exempt += r.exempt
        t.away += r.away
        t.positive += r.positive
    return t


@dataclass(frozen=True)
class Pending:
    round_id: int
    person_id: int
    name: str
    address: str
    door: bool


async def not_tested(
    session: AsyncSession, round_id: int, building_ids: Iterable[int] | None
) -> list[Pending]:
    """People still pending in a round (in the given buildings), in address order."""
    stmt = (
        select(RoundPerson.person_id, Person.name, Compound.name, Building.name, Unit.name,
               Household.room, RoundPerson.door_to_door)
        .join(Person, RoundPerson.person_id == Person.id)
        .join(Household, RoundPerson.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(RoundPerson.round_id == round_id, RoundPerson.status == RoundPersonStatus.PENDING)
    )  # fmt: skip
    if building_ids is not None:
        stmt = stmt.where(RoundPerson.building_id.in_(set(building_ids)))
    rows = sorted(
        (await session.execute(stmt)).all(),
        key=lambda r: (r[2], natural_key(r[3]), natural_key(r[4]), natural_key(r[5]), r[0]),
    )
    return [
        Pending(round_id, pid, name, f"{c} {b} {u} {room}", door)
        for pid, name, c, b, u, room, door in rows
    ]


async def open_rounds(session: AsyncSession, community_id: int) -> list[Round]:
    return list(
        await session.scalars(
            select(Round)
            .where(Round.community_id == community_id, Round.status != RoundStatus.CLOSED)
            .order_by(Round.day, Round.id)
        )
    )


async def recent_rounds(session: AsyncSession, community_id: int, limit: int = 10) -> list[Round]:
    return list(
        await session.scalars(
            select(Round)
            .where(Round.community_id == community_id)
            .order_by(Round.day.desc(), Round.id.desc())
            .limit(limit)
        )
    )


async def household_people(
    session: AsyncSession, round_id: int, household_id: int
) -> list[tuple[int, str, str]]:
    """(person id, name, status) of one household in a round (the tick list)."""
    rows = await session.execute(
        select(Person.id, Person.name, RoundPerson.status)
        .join(RoundPerson, RoundPerson.person_id == Person.id)
        .where(RoundPerson.round_id == round_id, RoundPerson.household_id == household_id)
        .order_by(Person.is_head.desc(), Person.id)
    )
    return [(pid, name, status) for pid, name, status in rows]


# ---------------------------------------------------------------- closing and results


async def close_round(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, rnd: Round, by: Person | None
) -> int:
    """Close the round; every household with someone still pending becomes a case
    (no names on the card: the officer opens the round for them). Returns the cases."""
    if rnd.status != RoundStatus.OPEN:
        raise DomainError("rounds.not_open", id=rnd.id)
    community = await session.get(Community, rnd.community_id)
    assert community is not None
    rnd.status = RoundStatus.CLOSED.value
    rnd.closed_at = clock.now()
    rnd.closed_by_id = by.id if by else None
    counts: dict[int, int] = defaultdict(int)
    for (hid,) in await session.execute(
        select(RoundPerson.household_id).where(
            RoundPerson.round_id == rnd.id, RoundPerson.status == RoundPersonStatus.PENDING
        )
    ):
        if hid is not None:
            counts[hid] += 1
    for hid, count in sorted(counts.items()):
        await open_case(
            session, clock, catalog, community_id=community.id, kind=CaseKind.ROUND_MISSED,
            urgent=False, household_id=hid,
            details={"round_id": rnd.id, "count": count, **case_text.summary_details(
                catalog, community.locale, "rounds.case_missed", {"id": rnd.id, "count": count})},
            dedup_key=f"round:{rnd.id}:missed:{hid}", actor=by,
        )  # fmt: skip
    await audit.record(
        session, at=clock.now(), actor=by, action="round.close", entity="round",
        entity_id=rnd.id, details={"cases": len(counts), "pending": sum(counts.values())},
    )  # fmt: skip
    return len(counts)


_HEADERS = {
    "name": ("name", "姓名"), "phone": ("phone", "电话", "手机", "手机号"),
    "compound": ("compound", "小区"), "building": ("building", "楼栋", "楼"),
    "unit": ("unit", "单元"), "room": ("room", "房号", "房间", "门牌"),
}  # fmt: skip


@dataclass
class ImportResult:
    matched: list[str] = field(default_factory=list)  # names
    unmatched: list[int] = field(default_factory=list)  # line numbers
    already: int = 0


# Limits of a lab list, pasted as text or uploaded as a CSV/XLSX file: the same rows,
# checks and limits either way (an uploaded CSV is decoded, then read as pasted text).
LAB_MAX_CHARS = 100_000  # pasted text (Telegram itself stops a message at 4,096)
LAB_MAX_BYTES = 1_000_000  # an uploaded file, before it is read
LAB_MAX_ROWS = 5_000  # lines after the header
LAB_FILE_TYPES = (".csv", ".txt", ".xlsx")


def _lab_cell(value: Any) -> str:
    """One cell as text. A formula ("=...") is never evaluated or trusted: it reads as an
    empty cell, in a pasted list and in a file alike (phones keep their leading "+")."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        text = value.isoformat()[:10]
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # a phone typed into Excel as a number: 13800010001.0
    else:
        text = str(value)
    text = text.strip()
    return "" if text.startswith("=") else text


def lab_rows_from_text(text: str) -> list[list[str]]:
    """The rows of a lab list pasted as CSV text (the header is the first row)."""
    if len(text) > LAB_MAX_CHARS:
        raise DomainError("rounds.positives_too_long", max=LAB_MAX_CHARS)
    return _csv_rows(text)


def _csv_rows(text: str) -> list[list[str]]:
    rows = [[_lab_cell(c) for c in row] for row in csv.reader(io.StringIO(text.strip()))]
    if len(rows) - 1 > LAB_MAX_ROWS:
        raise DomainError("rounds.positives_too_many", max=LAB_MAX_ROWS)
    return rows


def lab_rows_from_file(filename: str, content: bytes) -> list[list[str]]:
    """The rows of a lab list uploaded as a file: CSV (UTF-8 or GB18030) or XLSX (first
    sheet, cached values; formulas read as empty). Same checks as pasted text."""
    if len(content) > LAB_MAX_BYTES:
        raise DomainError("rounds.positives_too_big", max_kb=LAB_MAX_BYTES // 1000)
    lower = filename.lower()
    if lower.endswith((".csv", ".txt")):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
            except UnicodeDecodeError:
                continue
            return _csv_rows(text)  # the file's byte limit stands for the paste's char limit
        raise DomainError("rounds.positives_unreadable")
    if not lower.endswith(".xlsx"):
        raise DomainError("rounds.positives_bad_type")
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for values in sheet.iter_rows(values_only=True):
            rows.append([_lab_cell(v) for v in values])
            if len(rows) - 1 > LAB_MAX_ROWS:
                raise DomainError("rounds.positives_too_many", max=LAB_MAX_ROWS)
    except DomainError:
        raise
    except Exception as exc:  # not a workbook, damaged, no sheet ...
        raise DomainError("rounds.positives_unreadable") from exc
    return rows


class _LabList:
    """A lab's list (rows, header first) read against the people of one round."""

    def __init__(self, rows: list[list[str]], people: Sequence[Any]) -> None:
        # Blank lines above the header (a sheet starting lower down) are skipped; line
        # numbers in the answer stay those of the file.
        self.header_line = 1
        while rows and not any(c.strip() for c in rows[0]):
            rows = rows[1:]
            self.header_line += 1
        if len(rows) < 2:
            raise DomainError("rounds.csv_empty")
        self.columns: dict[str, int] = {}
        for index, header in enumerate(rows[0]):
            for key, names in _HEADERS.items():
                if header.strip().lower() in names:
                    self.columns[key] = index
        if "phone" not in self.columns and not {"building", "unit", "room", "name"} <= set(
            self.columns
        ):
            raise DomainError("rounds.csv_header")
        self.rows = rows[1:]
        self.by_phone: dict[str, Person] = {p.phone: p for p, *_ in people if p.phone}
        self.by_address: dict[tuple[str, ...], list[tuple[Person, str]]] = defaultdict(list)
        for p, compound, building, unit, room in people:
            self.by_address[(building, unit, room, p.name)].append((p, compound))

    def cell(self, row: list[str], key: str) -> str:
        index = self.columns.get(key)
        return row[index].strip() if index is not None and index < len(row) else ""

    def match(self, row: list[str]) -> Person | None:
        """By phone when given and known, else by building, unit, room and name (and the
        compound when given); None unless exactly one person matches."""
        phone = self.cell(row, "phone")
        if phone:
            found: Person | None = None
            with contextlib.suppress(ParseError):
                found = self.by_phone.get(parse_phone(phone))
            if found is not None:
                return found
        key = tuple(self.cell(row, k) for k in ("building", "unit", "room", "name"))
        compound = self.cell(row, "compound")
        candidates = [p for p, c in self.by_address.get(key, []) if not compound or c == compound]
        return candidates[0] if len(candidates) == 1 else None


async def import_positives(
    session: AsyncSession, clock: Clock, catalog: Catalog, *, rnd: Round,
    rows: list[list[str]], by: Person | None,
) -> ImportResult:  # fmt: skip
    """Lab positives, rows from :func:`lab_rows_from_text` or :func:`lab_rows_from_file`
    (header: name, phone, compound, building, unit, room — in English or Chinese; phone
    alone, or address and name, identify a person of the round).
    Each match is marked positive, starts home isolation and opens an urgent case;
    importing the same list again changes nothing."""
    community = await session.get(Community, rnd.community_id)
    assert community is not None
    people = await session.execute(
        select(Person, Compound.name, Building.name, Unit.name, Household.room)
        .join(RoundPerson, RoundPerson.person_id == Person.id)
        .join(Household, RoundPerson.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(RoundPerson.round_id == rnd.id)
    )
    lab = _LabList(rows, people.all())
    result = ImportResult()
    for number, row in enumerate(lab.rows, start=lab.header_line + 1):
        if not any(x.strip() for x in row):
            continue
        person = lab.match(row)
        if person is None:
            result.unmatched.append(number)
        elif await _record_positive(session, clock, catalog, community, rnd, person, by):
            result.matched.append(person.name)
        else:
            result.already += 1
    await audit.record(
        session, at=clock.now(), actor=by, action="round.positives", entity="round",
        entity_id=rnd.id, details={"matched": len(result.matched),
                                   "unmatched": result.unmatched},
    )  # fmt: skip
    return result


async def _record_positive(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community, rnd: Round,
    person: Person, by: Person | None,
) -> bool:  # fmt: skip
    """Mark positive, start isolation, open the urgent case; False if already positive."""
    changed = await session.execute(
        update(RoundPerson)
        .where(
            RoundPerson.round_id == rnd.id, RoundPerson.person_id == person.id,
            RoundPerson.status != RoundPersonStatus.POSITIVE,
        )
        .values(status=RoundPersonStatus.POSITIVE.value, method="lab",
                marked_at=clock.now(), marked_by_id=by.id if by else None)
    )  # fmt: skip
    if not getattr(changed, "rowcount", 0):
        return False
    isolation, _ = await start_isolation(
        session, clock, community=community, person=person,
        start_date=local_today(clock, community.timezone), actor=by,
    )  # fmt: skip
    await open_case(
        session, clock, catalog, community_id=community.id, kind=CaseKind.ROUND_POSITIVE,
        urgent=True, household_id=person.household_id, isolation_id=isolation.id,
        details={"round_id": rnd.id, **case_text.summary_details(
            catalog, community.locale, "rounds.case_positive", {"id": rnd.id})},
        dedup_key=f"round:{rnd.id}:positive:{person.id}", actor=by,
    )  # fmt: skip
    return True


# ---------------------------------------------------------------- the scheduler's part


def _local_dt(day: date, at: time, tz: Any) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


async def due_work(session: AsyncSession, clock: Clock, catalog: Catalog) -> tuple[int, int]:
    """For every open round of today: remind households with someone not yet tested
    from REMIND_BEFORE the building's slot until it ends; when a grid's last slot has
    ended, send each of its grid workers the people still not tested. Idempotent
    (outbox dedup keys). Returns (reminders, grid lists) queued now."""
    reminders = lists = 0
    rows = await session.execute(
        select(Round, Community)
        .join(Community, Community.id == Round.community_id)
        .where(Round.status == RoundStatus.OPEN)
    )
    for rnd, community in rows.all():
        now = local_now(clock, community.timezone)
        if now.date() != rnd.day:
            continue
        views = await slots(session, rnd.id)
        due_buildings = {
            v.building_id for v in views
            if _local_dt(rnd.day, time.fromisoformat(v.starts), now.tzinfo) - REMIND_BEFORE
            <= now < _local_dt(rnd.day, time.fromisoformat(v.ends), now.tzinfo)
        }  # fmt: skip
        if due_buildings:
            reminders += await _queue_household_messages(
                session, clock, catalog, rnd, "remind", due_buildings, views
            )
        grid_end: dict[int, time] = {}
        for v in views:
            if v.grid_id is not None:
                ends = time.fromisoformat(v.ends)
                grid_end[v.grid_id] = max(grid_end.get(v.grid_id, ends), ends)
        for grid_id, ends in grid_end.items():
            if now < _local_dt(rnd.day, ends, now.tzinfo):
                continue
            lists += await queue_grid_lists(session, clock, catalog, rnd, community, grid_id)
    return reminders, lists


async def queue_grid_lists(
    session: AsyncSession, clock: Clock, catalog: Catalog, rnd: Round, community: Community,
    grid_id: int,
) -> int:  # fmt: skip
    """The not-yet-tested list of one grid to each of its grid workers (once)."""
    grid = await session.get(Grid, grid_id)
    workers = await session.scalars(
        select(Person)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(
            RoleGrant.role == Role.GRID_WORKER, RoleGrant.scope_type == ScopeType.GRID,
            RoleGrant.scope_id == grid_id, RoleGrant.revoked_at.is_(None),
            Person.telegram_user_id.is_not(None),
        )
    )  # fmt: skip
    workers_list = list(workers)
    locales = await own_locales(session, workers_list, community.locale)
    rendered: dict[str, tuple[str, Any]] = {}  # one rendering per language
    queued = 0
    people: list[Pending] | None = None
    for worker in workers_list:
        key = f"round:{rnd.id}:todo:{grid_id}:{worker.id}"
        if await outbox.find(session, key) is not None:
            continue
        if people is None:
            buildings = await session.scalars(
                select(Building.id).where(Building.grid_id == grid_id)
            )
            people = await not_tested(session, rnd.id, set(buildings))
        if not people:
            return queued
        locale = locales[worker.id]
        if locale not in rendered:
            t = catalog.translator(locale)
            rendered[locale] = render_todo(t, rnd, grid.name if grid else "", people, 0)
        text, markup = rendered[locale]
        assert worker.telegram_user_id is not None
        if await outbox.enqueue(
            session, clock, kind="round_todo", chat_id=worker.telegram_user_id, dedup_key=key,
            person_id=worker.id, payload=outbox.message_payload(text, reply_markup=markup),
        ):  # fmt: skip
            queued += 1
    return queued


TODO_PAGE = 8


def render_todo(
    t: Any, rnd: Round, grid: str, people: Sequence[Pending], page: int
) -> tuple[str, Any]:
    """The grid worker's list (page of TODO_PAGE people) and its buttons."""
    from bot.presentation.rounds import round_todo_markup

    pages = max(1, -(-len(people) // TODO_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = people[page * TODO_PAGE : (page + 1) * TODO_PAGE]
    text = t(
        "rounds.todo", id=rnd.id, day=rnd.day.isoformat(), grid=grid, count=len(people),
        people=[{"n": page * TODO_PAGE + i + 1, "name": p.name, "address": p.address,
                 "door": p.door} for i, p in enumerate(shown)],
        page=page + 1, pages=pages,
    )  # fmt: skip
    return text, round_todo_markup(t, rnd.id, shown, page * TODO_PAGE, page, pages)
