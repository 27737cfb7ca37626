"""Check-ins, shared pieces: constants, outbox keys, who is asked for whom.

Split from bot/services/checkins.py (which re-exports every name)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import time
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    BigInteger,
    any_,
    bindparam,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Person,
)

PROMPT = "checkin_prompt"
REMINDER = "checkin_reminder"
RELEASE = "isolation_release"
# Answers a button can give; "fever" and "other" are symptoms and escalate at once.
ANSWER_NORMAL = "normal"
ANSWER_FEVER = "fever"
ANSWER_OTHER = "other"
ANSWERS = (ANSWER_NORMAL, ANSWER_FEVER, ANSWER_OTHER)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


def prompt_key(checkin_id: int) -> str:
    return f"checkin:{checkin_id}:prompt"


def reminder_key(checkin_id: int, slot: str) -> str:
    return f"checkin:{checkin_id}:reminder:{slot}"


def parse_slot(value: str) -> time:
    """A reminder time "HH:MM" (a community setting)."""
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes))


# --------------------------------------------------------------------------- recipients


class Recipient(NamedTuple):
    """Who gets the messages about a person: the person, or (without Telegram) the
    family member who reports for them. (A tuple: 50,000 are made each morning.)"""

    person_id: int
    chat_id: int
    locale: str
    for_member: bool


async def recipients(
    session: AsyncSession, person_ids: Iterable[int], default_locale: str
) -> dict[int, Recipient]:
    """The recipient of each person: themself when they have Telegram, otherwise the
    member who reported them, otherwise the household's head (with Telegram)."""
    ids = list(set(person_ids))
    found: dict[int, Recipient] = {}
    if not ids:
        return found
    people: list[tuple[int, int | None, int | None, int | None, str | None]] = []
    for chunk in _chunks(ids, 5000):
        rows = await session.execute(
            select(
                Person.id,
                Person.telegram_user_id,
                Person.reported_by_id,
                Person.household_id,
                Person.language,
            ).where(_in(session, Person.id, chunk))
        )
        people.extend(tuple(r) for r in rows)  # type: ignore[misc]
    without = [p for p in people if p[1] is None]
    for pid, tg, _, _, language in people:
        if tg is not None:
            found[pid] = Recipient(pid, tg, language or default_locale, False)
    if not without:
        return found
    reporters = {p[2] for p in without if p[2] is not None}
    households = {p[3] for p in without if p[3] is not None}
    by_id: dict[int, tuple[int, str | None]] = {}
    heads: dict[int, tuple[int, int, str | None]] = {}
    if reporters:
        for pid, tg, language in await session.execute(
            select(Person.id, Person.telegram_user_id, Person.language).where(
                Person.id.in_(reporters), Person.telegram_user_id.is_not(None)
            )
        ):
            if tg is not None:
                by_id[pid] = (tg, language)
    if households:
        candidates = await session.execute(
            select(Person.household_id, Person.id, Person.telegram_user_id, Person.language)
            .where(Person.household_id.in_(households), Person.telegram_user_id.is_not(None))
            .order_by(Person.is_head.desc(), Person.id)
        )
        for hid, pid, tg, language in candidates:
            if hid is not None and tg is not None:
                heads.setdefault(hid, (pid, tg, language))
    for pid, _, reporter, household, _ in without:
        if reporter is not None and reporter in by_id:
            tg, language = by_id[reporter]
            found[pid] = Recipient(reporter, tg, language or default_locale, True)
        elif household is not None and household in heads:
            head_id, tg, language = heads[household]
            found[pid] = Recipient(head_id, tg, language or default_locale, True)
    return found


def _in(session: AsyncSession, column: Any, values: Sequence[int]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, not thousands."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(BigInteger)))
    return column.in_(values)


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def can_answer_for(actor: Person, person: Person) -> bool:
    """The person themself, or for a member without Telegram the member who reported
    them or the head of their household."""
    if actor.id == person.id:
        return True
    if person.telegram_user_id is not None or person.household_id is None:
        return False
    return actor.household_id == person.household_id and (
        actor.is_head or person.reported_by_id == actor.id
    )
