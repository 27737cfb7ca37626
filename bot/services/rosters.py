"""Duty rosters (R-ROSTER): officers, or a property manager for their compound, publish
shifts (gate duty, door screening, test-site help, deliveries); volunteers sign up with a
button; a reminder before the shift; at its start a confirmation with the self-check
"mask worn, temperature normal"; an unfilled or unconfirmed shift alerts the organiser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import Building, Community, Compound, Person, Role, Shift, ShiftSignup
from bot.parsing import ParseError, parse_date
from bot.presentation.callbacks import RosterCb
from bot.presentation.keyboards import buttons
from bot.services import audit, outbox
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity, own_locales
from messages import Catalog

KINDS: tuple[str, ...] = ("gate", "screening", "test_site", "delivery")
ORGANISER_ROLES = OFFICER_ROLES | {Role.PROPERTY_MANAGER}
SIGNUP_ROLES = OFFICER_ROLES | {Role.VOLUNTEER, Role.PROPERTY_MANAGER, Role.GUARD}
_HOURS = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
MAX_SLOTS = 50


@dataclass(frozen=True)
class ShiftView:
    shift: Shift
    compound: str
    taken: int


async def publish(
    session: AsyncSession, clock: Clock, *, identity: Identity, text: str
) -> tuple[Shift, Compound]:
    """ "gate 阳光花园 2022-03-11 08:00-12:00 2" → a new shift. Officers of the
    community, or a property manager of that compound."""
    words = text.split()
    if len(words) != 5 or words[0] not in KINDS:
        raise DomainError("roster.usage")
    kind, compound_name, day_text, hours, slots_text = words
    compound = await session.scalar(select(Compound).where(Compound.name == compound_name))
    if compound is None:
        raise DomainError("roster.unknown_compound", name=compound_name)
    if not identity.allows(
        ORGANISER_ROLES, community_id=compound.community_id, compound_id=compound.id
    ):
        raise NotAllowed()
    community = await session.get(Community, compound.community_id)
    assert community is not None
    match = _HOURS.fullmatch(hours)
    if not match or not slots_text.isdigit() or not 1 <= int(slots_text) <= MAX_SLOTS:
        raise DomainError("roster.usage")
    try:
        day = parse_date(day_text, local_today(clock, community.timezone), ahead=True)
        first = time(int(match[1]), int(match[2]))
        last = time(int(match[3]), int(match[4]))
    except (ParseError, ValueError) as exc:
        raise DomainError("roster.usage") from exc
    zone = ZoneInfo(community.timezone)
    starts = datetime.combine(day, first, tzinfo=zone)
    ends = datetime.combine(day, last, tzinfo=zone)
    if ends <= starts:
        ends += timedelta(days=1)
    if starts <= clock.now():
        raise DomainError("roster.in_the_past")
    shift = Shift(
        community_id=community.id, compound_id=compound.id, kind=kind, starts_at=starts,
        ends_at=ends, slots=int(slots_text),
        organiser_id=identity.person.id if identity.person else None, created_at=clock.now(),
    )  # fmt: skip
    session.add(shift)
    await session.flush()
    await audit.record(
        session, at=clock.now(), actor=identity.person, action="roster.publish",
        entity="shift", entity_id=shift.id, details={"kind": kind, "slots": shift.slots},
    )  # fmt: skip
    return shift, compound


async def may_sign_up(session: AsyncSession, identity: Identity, compound: Compound) -> bool:
    """Staff of the compound, or of a grid with buildings in it."""
    if identity.allows(SIGNUP_ROLES, community_id=compound.community_id, compound_id=compound.id):
        return True
    grids = set(
        await session.scalars(
            select(Building.grid_id).where(
                Building.compound_id == compound.id, Building.grid_id.is_not(None)
            )
        )
    )
    return any(
        identity.allows(SIGNUP_ROLES, community_id=compound.community_id, grid_id=g) for g in grids
    )


async def _taken(session: AsyncSession, shift_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(ShiftSignup).where(ShiftSignup.shift_id == shift_id)
        )
        or 0
    )


async def upcoming(session: AsyncSession, clock: Clock, identity: Identity) -> list[ShiftView]:
    rows = await session.execute(
        select(Shift, Compound)
        .join(Compound, Shift.compound_id == Compound.id)
        .where(Shift.ends_at > clock.now())
        .order_by(Shift.starts_at, Shift.id)
    )
    out = []
    for shift, compound in rows:
        if await may_sign_up(session, identity, compound):
            out.append(ShiftView(shift, compound.name, await _taken(session, shift.id)))
    if not out and not identity.has_any(SIGNUP_ROLES):
        raise NotAllowed()
    return out


async def sign_up(
    session: AsyncSession, clock: Clock, *, identity: Identity, shift_id: int
) -> ShiftView:
    row = (
        await session.execute(
            select(Shift, Compound)
            .join(Compound, Shift.compound_id == Compound.id)
            .where(Shift.id == shift_id)
        )
    ).one_or_none()
    if row is None:
        raise DomainError("common.button_expired")
    shift, compound = row
    person = identity.person
    if person is None or not await may_sign_up(session, identity, compound):
        raise NotAllowed()
    if shift.starts_at <= clock.now():
        raise DomainError("roster.started")
    if await session.scalar(
        select(ShiftSignup).where(
            ShiftSignup.shift_id == shift.id, ShiftSignup.person_id == person.id
        )
    ):
        raise DomainError("roster.already")
    if await _taken(session, shift.id) >= shift.slots:
        raise DomainError("roster.full")
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(ShiftSignup)
        .values(shift_id=shift.id, person_id=person.id, signed_at=clock.now())
        .on_conflict_do_nothing(index_elements=["shift_id", "person_id"])
    )
    await audit.record(
        session, at=clock.now(), actor=person, action="roster.signup", entity="shift",
        entity_id=shift.id,
    )  # fmt: skip
    return ShiftView(shift, compound.name, await _taken(session, shift.id))


async def confirm_start(
    session: AsyncSession, clock: Clock, *, person: Person | None, signup_id: int
) -> tuple[ShiftSignup, Shift]:
    signup = await session.get(ShiftSignup, signup_id)
    if signup is None or person is None or signup.person_id != person.id:
        raise NotAllowed()
    shift = await session.get(Shift, signup.shift_id)
    assert shift is not None
    if signup.confirmed_at is None:
        signup.confirmed_at = clock.now()
        await audit.record(
            session, at=clock.now(), actor=person, action="roster.start", entity="shift",
            entity_id=shift.id, details={"self_check": "mask_worn_temperature_normal"},
        )  # fmt: skip
    return signup, shift


def _local(value: datetime, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


async def roster_tick(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    remind_minutes: int,
    grace_minutes: int,
) -> None:
    """Reminders and the unfilled alert before a shift; the start-of-shift self-check at
    its start; the unconfirmed alert after the grace. Idempotent (dedup keys)."""
    now = clock.now()
    rows = await session.execute(
        select(Shift, Compound, Community)
        .join(Compound, Shift.compound_id == Compound.id)
        .join(Community, Shift.community_id == Community.id)
        .where(
            Shift.starts_at <= now + timedelta(minutes=remind_minutes),
            Shift.ends_at > now,
        )
    )
    for shift, compound, community in rows.all():
        signups = list(
            await session.execute(
                select(ShiftSignup, Person)
                .join(Person, ShiftSignup.person_id == Person.id)
                .where(ShiftSignup.shift_id == shift.id)
                .order_by(ShiftSignup.id)
            )
        )
        organiser = await session.get(Person, shift.organiser_id) if shift.organiser_id else None
        common = {
            "kind": shift.kind, "compound": compound.name,
            "start": _local(shift.starts_at, community.timezone),
            "end": _local(shift.ends_at, community.timezone)[-5:],
        }  # fmt: skip
        locales = await own_locales(
            session, [p for _, p in signups] + ([organiser] if organiser else []), community.locale
        )
        for signup, person in signups:
            if person.telegram_user_id is None:
                continue
            t = catalog.translator(locales[person.id])
            await outbox.enqueue(
                session, clock, kind="shift_reminder", chat_id=person.telegram_user_id,
                dedup_key=f"shift:{shift.id}:remind:{person.id}", person_id=person.id,
                payload=outbox.message_payload(t("roster.reminder", **common)),
            )  # fmt: skip
            if shift.starts_at <= now and signup.confirmed_at is None:
                await outbox.enqueue(
                    session, clock, kind="shift_start", chat_id=person.telegram_user_id,
                    dedup_key=f"shift:{shift.id}:start:{person.id}", person_id=person.id,
                    payload=outbox.message_payload(
                        t("roster.start_prompt", **common),
                        reply_markup=buttons(
                            [[(t("roster.start_button"), RosterCb(action="start", id=signup.id))]]
                        ),
                    ),
                )  # fmt: skip
        if organiser is None or organiser.telegram_user_id is None:
            continue
        t = catalog.translator(locales[organiser.id])
        if len(signups) < shift.slots:
            await outbox.enqueue(
                session, clock, kind="shift_alert", chat_id=organiser.telegram_user_id,
                dedup_key=f"shift:{shift.id}:unfilled", person_id=organiser.id,
                payload=outbox.message_payload(
                    t("roster.unfilled", taken=len(signups), slots=shift.slots, **common)
                ),
            )  # fmt: skip
        if now >= shift.starts_at + timedelta(minutes=grace_minutes):
            missing = [p.name for s, p in signups if s.confirmed_at is None]
            if missing:
                await outbox.enqueue(
                    session, clock, kind="shift_alert", chat_id=organiser.telegram_user_id,
                    dedup_key=f"shift:{shift.id}:unconfirmed", person_id=organiser.id,
                    payload=outbox.message_payload(
                        t("roster.unconfirmed", names=missing, **common)
                    ),
                )  # fmt: skip
