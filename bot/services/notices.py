"""Official notices (R-NOT): composed by an officer, sent now, at a set time or on a
daily/weekly schedule to compounds' groups, residents directly, or people in isolation.

Every recipient is one outbox row (dedup ``notice:{id}:{run}:{chat_id}``), so a notice is
sent at most once per run per chat however often a tick runs; the sender paces them.
The notice's card in the officer's chat shows progress (sent / failed / pending); a
periodic task queues an edit of the card whenever the counts change.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.db.models import (
    Building,
    Community,
    Compound,
    Delivery,
    DeliveryStatus,
    GroupChat,
    Household,
    Isolation,
    IsolationStatus,
    Notice,
    NoticeStatus,
    Person,
    ScopeType,
    Unit,
)
from bot.parsing import ParseError, clean_text, parse_date
from bot.services import audit, directory, outbox, scope
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.identity import Identity, own_locales
from messages import MESSAGES_DIR, Catalog, normalise_locale

NOTICE_MAX_LEN = 3000  # leaves room for the header within Telegram's 4096
CAPTION_MAX_LEN = 900  # captions are limited to 1024
REPEATS = ("daily", "weekly")
KIND = "notice"
CARD_KIND = "notice_card"


# ------------------------------------------------------------------ library


def library_keys() -> list[str]:
    """Keys of the standard notices, in the order officers see them."""
    with (MESSAGES_DIR / "zh-CN" / "notice_library.toml").open("rb") as fh:
        data = tomllib.load(fh)
    return [key for key in data if not key.endswith("_title")]


def library_text(catalog: Catalog, locale: str, key: str, community: Community) -> str:
    """A standard notice rendered for the community (fever clinics come from its row)."""
    if key not in library_keys():
        raise NotFound("notices.unknown_template")
    return catalog.render(locale, f"notice_library.{key}", clinics=community.fever_clinics or [])


# ------------------------------------------------------------------ compose


@dataclass(frozen=True)
class Audience:
    """Who gets a notice. `compound_ids` limits it to those compounds (none: the whole
    community); `groups` posts it in their owners' groups (False: private chats only, e.g.
    a compound officer writing to their residents without a group post); `residents` and
    `isolation` send it to those people's private chats."""

    compound_ids: tuple[int, ...] = ()
    residents: bool = False
    isolation: bool = False
    groups: bool = True

    def is_empty(self) -> bool:
        return not ((self.compound_ids and self.groups) or self.residents or self.isolation)

    def as_json(self) -> dict[str, Any]:
        return {
            "compounds": list(self.compound_ids),
            "residents": self.residents,
            "isolation": self.isolation,
            "groups": self.groups,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audience:
        return cls(
            tuple(int(c) for c in data.get("compounds", [])),
            bool(data.get("residents")),
            bool(data.get("isolation")),
            # notices made before the choice existed went to the groups of their compounds
            bool(data.get("groups", True)),
        )


async def officer_community(
    session: AsyncSession, identity: Identity, *, chat_id: int | None = None
) -> int:
    """The community an officer acts for (the one rule, `scope.resolve`): a community
    officer's, or the community of the compound(s) an officer is granted for."""
    try:
        acting = await scope.resolve(session, identity, "notices", chat_id=chat_id)
    except scope.ChooseCommunity:
        raise
    except NotAllowed as exc:
        raise NotAllowed("notices.not_allowed") from exc
    return acting.community.id


async def require_officer(
    session: AsyncSession, identity: Identity, community_id: int
) -> frozenset[int] | None:
    """Re-checked on every step and button press, from grants read from the database.
    Returns None for the whole community (community officer / admin), else the
    compounds of this community the actor is an officer for (never empty)."""
    roles = scope.roles_for("notices")
    if identity.allows(roles, community_id=community_id):
        return None
    granted = [
        g.scope_id
        for g in identity.grants
        if g.role in roles and g.scope_type is ScopeType.COMPOUND
    ]
    reach: set[int] = set()
    if granted:
        reach = set(
            await session.scalars(
                select(Compound.id).where(
                    Compound.id.in_(granted), Compound.community_id == community_id
                )
            )
        )
    if not reach:
        raise NotAllowed("notices.not_allowed")
    return frozenset(reach)


def visible(notice: Notice, reach: frozenset[int] | None) -> bool:
    """A compound officer sees a notice only when it goes to their compounds alone."""
    if reach is None:
        return True
    chosen = set(Audience.from_json(notice.audience).compound_ids)
    return bool(chosen) and chosen <= reach


async def audience_compounds(
    session: AsyncSession, identity: Identity, community_id: int
) -> list[Compound]:
    """The compounds the audience picker offers this actor."""
    reach = await require_officer(session, identity, community_id)
    return [c for c in await compounds_of(session, community_id) if reach is None or c.id in reach]


def clean_notice_text(text: str, *, caption: bool = False) -> str:
    """The officer's text, tidied and HTML-escaped (it is sent in HTML parse mode)."""
    limit = CAPTION_MAX_LEN if caption else NOTICE_MAX_LEN
    return html.escape(clean_text(text, limit, multiline=True), quote=False)


async def compounds_of(session: AsyncSession, community_id: int) -> list[Compound]:
    """Kept for callers of the old name: the one listing is `directory.list_compounds`."""
    return await directory.list_compounds(session, community_id)


_TIME = re.compile(r"^(\d{1,2})[:：点時时](\d{2})?分?$")


def parse_time_of_day(text: str) -> time:
    """ "08:00", "8:30", "8点", "20：15" → time. Raises DomainError("notices.time_invalid")."""
    s = text.strip().replace(" ", "")
    m = _TIME.fullmatch(s) or re.fullmatch(r"^(\d{1,2})[:：](\d{2})$", s)
    if not m:
        raise DomainError("notices.time_invalid")
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 23 or minute > 59:
        raise DomainError("notices.time_invalid")
    return time(hour, minute)


def parse_when(text: str, now_local: datetime) -> datetime:
    """A local date and time ("2022-03-11 08:00", "明天 8:00", "8:00" = next such time),
    returned aware in UTC; must be in the future and within 60 days."""
    parts = text.strip().split()
    if len(parts) == 1:
        at = parse_time_of_day(parts[0])
        candidate = datetime.combine(now_local.date(), at, now_local.tzinfo)
        if candidate <= now_local:
            candidate += timedelta(days=1)
    elif len(parts) == 2:
        day = _parse_future_day(parts[0], now_local.date())
        candidate = datetime.combine(day, parse_time_of_day(parts[1]), now_local.tzinfo)
    else:
        raise DomainError("notices.when_invalid")
    if candidate <= now_local:
        raise DomainError("notices.when_past")
    if candidate - now_local > timedelta(days=60):
        raise DomainError("notices.when_too_far")
    return candidate.astimezone(UTC)


def _parse_future_day(text: str, today: date) -> date:
    lowered = text.lower()
    if lowered in ("明天", "tomorrow"):
        return today + timedelta(days=1)
    if lowered in ("后天",):
        return today + timedelta(days=2)
    try:
        return parse_date(text, today, ahead=True)
    except ParseError as exc:
        raise DomainError("notices.when_invalid") from exc


def first_daily(at: time, now_local: datetime) -> datetime:
    """The next occurrence of a local time of day (today if still ahead)."""
    candidate = datetime.combine(now_local.date(), at, now_local.tzinfo)
    if candidate <= now_local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


async def create_notice(
    session: AsyncSession,
    clock: Clock,
    *,
    identity: Identity,
    community_id: int,
    text: str,
    audience: Audience,
    pin: bool = False,
    media_kind: str | None = None,
    media_file_id: str | None = None,
    template_key: str | None = None,
    send_at: datetime | None = None,
    repeat: str | None = None,
    catalog: Catalog | None = None,
    locale: str | None = None,
) -> Notice:
    """Create a notice. `send_at=None` means now: its deliveries are queued at once.
    Otherwise it is scheduled (`repeat` daily/weekly repeats from `send_at`)."""
    reach = await require_officer(session, identity, community_id)
    if audience.is_empty():
        raise NotAllowed("notices.audience_empty")
    own = {c.id for c in await compounds_of(session, community_id)}
    if not set(audience.compound_ids) <= own:
        raise NotFound("notices.compound_unknown")
    if reach is not None:
        # residents / isolation without a compound would mean the whole community
        if not audience.compound_ids:
            raise NotAllowed("notices.audience_own_compound")
        if not set(audience.compound_ids) <= reach:
            raise NotFound("notices.compound_unknown")
    if repeat is not None and repeat not in REPEATS:
        raise NotFound("notices.repeat_unknown")
    now = clock.now()
    notice = Notice(
        community_id=community_id,
        author_id=identity.person.id if identity.person else None,
        text=text,
        template_key=template_key,
        media_kind=media_kind,
        media_file_id=media_file_id,
        audience={**audience.as_json(), "locale": locale},
        pin=pin,
        status=NoticeStatus.SCHEDULED.value if send_at else NoticeStatus.SENDING.value,
        send_at=send_at or now,
        repeat=repeat,
        created_at=now,
    )
    session.add(notice)
    await session.flush()
    await audit.record(
        session,
        at=now,
        actor=identity.person,
        action="notice.create",
        entity="notice",
        entity_id=notice.id,
        details={
            "audience": audience.as_json(),
            "send_at": (send_at or now).isoformat(),
            "repeat": repeat,
            "pin": pin,
            "template": template_key,
        },
    )
    if send_at is None:
        await dispatch(session, clock, notice, run="now", catalog=catalog)
    return notice


async def set_card(session: AsyncSession, notice_id: int, chat_id: int, message_id: int) -> None:
    notice = await session.get(Notice, notice_id)
    if notice is not None:
        notice.card_chat_id, notice.card_message_id = chat_id, message_id


# ------------------------------------------------------------------ sending


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    is_group: bool
    person_id: int | None = None


async def recipients(session: AsyncSession, notice: Notice) -> list[Recipient]:
    """Chats a notice goes to. Residents / people in isolation are limited to the
    chosen compounds when some are chosen, else the whole community. Unreachable
    people (blocked the bot) are skipped. Each chat once."""
    audience = Audience.from_json(notice.audience)
    compound_filter = (
        list(audience.compound_ids)
        if audience.compound_ids
        else select(Compound.id).where(Compound.community_id == notice.community_id)
    )
    out: dict[int, Recipient] = {}
    if audience.compound_ids and audience.groups:
        groups = await session.scalars(
            select(GroupChat)
            .where(GroupChat.compound_id.in_(audience.compound_ids), GroupChat.active.is_(True))
            .order_by(GroupChat.id)
        )
        for group in groups:
            out.setdefault(group.chat_id, Recipient(group.chat_id, True))
    people_in_place = (
        select(Person)
        .join(Household, Person.household_id == Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .where(
            Building.compound_id.in_(compound_filter),
            Person.telegram_user_id.is_not(None),
            Person.unreachable_since.is_(None),
        )
        .order_by(Person.id)
    )
    chosen: list[Person] = []
    if audience.residents:
        chosen.extend((await session.scalars(people_in_place)).all())
    if audience.isolation:
        isolated = people_in_place.where(
            Person.id.in_(
                select(Isolation.person_id).where(
                    Isolation.status == IsolationStatus.ACTIVE.value,
                    Isolation.community_id == notice.community_id,
                )
            )
        )
        chosen.extend((await session.scalars(isolated)).all())
    for person in chosen:
        assert person.telegram_user_id is not None
        out.setdefault(
            person.telegram_user_id, Recipient(person.telegram_user_id, False, person.id)
        )
    return list(out.values())


def notice_payload(notice: Notice, header: str) -> tuple[str, dict[str, Any]]:
    body = f"{header}\n\n{notice.text}" if header else notice.text
    if notice.media_kind == "photo" and notice.media_file_id:
        return "sendPhoto", {"photo": notice.media_file_id, "caption": body, "parse_mode": "HTML"}
    if notice.media_kind == "document" and notice.media_file_id:
        return "sendDocument", {
            "document": notice.media_file_id,
            "caption": body,
            "parse_mode": "HTML",
        }
    return "sendMessage", outbox.message_payload(body)


async def dispatch(
    session: AsyncSession, clock: Clock, notice: Notice, *, run: str, catalog: Catalog | None = None
) -> int:
    """Queue one run of a notice to every recipient; idempotent per (notice, run, chat)."""
    community = await session.get(Community, notice.community_id)
    header = ""
    if catalog is not None and community is not None:
        # The header is in the language the officer composed in (what the preview showed).
        locale = str(notice.audience.get("locale") or community.locale)
        header = catalog.render(locale, "notices.header")
    method, payload = notice_payload(notice, header)
    rows = [
        {
            "kind": KIND,
            "method": method,
            "chat_id": r.chat_id,
            "is_group": r.is_group,
            "dedup_key": f"notice:{notice.id}:{run}:{r.chat_id}",
            "payload": payload,
            "notice_id": notice.id,
            "person_id": r.person_id,
            "pin": notice.pin and r.is_group,
        }
        for r in await recipients(session, notice)
    ]
    # One INSERT per thousand recipients (a community-wide notice in a city reaches
    # thousands: bench/city.py); the dedup key keeps a run idempotent.
    added = 0
    for start in range(0, len(rows), 1000):
        added += await outbox.enqueue_many(session, clock, rows[start : start + 1000])
    return added


def run_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M")


async def dispatch_due(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """Periodic: queue every scheduled notice whose time has come. A repeating one
    moves to its next occurrence (missed occurrences while the bot was down are sent
    once, not once each)."""
    now = clock.now()
    due = (
        await session.scalars(
            select(Notice)
            .where(Notice.status == NoticeStatus.SCHEDULED.value, Notice.send_at <= now)
            .order_by(Notice.id)
        )
    ).all()
    added = 0
    for notice in due:
        assert notice.send_at is not None
        added += await dispatch(
            session, clock, notice, run=run_key(notice.send_at), catalog=catalog
        )
        if notice.repeat in REPEATS:
            step = timedelta(days=1 if notice.repeat == "daily" else 7)
            community = await session.get(Community, notice.community_id)
            tz = ZoneInfo(community.timezone if community else "Asia/Shanghai")
            local = notice.send_at.astimezone(tz)
            while local.astimezone(UTC) <= now:
                # Step in local wall time so 08:00 stays 08:00 across DST changes.
                local = datetime.combine(
                    local.date() + step, local.timetz().replace(tzinfo=None), tz
                )
            notice.send_at = local.astimezone(UTC)
        else:
            notice.status = NoticeStatus.SENDING.value
    return added


async def cancel_notice(
    session: AsyncSession, clock: Clock, *, identity: Identity, notice_id: int
) -> Notice:
    """Cancel a scheduled (or still sending) notice: no further runs, and its
    deliveries not yet sent are cancelled."""
    notice = await session.get(Notice, notice_id)
    if notice is None:
        raise NotFound("notices.unknown")
    reach = await require_officer(session, identity, notice.community_id)
    if not visible(notice, reach):
        raise NotFound("notices.unknown")
    if notice.status in (NoticeStatus.CANCELLED.value, NoticeStatus.SENT.value):
        raise NotFound("notices.not_cancellable")
    notice.status = NoticeStatus.CANCELLED.value
    notice.cancelled_at = clock.now()
    await session.execute(
        update(Delivery)
        .where(
            Delivery.notice_id == notice.id,
            Delivery.kind == KIND,
            Delivery.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        action="notice.cancel",
        entity="notice",
        entity_id=notice.id,
    )
    return notice


async def scheduled(
    session: AsyncSession, community_id: int, reach: frozenset[int] | None = None
) -> list[Notice]:
    """Scheduled (future or repeating) notices of a community, soonest first; with
    `reach`, only those going to these compounds alone."""
    found = list(
        (
            await session.scalars(
                select(Notice)
                .where(
                    Notice.community_id == community_id,
                    Notice.status == NoticeStatus.SCHEDULED.value,
                )
                .order_by(Notice.send_at, Notice.id)
            )
        ).all()
    )
    return [n for n in found if visible(n, reach)]


# ------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Progress:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.pending + self.cancelled


async def progress(session: AsyncSession, notice_id: int) -> Progress:
    rows = (
        await session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.notice_id == notice_id, Delivery.kind == KIND)
            .group_by(Delivery.status)
        )
    ).all()
    counts = {status: int(n) for status, n in rows}
    return Progress(
        sent=counts.get(DeliveryStatus.SENT.value, 0),
        failed=counts.get(DeliveryStatus.FAILED.value, 0),
        pending=counts.get(DeliveryStatus.PENDING.value, 0)
        + counts.get(DeliveryStatus.SENDING.value, 0),
        cancelled=counts.get(DeliveryStatus.CANCELLED.value, 0),
    )


def describe_schedule(catalog: Catalog, locale: str, notice: Notice, tz: str) -> str:
    when = notice.send_at.astimezone(ZoneInfo(tz)) if notice.send_at else None
    if notice.repeat == "daily" and when:
        return catalog.render(locale, "notices.schedule_daily", at=when.strftime("%H:%M"))
    if notice.repeat == "weekly" and when:
        weekday = catalog.render(locale, f"notices.weekday_{when.weekday()}")
        return catalog.render(
            locale, "notices.schedule_weekly", weekday=weekday, at=when.strftime("%H:%M")
        )
    if notice.status == NoticeStatus.SCHEDULED.value and when:
        return catalog.render(locale, "notices.schedule_once", at=when.strftime("%Y-%m-%d %H:%M"))
    return catalog.render(locale, "notices.schedule_now")


def render_card(catalog: Catalog, locale: str, notice: Notice, counts: Progress, tz: str) -> str:
    """The notice's card: status, schedule and delivery progress."""
    return catalog.render(
        normalise_locale(locale),
        "notices.card",
        notice_id=notice.id,
        status=catalog.render(locale, f"notices.status_{notice.status}"),
        schedule=describe_schedule(catalog, locale, notice, tz),
        excerpt=html.unescape(notice.text)[:80],
        p=counts,
    )


async def refresh_cards(session: AsyncSession, clock: Clock, catalog: Catalog) -> int:
    """Periodic: queue an edit of each notice card whose counts changed (debounced by
    the tick and by the dedup key, which holds the counts). A notice with nothing
    left pending becomes 'sent'."""
    since = clock.now() - timedelta(days=2)
    notices = (
        await session.scalars(
            select(Notice).where(
                Notice.card_message_id.is_not(None),
                Notice.status.in_(
                    [
                        NoticeStatus.SENDING.value,
                        NoticeStatus.SCHEDULED.value,
                        NoticeStatus.SENT.value,
                    ]
                ),
                Notice.created_at >= since - timedelta(days=60),
            )
        )
    ).all()
    queued = 0
    for notice in notices:
        counts = await progress(session, notice.id)
        if counts.total == 0:
            continue
        if notice.status == NoticeStatus.SENDING.value and counts.pending == 0:
            notice.status = NoticeStatus.SENT.value
        community = await session.get(Community, notice.community_id)
        locale = await _card_locale(session, notice, community)
        tz = community.timezone if community else "Asia/Shanghai"
        assert notice.card_chat_id is not None and notice.card_message_id is not None
        text = render_card(catalog, locale, notice, counts, tz)
        key = (
            f"ncard:{notice.id}:{counts.sent}:{counts.failed}:{counts.pending}:"
            f"{counts.cancelled}:{notice.status}"
        )
        queued += int(
            await outbox.enqueue(
                session,
                clock,
                kind=CARD_KIND,
                method="editMessageText",
                chat_id=notice.card_chat_id,
                dedup_key=key,
                payload={
                    "message_id": notice.card_message_id,
                    "text": text,
                    "parse_mode": "HTML",
                },
                notice_id=notice.id,
            )
        )
    return queued


async def _card_locale(session: AsyncSession, notice: Notice, community: Community | None) -> str:
    """Edits keep the language the card was sent in: the author's when the notice was
    composed (recorded with it; their Telegram language when they never chose one).
    Older notices: the author's own language in their private chat, else the
    community's."""
    composed_in = notice.audience.get("locale")
    if composed_in:
        return normalise_locale(str(composed_in))
    default = community.locale if community else "zh-CN"
    author = await session.get(Person, notice.author_id) if notice.author_id else None
    if author is None or author.telegram_user_id != notice.card_chat_id:
        return default
    return (await own_locales(session, [author], default))[author.id]


def local_now_for(clock: Clock, community: Community) -> datetime:
    return local_now(clock, community.timezone)
