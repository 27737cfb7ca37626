"""Check-ins, the daily preparation on PostgreSQL: the day's rows and the prompts of
everyone with Telegram of their own, made inside the database (issue 13): no row
travels to Python and back, the event loop only waits.

Each insert is two statements: a plain SELECT finds what to make (ids as arrays, one
row back, as text: 50,000 ids and days are not turned into Python objects on the event
loop and back), then one INSERT … SELECT makes it from the arrays. An INSERT … SELECT that
also reads the table it writes (NOT EXISTS) is planned as a nested loop over that
table when its statistics say it is small (a new database), and the loop rescans every
row the statement has added so far: minutes for 50,000.

The prompt text is the catalog's template rendered once per locale with stand-ins
(`PromptTexts.shell`, checked against real renders), which the statement replaces by
the day number, the last day and the name, HTML-escaped as the template's autoescape
(markupsafe) would. People without Telegram (a family member answers for them) and
languages outside the catalog's locales are left to the per-person path in
checkin_run, which runs after this and finds only what is still without a prompt.

Split from bot/services/checkin_run.py (which calls it on PostgreSQL only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CheckInStatus, Community, DeliveryStatus, IsolationStatus
from bot.db.session import bot_of
from bot.services.checkin_common import PROMPT, REMINDER, prompt_key

# Each isolation that lacks the row of its latest due day gets the rows from the day
# after its latest row (or its first monitored day: the later of the arrival and the
# local date it was recorded, the next day when recorded at or after the late-recording
# cutoff: checkin_run.first_monitored_day) up to that day; today's is PENDING, earlier
# ones MISSED.
_DUE_ROWS = """
SELECT CAST(array_agg(i.id ORDER BY i.id) AS TEXT),
       CAST(array_agg(i.start_date ORDER BY i.id) AS TEXT),
       CAST(array_agg(COALESCE(
           (SELECT max(c.day) FROM checkins c WHERE c.isolation_id = i.id) + 1,
           GREATEST(i.start_date, CAST(timezone(CAST(:tz AS TEXT), i.created_at) AS DATE)
                    + CASE WHEN CAST(timezone(CAST(:tz AS TEXT), i.created_at) AS TIME)
                                >= CAST(:cutoff AS TIME) THEN 1 ELSE 0 END)
       ) ORDER BY i.id) AS TEXT),
       CAST(array_agg(LEAST(i.end_date, CAST(:last_due AS DATE)) ORDER BY i.id) AS TEXT)
FROM isolations i
WHERE i.community_id = :cid AND i.status = :active AND i.start_date <= :last_due
  AND NOT EXISTS (
      SELECT 1 FROM checkins c
      WHERE c.isolation_id = i.id AND c.day = LEAST(i.end_date, CAST(:last_due AS DATE))
  )
"""

_ROWS = """
WITH inserted AS (
    INSERT INTO checkins (isolation_id, day, day_number, status, symptoms, reminders_sent,
                          created_at)
    SELECT d.id, d.first_day + g.n, d.first_day + g.n - d.start_date + 1,
           CASE WHEN d.first_day + g.n = :today THEN :pending ELSE :missed END,
           CAST('[]' AS JSON), 0, :now
    FROM unnest(CAST(CAST(:ids AS TEXT) AS BIGINT[]), CAST(CAST(:starts AS TEXT) AS DATE[]),
                CAST(CAST(:firsts AS TEXT) AS DATE[]), CAST(CAST(:lasts AS TEXT) AS DATE[]))
         AS d(id, start_date, first_day, last_day)
    CROSS JOIN LATERAL generate_series(0, d.last_day - d.first_day) AS g(n)
    ON CONFLICT (isolation_id, day) DO NOTHING
    RETURNING status
)
SELECT count(*), count(*) FILTER (WHERE status = :missed) FROM inserted
"""

# The person's language as a position in the array of locales (NULL: not one of them).
_LOCALE = """array_position(CAST(:locales AS VARCHAR[]),
                            CAST(COALESCE(NULLIF(p.language, ''), :default_locale) AS VARCHAR))"""

_KEY = "CAST(:key_head AS VARCHAR) || c.id || CAST(:key_tail AS VARCHAR)"

# From the community's isolations, today's row of each by a LATERAL lookup (see the
# tick's lookups at the end of this file). `c.day + 0` is no index condition: the row
# is found by its isolation in (isolation_id, day). Today's rows were just inserted
# (or lie past the statistics' last day), so the planner believes (day, status) finds
# one row, and would walk the whole day's rows for every isolation (26 s a community).
# The person too: joined plainly, a community of 2,000 was merged with 300,000 persons.
_DUE_PROMPTS = f"""
SELECT CAST(array_agg(c.id ORDER BY c.id) AS TEXT)
FROM isolations i
CROSS JOIN LATERAL (
    SELECT c.id FROM checkins c
    WHERE c.isolation_id = i.id AND c.day + 0 = :today AND c.status = :checkin_pending
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.dedup_key = {_KEY})
    OFFSET 0
) AS c
CROSS JOIN LATERAL (
    SELECT p.language, p.household_id FROM persons p
    WHERE p.id = i.person_id AND p.telegram_user_id IS NOT NULL OFFSET 0
) AS p
WHERE i.community_id = :cid AND i.status = :active AND {_LOCALE} IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM data_requests r
      WHERE r.kind = 'withdrawal' AND r.status = 'open' AND r.household_id = p.household_id
  )
"""


def _escaped(column: str) -> str:
    """markupsafe's escape, in SQL (`&` first, as markupsafe does)."""
    pairs = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("''", "&#39;"))
    for char, entity in pairs:
        column = f"replace({column}, '{char}', '{entity}')"
    return column


# The stand-ins for the day and the last day are replaced before the name's, so a name
# is never searched for stand-ins (the Python fill does the same, in the same order).
# Each id's check-in, isolation and person are looked up by primary key (LATERAL; the
# LIMIT keeps the planner from flattening it into a join): joined, the planner hashes
# the whole tables (every community's check-ins, people) for one community's prompts.
_PROMPTS = f"""
WITH inserted AS (
    INSERT INTO deliveries (kind, chat_id, is_group, method, payload, dedup_key, checkin_id,
                            person_id, pin, status, attempts, not_before, created_at, bot_id)
    SELECT :kind, p.telegram_user_id, false, 'sendMessage',
           json_build_object(
               'text', replace(replace(replace((CAST(:texts AS VARCHAR[]))[k.n],
                   :day_mark, CAST(c.day_number AS VARCHAR)),
                   :end_mark, to_char(i.end_date, 'YYYY-MM-DD')),
                   :name_mark, {_escaped("p.name")}),
               'parse_mode', 'HTML',
               'reply_markup', CAST(replace((CAST(:markups AS VARCHAR[]))[k.n],
                                            :id_mark, ':' || c.id || '"') AS JSON)),
           {_KEY}, c.id, p.id, false, :pending, 0, :now, :now, CAST(:bot AS BIGINT)
    FROM unnest(CAST(CAST(:ids AS TEXT) AS BIGINT[])) AS t(id)
    CROSS JOIN LATERAL (SELECT id, day_number, isolation_id FROM checkins
                        WHERE id = t.id LIMIT 1) AS c
    CROSS JOIN LATERAL (SELECT end_date, person_id FROM isolations
                        WHERE id = c.isolation_id LIMIT 1) AS i
    CROSS JOIN LATERAL (SELECT id, telegram_user_id, name, language FROM persons
                        WHERE id = i.person_id LIMIT 1) AS p
    CROSS JOIN LATERAL (SELECT {_LOCALE} AS n) AS k
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM inserted
"""


class PromptShell(NamedTuple):
    """One locale's prompt: the text with stand-ins, the markup's JSON for id -1."""

    text: str
    markup: str


class Marks(NamedTuple):
    """The stand-ins in `PromptShell.text` (and the id's in `PromptShell.markup`)."""

    name: str
    day: str
    end: str
    checkin_id: str = ':-1"'


async def insert_due_rows(
    session: AsyncSession,
    community: Community,
    *,
    today: date,
    last_due: date,
    now: datetime,
    cutoff: time | None = None,
) -> tuple[int, int]:
    """Insert every missing check-in row up to `last_due` (skipping existing ones);
    returns how many were inserted and how many of them are MISSED."""
    found = await session.execute(
        text(_DUE_ROWS),
        {
            "cid": community.id,
            "tz": community.timezone,
            "last_due": last_due,
            "cutoff": cutoff,  # NULL (no reminders): never late
            "active": IsolationStatus.ACTIVE.value,
        },
    )
    ids, starts, firsts, lasts = found.one()
    if not ids:
        return 0, 0
    result = await session.execute(
        text(_ROWS),
        {
            "ids": ids,
            "starts": starts,
            "firsts": firsts,
            "lasts": lasts,
            "today": today,
            "now": now,
            "pending": CheckInStatus.PENDING.value,
            "missed": CheckInStatus.MISSED.value,
        },
    )
    created, missed = result.one()
    return int(created), int(missed)


async def queue_own_prompts(
    session: AsyncSession,
    community: Community,
    shells: Mapping[str, PromptShell],
    marks: Marks,
    *,
    today: date,
    now: datetime,
) -> int:
    """Queue today's prompt of every due person with Telegram of their own whose
    language is one of `shells`; returns how many were queued."""
    if not shells:
        return 0
    locales = list(shells)
    key_head, _, key_tail = prompt_key(-1).partition("-1")  # the dedup key, around the id
    common: dict[str, Any] = {
        "locales": locales,
        "default_locale": community.locale,
        "key_head": key_head,
        "key_tail": key_tail,
    }
    ids = await session.scalar(
        text(_DUE_PROMPTS),
        {
            **common,
            "cid": community.id,
            "today": today,
            "active": IsolationStatus.ACTIVE.value,
            "checkin_pending": CheckInStatus.PENDING.value,
        },
    )
    if not ids:
        return 0
    result = await session.execute(
        text(_PROMPTS),
        {
            **common,
            "ids": ids,
            "texts": [shells[locale].text for locale in locales],
            "markups": [shells[locale].markup for locale in locales],
            "day_mark": marks.day,
            "end_mark": marks.end,
            "name_mark": marks.name,
            "id_mark": marks.checkin_id,
            "now": now,
            "bot": bot_of(session),  # the district's bot sends it (one bot per district)
            "kind": PROMPT,
            "pending": DeliveryStatus.PENDING.value,
        },
    )
    return int(result.scalar_one())


# ------------------------------------------------ the tick's lookups, per community
# (issue 17) Each starts from the community's isolations (ix_isolations_community) and
# reaches their check-in rows, then those rows' deliveries, through LATERAL subqueries
# with OFFSET 0: the planner cannot flatten them, so it does an index lookup per
# isolation ((isolation_id, day), then deliveries by checkin_id) instead of a hash join
# over the whole checkins or deliveries table, which it picks when its estimates are
# off (a day's volume just inserted, 150 communities in a row).

_PAST_ROWS = """
SELECT c.id FROM isolations i
CROSS JOIN LATERAL (
    SELECT c.id, c.status FROM checkins c
    WHERE c.isolation_id = i.id AND c.day < :today OFFSET 0
) AS c
WHERE i.community_id = :cid
"""

_MISS_PAST = f"""
UPDATE checkins SET status = :missed
FROM ({_PAST_ROWS} AND c.status = :pending) AS past
WHERE checkins.id = past.id
"""

_CANCEL_PAST = f"""
UPDATE deliveries SET status = :cancelled
FROM (
    SELECT d.id FROM ({_PAST_ROWS}) AS c
    CROSS JOIN LATERAL (
        SELECT d.id FROM deliveries d
        WHERE d.checkin_id = c.id AND d.status = :pending_delivery
          AND d.kind IN (:prompt, :reminder) OFFSET 0
    ) AS d
) AS stale
WHERE deliveries.id = stale.id
"""


async def close_past_days(session: AsyncSession, community_id: int, *, today: date) -> int:
    """Past days' PENDING rows of the community become MISSED and their prompts and
    reminders still unsent are cancelled; returns how many rows were missed."""
    result = await session.execute(
        text(_MISS_PAST),
        {
            "cid": community_id,
            "today": today,
            "missed": CheckInStatus.MISSED.value,
            "pending": CheckInStatus.PENDING.value,
        },
    )
    await session.execute(
        text(_CANCEL_PAST),
        {
            "cid": community_id,
            "today": today,
            "cancelled": DeliveryStatus.CANCELLED.value,
            "pending_delivery": DeliveryStatus.PENDING.value,
            "prompt": PROMPT,
            "reminder": REMINDER,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)
