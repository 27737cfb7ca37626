"""Households and who may join them (R-HH).

* Picking a room that already has a household makes a *pending* join request: the
  head gets approve / reject buttons; when the head has no Telegram, or has not answered
  within the community's `join_fallback_minutes`, the grid worker(s) of the building, or
  else the officers of its compound / community, get it privately.
* The head invites with one-time `join_<token>` deep links (expire, single use,
  revocable), for the household or bound to one listed member without Telegram.
* A listed member is never claimed by typing a name.
* Only the head (or an officer / grid worker in scope) removes members or changes the
  head; a member may leave; a member in active isolation is not removed.
* Staff register a household on someone's behalf, flagged as registered by staff.

Every change is audited; notifications go through the outbox, never to a group.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import (
    Building,
    Community,
    Compound,
    Household,
    Invitation,
    JoinRequest,
    JoinRequestStatus,
    Person,
    Role,
    RoleGrant,
    ScopeType,
    Unit,
)
from bot.services import audit, outbox, scope
from bot.services.directory import HouseholdPath, household_members, household_path
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import Identity, rendered_for
from bot.services.isolation import active_isolation
from messages import Catalog

INVITE_HOURS = 72
REJECTED_WAIT_HOURS = 24
MAX_MEMBERS = 12


# ---------------------------------------------------------------- who decides


def is_head_of(person: Person | None, household_id: int) -> bool:
    return person is not None and person.is_head and person.household_id == household_id


async def staff_reaches(session: AsyncSession, identity: Identity, household_id: int) -> bool:
    """An officer / admin / grid worker whose scope reaches the household's building."""
    path = await household_path(session, household_id)
    if path is None:
        return False
    return scope.covers(
        identity,
        "households",
        community_id=path.community.id,
        compound_id=path.compound.id,
        grid_id=path.building.grid_id,
    )


async def may_manage(session: AsyncSession, identity: Identity, household_id: int) -> bool:
    return is_head_of(identity.person, household_id) or await staff_reaches(
        session, identity, household_id
    )


async def responsible_staff(session: AsyncSession, path: HouseholdPath) -> list[Person]:
    """Who answers for a household when its head cannot: the grid workers of its grid,
    else the officers / admins of its compound, else of its community."""
    conditions = []
    if path.building.grid_id is not None:
        conditions.append(
            (Role.GRID_WORKER, ScopeType.GRID, path.building.grid_id),
        )
    tiers = [
        conditions,
        [(r, ScopeType.COMPOUND, path.compound.id) for r in (Role.OFFICER, Role.ADMIN)],
        [(r, ScopeType.COMMUNITY, path.community.id) for r in (Role.OFFICER, Role.ADMIN)],
    ]
    for tier in tiers:
        found: dict[int, Person] = {}
        for role, scope_type, scope_id in tier:
            rows = await session.scalars(
                select(Person)
                .join(RoleGrant, RoleGrant.person_id == Person.id)
                .where(
                    RoleGrant.role == role,
                    RoleGrant.scope_type == scope_type,
                    RoleGrant.scope_id == scope_id,
                    RoleGrant.revoked_at.is_(None),
                    Person.telegram_user_id.is_not(None),
                )
                .order_by(Person.id)
            )
            for p in rows:
                found[p.id] = p
        if found:
            return list(found.values())
    return []


# ---------------------------------------------------------------- join requests


@dataclass(frozen=True)
class RequestView:
    request: JoinRequest
    path: HouseholdPath


def address_of(path: HouseholdPath) -> dict[str, str]:
    return {
        "compound": path.compound.name,
        "building": path.building.name,
        "unit": path.unit.name,
        "room": path.household.room,
    }


async def apply_to_join(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    telegram_user_id: int,
    language: str,
    household_id: int,
    name: str,
    phone: str | None,
) -> JoinRequest:
    """A pending request to join an existing household; the applicant becomes no member."""
    path = await household_path(session, household_id)
    if path is None:
        raise NotFound("registration.room_unknown")
    pending = await session.scalar(
        select(JoinRequest).where(
            JoinRequest.telegram_user_id == telegram_user_id,
            JoinRequest.status == JoinRequestStatus.PENDING,
        )
    )
    rejected = await session.scalar(
        select(JoinRequest.id).where(
            JoinRequest.telegram_user_id == telegram_user_id,
            JoinRequest.household_id == household_id,
            JoinRequest.status == JoinRequestStatus.REJECTED,
            JoinRequest.decided_at > clock.now() - timedelta(hours=REJECTED_WAIT_HOURS),
        )
    )
    if rejected is not None:
        # No pestering a household that said no: one try a day.
        raise DomainError("households.request_recently_rejected", hours=REJECTED_WAIT_HOURS)
    if pending is not None:
        if pending.household_id == household_id:
            raise DomainError("households.request_already_pending")
        pending.status = JoinRequestStatus.CANCELLED.value
        pending.decided_at = clock.now()
    request = JoinRequest(
        household_id=household_id,
        telegram_user_id=telegram_user_id,
        name=name,
        phone=phone,
        language=language,
        status=JoinRequestStatus.PENDING.value,
        created_at=clock.now(),
    )
    session.add(request)
    await session.flush()
    await audit.record(
        session,
        at=clock.now(),
        actor_telegram_id=telegram_user_id,
        action="household.join_request",
        entity="household",
        entity_id=household_id,
        details={"request_id": request.id},
        community_id=path.community.id,
    )
    members = await household_members(session, household_id)
    head = next((m for m in members if m.is_head and m.telegram_user_id), None)
    if head is not None:
        await _send_request(session, clock, catalog, request, path, [head], to_head=True)
    else:
        await escalate(session, clock, catalog, request, path)
    return request


async def _send_request(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    request: JoinRequest,
    path: HouseholdPath,
    people: list[Person],
    *,
    to_head: bool,
) -> None:
    from bot.household_cards import request_markup

    async def request_card(locale: str) -> dict[str, Any]:
        text = catalog.render(
            locale,
            "households.request_to_head" if to_head else "households.request_to_staff",
            name=request.name,
            phone=request.phone or "",
            address=address_of(path),
            id=request.id,
        )
        return outbox.message_payload(
            text, reply_markup=request_markup(catalog.translator(locale), request.id)
        )

    payloads = await rendered_for(session, people, path.community.locale, request_card)
    for person in people:
        assert person.telegram_user_id is not None
        await outbox.enqueue(
            session,
            clock,
            kind="join_request",
            chat_id=person.telegram_user_id,
            dedup_key=f"join:{request.id}:{'head' if to_head else 'staff'}:{person.id}",
            payload=payloads[person.id],
            person_id=person.id,
        )


async def escalate(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    request: JoinRequest,
    path: HouseholdPath | None = None,
) -> int:
    """Send the request privately to the staff responsible for the household."""
    path = path or await household_path(session, request.household_id)
    if path is None:
        return 0
    staff = await responsible_staff(session, path)
    request.escalated_at = clock.now()
    await _send_request(session, clock, catalog, request, path, staff, to_head=False)
    return len(staff)


async def escalate_due(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """Pending requests the head has not answered within the community's time. Read
    through the household up to its compound, so a district's bot (sessions scoped to
    its communities, bot/db/session.py) reads only its own requests."""
    rows = await session.scalars(
        select(JoinRequest)
        .join(Household, Household.id == JoinRequest.household_id)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(JoinRequest.status == JoinRequestStatus.PENDING, JoinRequest.escalated_at.is_(None))
        .order_by(JoinRequest.id)
    )
    done = 0
    for request in rows.all():
        path = await household_path(session, request.household_id)
        if path is None:
            continue
        limit = timedelta(minutes=path.community.join_fallback_minutes)
        if clock.now() - request.created_at < limit:
            continue
        await escalate(session, clock, catalog, request, path)
        done += 1
    return done


async def decide(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    identity: Identity,
    request_id: int,
    approve: bool,
) -> tuple[JoinRequest, Person | None]:
    """Approve or reject a request: the head of that household, or staff in scope."""
    request = await session.get(JoinRequest, request_id)
    if request is None:
        raise NotFound("households.request_unknown")
    if not await may_manage(session, identity, request.household_id):
        raise NotAllowed("households.not_allowed")
    if request.status != JoinRequestStatus.PENDING:
        raise DomainError(f"households.request_{request.status}")
    path = await household_path(session, request.household_id)
    assert path is not None
    now = clock.now()
    request.status = (JoinRequestStatus.APPROVED if approve else JoinRequestStatus.REJECTED).value
    request.decided_at = now
    request.decided_by_id = identity.person.id if identity.person else None
    person: Person | None = None
    if not approve:
        request.phone = None  # a rejected applicant's phone is not kept
    if approve:
        person = await _make_member(
            session,
            clock,
            telegram_user_id=request.telegram_user_id,
            household=path.household,
            name=request.name,
            phone=request.phone,
            language=request.language,
        )
    await audit.record(
        session,
        at=now,
        actor=identity.person,
        actor_telegram_id=identity.telegram_user_id,
        action="household.join_approve" if approve else "household.join_reject",
        entity="household",
        entity_id=request.household_id,
        details={"request_id": request.id, "person_id": person.id if person else None},
        community_id=path.community.id,
    )
    text = catalog.render(
        request.language,
        "households.applicant_approved" if approve else "households.applicant_rejected",
        address=address_of(path),
    )
    await outbox.enqueue(
        session,
        clock,
        kind="join_decision",
        chat_id=request.telegram_user_id,
        dedup_key=f"join:{request.id}:decided",
        payload=outbox.message_payload(text),
    )
    return request, person


async def pending_requests(session: AsyncSession, household_id: int) -> list[JoinRequest]:
    return list(
        await session.scalars(
            select(JoinRequest)
            .where(
                JoinRequest.household_id == household_id,
                JoinRequest.status == JoinRequestStatus.PENDING,
            )
            .order_by(JoinRequest.id)
        )
    )


async def _make_member(
    session: AsyncSession,
    clock: Clock,
    *,
    telegram_user_id: int,
    household: Household,
    name: str,
    phone: str | None,
    language: str,
) -> Person:
    now = clock.now()
    person = await session.scalar(select(Person).where(Person.telegram_user_id == telegram_user_id))
    if person is None:
        person = Person(telegram_user_id=telegram_user_id, name=name, created_at=now)
        session.add(person)
    elif person.household_id not in (None, household.id):
        await _leave_checks(session, person)
    person.name = name
    if phone:
        person.phone = phone
    person.language = language
    person.household_id = household.id
    person.updated_at = now
    others = [m for m in await household_members(session, household.id) if m is not person]
    person.is_head = not any(m.is_head for m in others)
    await session.flush()
    return person


# ---------------------------------------------------------------- invitations


async def create_invitation(
    session: AsyncSession, clock: Clock, *, identity: Identity, member_id: int | None = None
) -> Invitation:
    """The head invites to their household (optionally bound to one listed member)."""
    person = identity.person
    if person is None or person.household_id is None or not person.is_head:
        raise NotAllowed("households.head_only")
    if member_id:
        member = await session.get(Person, member_id)
        if (
            member is None
            or member.household_id != person.household_id
            or member.telegram_user_id is not None
        ):
            raise NotFound("households.member_unknown")
    now = clock.now()
    invitation = Invitation(
        token=secrets.token_urlsafe(18)[:24],
        household_id=person.household_id,
        member_id=member_id or None,
        created_by_id=person.id,
        created_at=now,
        expires_at=now + timedelta(hours=INVITE_HOURS),
    )
    session.add(invitation)
    await session.flush()
    await audit.record(
        session,
        at=now,
        actor=person,
        action="household.invite",
        entity="household",
        entity_id=person.household_id,
        details={"invitation_id": invitation.id, "member_id": member_id or None},
    )
    return invitation


async def create_staff_invitation(
    session: AsyncSession, clock: Clock, *, identity: Identity, member_id: int
) -> Invitation:
    """An officer's action (R-HH): a link bound to one listed member without Telegram,
    made by staff whose scope covers the household; audited like the head's."""
    member = await session.get(Person, member_id)
    if member is None or member.household_id is None or member.telegram_user_id is not None:
        raise NotFound("households.member_unknown")
    if not await staff_reaches(session, identity, member.household_id):
        raise NotAllowed("households.not_allowed")
    now = clock.now()
    invitation = Invitation(
        token=secrets.token_urlsafe(18)[:24],
        household_id=member.household_id,
        member_id=member.id,
        created_by_id=identity.person.id if identity.person else None,
        created_at=now,
        expires_at=now + timedelta(hours=INVITE_HOURS),
    )
    session.add(invitation)
    await session.flush()
    await audit.record(
        session,
        at=now,
        actor=identity.person,
        actor_telegram_id=identity.telegram_user_id,
        action="household.invite",
        entity="household",
        entity_id=member.household_id,
        details={"invitation_id": invitation.id, "member_id": member.id, "by_staff": True},
    )
    return invitation


async def revoke_invitation(
    session: AsyncSession, clock: Clock, *, identity: Identity, invitation_id: int
) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or not is_head_of(identity.person, invitation.household_id):
        raise NotFound("households.invite_unknown")
    if invitation.used_at is not None:
        raise DomainError("households.invite_used")
    if invitation.revoked_at is None:
        invitation.revoked_at = clock.now()
        await audit.record(
            session,
            at=clock.now(),
            actor=identity.person,
            action="household.invite_revoke",
            entity="household",
            entity_id=invitation.household_id,
            details={"invitation_id": invitation.id},
        )
    return invitation


async def open_invitations(
    session: AsyncSession, clock: Clock, household_id: int
) -> list[Invitation]:
    return list(
        await session.scalars(
            select(Invitation)
            .where(
                Invitation.household_id == household_id,
                Invitation.used_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > clock.now(),
            )
            .order_by(Invitation.id)
        )
    )


async def check_invitation(session: AsyncSession, clock: Clock, token: str) -> Invitation:
    """A usable invitation, or a DomainError saying exactly what is wrong with it."""
    invitation = await session.scalar(select(Invitation).where(Invitation.token == token[:32]))
    if invitation is None:
        raise NotFound("households.invite_unknown")
    if invitation.used_at is not None:
        raise DomainError("households.invite_used")
    if invitation.revoked_at is not None:
        raise DomainError("households.invite_revoked")
    if invitation.expires_at <= clock.now():
        raise DomainError("households.invite_expired")
    if invitation.member_id is not None:
        member = await session.get(Person, invitation.member_id)
        if (
            member is None
            or member.household_id != invitation.household_id
            or member.telegram_user_id is not None
        ):
            raise DomainError("households.invite_member_gone")
    return invitation


async def accept_invitation(
    session: AsyncSession,
    clock: Clock,
    *,
    telegram_user_id: int,
    language: str,
    token: str,
    name: str | None = None,
    phone: str | None = None,
) -> Person:
    """Use an invitation: join the household, or take over the bound member's record."""
    invitation = await check_invitation(session, clock, token)
    household = await session.get(Household, invitation.household_id)
    assert household is not None
    existing = await session.scalar(
        select(Person).where(Person.telegram_user_id == telegram_user_id)
    )
    if existing is not None and existing.household_id == household.id:
        raise DomainError("households.already_member")
    now = clock.now()
    if invitation.member_id is not None:
        if existing is not None:
            # One Telegram account is one person record: theirs would be orphaned.
            raise DomainError("households.invite_has_record")
        person = await session.get(Person, invitation.member_id)
        assert person is not None
        person.telegram_user_id = telegram_user_id
        person.language = language
        if phone:
            person.phone = phone
        person.updated_at = now
        claimed = True
    else:
        if not name:
            raise DomainError("households.name_required")
        members = await household_members(session, household.id)
        if len(members) >= MAX_MEMBERS:
            raise DomainError("registration.too_many_members", limit=MAX_MEMBERS)
        person = await _make_member(
            session,
            clock,
            telegram_user_id=telegram_user_id,
            household=household,
            name=name,
            phone=phone,
            language=language,
        )
        claimed = False
    invitation.used_at = now
    invitation.used_by_telegram_id = telegram_user_id
    await session.flush()
    await audit.record(
        session,
        at=now,
        actor=person,
        action="household.invite_used",
        entity="household",
        entity_id=household.id,
        details={"invitation_id": invitation.id, "claimed_member": claimed},
    )
    return person


# ---------------------------------------------------------------- members


async def check_can_move(session: AsyncSession, person: Person) -> None:
    """Before someone registered elsewhere starts joining another household (an invitation
    link): refuse at once what the join would refuse at its end."""
    await _leave_checks(session, person)


async def _leave_checks(session: AsyncSession, person: Person) -> list[Person]:
    """Refuse a leave that would strand the household; returns who remains."""
    if await active_isolation(session, person.id) is not None:
        raise DomainError("households.member_isolated", name=person.name)
    if person.household_id is None:
        return []
    others = [m for m in await household_members(session, person.household_id) if m is not person]
    if person.is_head and any(m.telegram_user_id for m in others):
        raise DomainError("households.head_must_hand_over")
    if others and not any(m.telegram_user_id for m in others):
        # Only members without Telegram would remain: nobody could report for them.
        raise DomainError("households.last_reporter")
    return others


async def remove_member(
    session: AsyncSession, clock: Clock, *, identity: Identity, member_id: int
) -> Person:
    """The head (or staff in scope) removes a member; not one in active isolation."""
    member = await session.get(Person, member_id)
    if member is None or member.household_id is None:
        raise NotFound("households.member_unknown")
    household_id = member.household_id
    if not await may_manage(session, identity, household_id):
        raise NotAllowed("households.head_only")
    if identity.person is not None and member.id == identity.person.id:
        raise DomainError("households.use_leave")
    if member.is_head:
        raise DomainError("households.cannot_remove_head")
    if await active_isolation(session, member.id) is not None:
        raise DomainError("households.member_isolated", name=member.name)
    member.household_id = None
    member.updated_at = clock.now()
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        actor_telegram_id=identity.telegram_user_id,
        action="member.remove",
        entity="person",
        entity_id=member.id,
        details={"household_id": household_id},
    )
    return member


async def leave(session: AsyncSession, clock: Clock, *, person: Person) -> int:
    """A member leaves their household. Returns how many people remain in it."""
    if person.household_id is None:
        raise DomainError("registration.not_registered")
    household_id = person.household_id
    others = await _leave_checks(session, person)
    person.is_head = False
    person.household_id = None
    person.updated_at = clock.now()
    await audit.record(
        session,
        at=clock.now(),
        actor=person,
        action="member.leave",
        entity="person",
        entity_id=person.id,
        details={"household_id": household_id},
        community_id=(await _community_id(session, household_id)),
    )
    return len(others)


async def _community_id(session: AsyncSession, household_id: int) -> int | None:
    path = await household_path(session, household_id)
    return path.community.id if path else None


async def change_head(
    session: AsyncSession, clock: Clock, *, identity: Identity, new_head_id: int
) -> Person:
    new_head = await session.get(Person, new_head_id)
    if new_head is None or new_head.household_id is None:
        raise NotFound("households.member_unknown")
    if not await may_manage(session, identity, new_head.household_id):
        raise NotAllowed("households.head_only")
    if new_head.telegram_user_id is None:
        raise DomainError("households.head_needs_telegram", name=new_head.name)
    if new_head.is_head:
        raise DomainError("households.already_head", name=new_head.name)
    for m in await household_members(session, new_head.household_id):
        m.is_head = m.id == new_head.id
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        actor_telegram_id=identity.telegram_user_id,
        action="household.change_head",
        entity="person",
        entity_id=new_head.id,
        details={"household_id": new_head.household_id},
    )
    return new_head


async def move_by_staff(
    session: AsyncSession,
    clock: Clock,
    *,
    identity: Identity,
    person_id: int,
    household_id: int,
) -> Person:
    """An officer / grid worker in scope of both households moves a person (also one in
    active isolation, which only staff may move). A head who leaves others behind hands
    the role to the first remaining member with Telegram."""
    person = await session.get(Person, person_id)
    if person is None or person.household_id is None:
        raise NotFound("households.member_unknown")
    old_household = person.household_id
    if old_household == household_id:
        raise DomainError("households.already_member")
    if not (
        await staff_reaches(session, identity, old_household)
        and await staff_reaches(session, identity, household_id)
    ):
        raise NotAllowed("households.not_allowed")
    members = await household_members(session, household_id)
    if len(members) >= MAX_MEMBERS:
        raise DomainError("registration.too_many_members", limit=MAX_MEMBERS)
    new_head = None
    if person.is_head:
        others = [m for m in await household_members(session, old_household) if m is not person]
        new_head = next((m for m in others if m.telegram_user_id), None) or (
            others[0] if others else None
        )
        if new_head is not None:
            new_head.is_head = True
    person.household_id = household_id
    person.is_head = not any(m.is_head for m in members)
    person.updated_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        actor_telegram_id=identity.telegram_user_id,
        action="member.move",
        entity="person",
        entity_id=person.id,
        details={
            "household_id": {"old": old_household, "new": household_id},
            "new_head_id": new_head.id if new_head else None,
        },
    )
    return person


async def register_by_staff(
    session: AsyncSession,
    clock: Clock,
    *,
    identity: Identity,
    household_id: int,
    name: str,
    phone: str | None,
) -> Person:
    """Door to door: an officer / grid worker in scope registers a person without
    Telegram (head when the household has none), flagged as registered by staff."""
    if not await staff_reaches(session, identity, household_id):
        raise NotAllowed("households.not_allowed")
    members = await household_members(session, household_id)
    if any(m.name.casefold() == name.casefold() for m in members):
        raise DomainError("registration.member_exists", name=name)
    if len(members) >= MAX_MEMBERS:
        raise DomainError("registration.too_many_members", limit=MAX_MEMBERS)
    assert identity.person is not None
    person = Person(
        household_id=household_id,
        name=name,
        phone=phone,
        is_head=not any(m.is_head for m in members),
        registered_by_staff_id=identity.person.id,
        created_at=clock.now(),
    )
    session.add(person)
    await session.flush()
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        action="household.staff_register",
        entity="person",
        entity_id=person.id,
        details={"household_id": household_id},
    )
    return person


async def community_of(session: AsyncSession, household_id: int) -> Community | None:
    path = await household_path(session, household_id)
    return path.community if path else None
