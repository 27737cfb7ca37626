"""Clock jumps and downtime: a tick that finds more than a day since the last one.

The scheduler's last tick per community is durable (a `JobRun` row whose `at` moves
on every tick). When the gap is longer than `MAX_GAP`, the bot was down (or the clock
jumped): days of that gap were never prompted, so they must not be marked missed, and
isolations must not be released on a date the bot did not witness. The community is
put *on hold* (another `JobRun` row): the safe work goes on (reminders of what is
pending, unreachable people), marking misses and releases wait for an officer to press
"confirm" on one message in the officers' chat. That message says from when to when
the bot was down, how many isolations are due for release, and which daily posts and
charts were not sent (they are reported, not silently dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Isolation, IsolationStatus, JobRun, Person
from bot.presentation.cards import downtime_markup
from bot.services import audit, outbox
from bot.services.errors import DomainError
from messages import Catalog

MAX_GAP = timedelta(days=1)
NOTICE_KIND = "downtime"


def last_tick_key(community_id: int) -> str:
    return f"tick:last:{community_id}"


def hold_key(community_id: int) -> str:
    return f"tick:hold:{community_id}"


@dataclass(frozen=True)
class Gap:
    since: datetime
    until: datetime


async def note_tick(session: AsyncSession, clock: Clock, community: Community) -> Gap | None:
    """Record this tick; the gap since the previous one when longer than MAX_GAP."""
    now = clock.now()
    row = await session.get(JobRun, last_tick_key(community.id))
    if row is None:
        session.add(JobRun(key=last_tick_key(community.id), at=now))
        return None
    since, row.at = row.at, now
    return Gap(since, now) if now - since > MAX_GAP else None


async def held_since(session: AsyncSession, community_id: int) -> datetime | None:
    """When the gap that holds the community began, or None when it is not held."""
    row = await session.get(JobRun, hold_key(community_id))
    return row.at if row is not None else None


async def hold(
    session: AsyncSession, clock: Clock, catalog: Catalog, community: Community, gap: Gap
) -> bool:
    """Hold the community's misses and releases and ask the officers to confirm.
    Returns False (no hold) when there is no officers' chat to ask."""
    if community.officer_chat_id is None:
        return False
    existing = await session.get(JobRun, hold_key(community.id))
    since = existing.at if existing is not None else gap.since
    if existing is None:
        session.add(JobRun(key=hold_key(community.id), at=gap.since))
    zone = ZoneInfo(community.timezone)
    today = gap.until.astimezone(zone).date()
    due = await session.scalar(
        select(func.count()).select_from(Isolation).where(
            Isolation.community_id == community.id,
            Isolation.status == IsolationStatus.ACTIVE,
            Isolation.end_date < today,
        )
    )  # fmt: skip
    locale = community.locale
    text = catalog.render(
        locale, "downtime.held",
        since=_local(since, zone), until=_local(gap.until, zone), due=int(due or 0),
        posts=_days_missed(since, gap.until, zone, community.public_post_time),
        charts=_days_missed(since, gap.until, zone, community.chart_time),
    )  # fmt: skip
    stamp = int(since.timestamp())
    await outbox.enqueue(
        session, clock, kind=NOTICE_KIND, chat_id=community.officer_chat_id, is_group=True,
        dedup_key=f"downtime:{community.id}:{stamp}:{int(gap.until.timestamp())}",
        payload=outbox.message_payload(
            text, reply_markup=downtime_markup(catalog.translator(locale), community.id, stamp)
        ),
    )  # fmt: skip
    return True


async def confirm(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    since_stamp: int,
    actor: Person | None,
) -> None:
    """An officer confirms: the next tick marks misses and releases as usual."""
    row = await session.get(JobRun, hold_key(community_id))
    if row is None or int(row.at.timestamp()) != since_stamp:
        raise DomainError("downtime.not_held")
    await session.delete(row)
    await audit.record(
        session, at=clock.now(), actor=actor, action="community.resume",
        entity="community", entity_id=community_id, details={"since": row.at.isoformat()},
    )  # fmt: skip


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _days_missed(since: datetime, until: datetime, zone: ZoneInfo, at: time) -> list[str]:
    """Local days whose daily post time fell inside the gap (today's, if its time has
    come, is still sent by its own job: not listed)."""
    first: date = since.astimezone(zone).date()
    today = until.astimezone(zone).date()
    days = []
    day = first
    while day < today:
        moment = datetime.combine(day, at, tzinfo=zone)
        if since < moment <= until:
            days.append(day.strftime("%m-%d"))
        day += timedelta(days=1)
    return days
