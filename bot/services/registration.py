"""Consent and household registration (R-REG, R-PRIV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Consent, ConsentDecline, Household, JoinRequest, Person, UserPreference
from bot.services import audit, households
from bot.services.directory import household_members
from bot.services.errors import DomainError, NotFound
from messages import Catalog

# Bump when the consent text in messages/*/registration.toml changes materially:
# each decision records the version the person actually saw.
CONSENT_VERSION = "2026-11-v1"
# Consent per purpose (PIPL: sensitive health data needs its own consent), each with the
# version of its text. Bumping one version asks everyone again for that purpose.
PURPOSES: tuple[str, ...] = ("personal", "health")
CONSENT_VERSIONS: dict[str, str] = {"personal": CONSENT_VERSION, "health": CONSENT_VERSION}


def consent_version(purpose: str) -> str:
    return CONSENT_VERSIONS[purpose]


MAX_MEMBERS = 12


@dataclass
class MemberDraft:
    name: str
    relation: str | None = None


@dataclass
class RegistrationDraft:
    household_id: int
    name: str
    phone: str
    members: list[MemberDraft] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        return {
            "household_id": self.household_id,
            "name": self.name,
            "phone": self.phone,
            "members": [{"name": m.name, "relation": m.relation} for m in self.members],
        }


@dataclass
class RegistrationResult:
    person: Person | None
    household: Household
    joined_existing: bool
    claimed_member: bool
    added_members: list[Person]
    # Set when the room already has a household: the person is no member until the
    # head (or staff) approves (R-HH).
    pending: JoinRequest | None = None


async def record_consent(
    session: AsyncSession,
    clock: Clock,
    *,
    telegram_user_id: int,
    locale: str,
    granted: bool,
    purposes: tuple[str, ...] = PURPOSES,
) -> Consent | None:
    """Record a consent decision, one row per purpose with that purpose's text version.

    A decline by someone the bot knows nothing about stores nothing that identifies them:
    only a per-day counter is bumped (and None is returned). A decline by someone who had
    consented before is their withdrawal, stored once. Returns the first row."""
    known = await session.scalar(
        select(Consent.id).where(Consent.telegram_user_id == telegram_user_id).limit(1)
    )
    if not granted and known is None:
        day = clock.now().date()
        version = consent_version(purposes[0])
        row = await session.get(ConsentDecline, (day, version, locale))
        if row is None:
            session.add(ConsentDecline(day=day, text_version=version, locale=locale, count=1))
        else:
            row.count += 1
        await session.flush()
        return None
    if not granted:
        purposes = purposes[:1]
    rows = [
        Consent(
            telegram_user_id=telegram_user_id,
            text_version=consent_version(purpose),
            locale=locale,
            granted=granted,
            purpose=purpose,
            at=clock.now(),
        )
        for purpose in purposes
    ]
    session.add_all(rows)
    await session.flush()
    return rows[0]


async def has_consent(
    session: AsyncSession, telegram_user_id: int, purposes: tuple[str, ...] = PURPOSES
) -> bool:
    """Whether, for every purpose, the latest decision of this user is a grant of that
    purpose's current text version (a new version, or a withdrawal, asks again)."""
    for purpose in purposes:
        latest = await session.scalar(
            select(Consent)
            .where(Consent.telegram_user_id == telegram_user_id, Consent.purpose == purpose)
            .order_by(Consent.at.desc(), Consent.id.desc())
            .limit(1)
        )
        if not (latest and latest.granted and latest.text_version == consent_version(purpose)):
            return False
    return True


async def needs_new_consent(session: AsyncSession, telegram_user_id: int) -> bool:
    """Whether this user granted consent to a text version that has since changed, for
    some purpose: they are asked again (people registered by staff, with no decision of
    their own on record, are not)."""
    for purpose in PURPOSES:
        latest = await session.scalar(
            select(Consent)
            .where(Consent.telegram_user_id == telegram_user_id, Consent.purpose == purpose)
            .order_by(Consent.at.desc(), Consent.id.desc())
            .limit(1)
        )
        if (
            latest is not None
            and latest.granted
            and latest.text_version != consent_version(purpose)
        ):
            return True
    return False


async def register_household(
    session: AsyncSession,
    clock: Clock,
    *,
    telegram_user_id: int,
    language: str,
    draft: RegistrationDraft,
    catalog: Catalog | None = None,
) -> RegistrationResult:
    """Save a confirmed registration.

    A room nobody registered yet makes a new household with this person as its head.
    A room that already has a household is joined only with its consent (R-HH): a
    pending join request goes to the head (or staff), and nothing of the household is
    shown. A listed member is never claimed by typing the same name. Registering the
    same room again updates the person's own record.
    """
    if not await has_consent(session, telegram_user_id):
        raise DomainError("registration.consent_required")
    household = await session.get(Household, draft.household_id)
    if household is None:
        raise NotFound("registration.room_unknown")
    now = clock.now()
    existing = await household_members(session, household.id)
    person = await session.scalar(select(Person).where(Person.telegram_user_id == telegram_user_id))
    others = [p for p in existing if p is not person]
    already_member = person is not None and person.household_id == household.id
    if not already_member and others:
        if person is not None and person.household_id is not None:
            await households._leave_checks(session, person)
        if catalog is None:
            from messages import Catalog as _Catalog

            catalog = _Catalog()
        request = await households.apply_to_join(
            session,
            clock,
            catalog,
            telegram_user_id=telegram_user_id,
            language=language,
            household_id=household.id,
            name=draft.name,
            phone=draft.phone,
        )
        return RegistrationResult(person, household, False, False, [], pending=request)
    if person is None:
        person = Person(telegram_user_id=telegram_user_id, name=draft.name, created_at=now)
        session.add(person)
    elif not already_member and person.household_id is not None:
        await households._leave_checks(session, person)
    fields = ("name", "phone", "household_id")
    before = {} if person.id is None else {f: getattr(person, f) for f in fields}
    person.name = draft.name
    person.phone = draft.phone
    person.language = language
    person.household_id = household.id
    person.updated_at = now
    if not any(p.is_head for p in others):
        person.is_head = True
    await session.flush()

    added = []
    everyone = [*others, person]
    for member in draft.members:
        if _same_name(everyone, member.name) is not None:
            continue
        if len(everyone) >= MAX_MEMBERS:
            raise DomainError("registration.too_many_members", limit=MAX_MEMBERS)
        new = Person(
            household_id=household.id,
            name=member.name,
            relation=member.relation,
            reported_by_id=person.id,
            created_at=now,
        )
        session.add(new)
        added.append(new)
        everyone.append(new)
    await session.flush()
    await _attach_consent(session, telegram_user_id, person.id)
    await audit.record(
        session,
        at=now,
        actor=person,
        action="registration.saved",
        entity="household",
        entity_id=household.id,
        details={
            "joined_existing": False,
            "members_added": [m.id for m in added],
            "person": audit.changes(before, {f: getattr(person, f) for f in fields}),
        },
    )
    return RegistrationResult(person, household, False, False, added)


def _same_name(people: list[Person], name: str) -> Person | None:
    wanted = name.casefold()
    for p in people:
        if p.name.casefold() == wanted:
            return p
    return None


async def _attach_consent(session: AsyncSession, telegram_user_id: int, person_id: int) -> None:
    consents = await session.scalars(
        select(Consent).where(
            Consent.telegram_user_id == telegram_user_id, Consent.person_id.is_(None)
        )
    )
    for consent in consents:
        consent.person_id = person_id


async def update_profile(
    session: AsyncSession,
    clock: Clock,
    *,
    person: Person,
    name: str | None = None,
    phone: str | None = None,
) -> Person:
    before = {"name": person.name, "phone": person.phone}
    if name is not None and name != person.name:
        person.name = name
    if phone is not None and phone != person.phone:
        person.phone = phone
    # Old and new values of personal data (R-AUD, issue 11).
    changed = audit.changes(before, {"name": person.name, "phone": person.phone})
    if changed:
        person.updated_at = clock.now()
        await audit.record(
            session,
            at=clock.now(),
            actor=person,
            action="person.update",
            entity="person",
            entity_id=person.id,
            details=changed,
        )
    return person


async def add_member(
    session: AsyncSession, clock: Clock, *, reporter: Person, member: MemberDraft
) -> Person:
    """The head (or any registered member) adds someone without Telegram."""
    if reporter.household_id is None:
        raise DomainError("registration.not_registered")
    members = await household_members(session, reporter.household_id)
    if _same_name(members, member.name) is not None:
        raise DomainError("registration.member_exists", name=member.name)
    if len(members) >= MAX_MEMBERS:
        raise DomainError("registration.too_many_members", limit=MAX_MEMBERS)
    new = Person(
        household_id=reporter.household_id,
        name=member.name,
        relation=member.relation,
        reported_by_id=reporter.id,
        created_at=clock.now(),
    )
    session.add(new)
    await session.flush()
    await audit.record(
        session,
        at=clock.now(),
        actor=reporter,
        action="member.add",
        entity="person",
        entity_id=new.id,
        details=audit.changes({}, {"name": new.name, "relation": new.relation}),
    )
    return new


async def count_members(session: AsyncSession, household_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Person).where(Person.household_id == household_id)
        )
        or 0
    )


async def preferred_language(session: AsyncSession, telegram_user_id: int) -> str | None:
    pref = await session.get(UserPreference, telegram_user_id)
    return pref.language if pref else None


async def set_language(
    session: AsyncSession, clock: Clock, *, telegram_user_id: int, language: str
) -> None:
    pref = await session.get(UserPreference, telegram_user_id)
    if pref is None:
        session.add(
            UserPreference(
                telegram_user_id=telegram_user_id, language=language, updated_at=clock.now()
            )
        )
    else:
        pref.language = language
        pref.updated_at = clock.now()
    person = await session.scalar(select(Person).where(Person.telegram_user_id == telegram_user_id))
    if person is not None:
        person.language = language
    await session.flush()
