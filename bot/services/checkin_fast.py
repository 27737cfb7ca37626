"""Check-ins, the fast answer: a resident's "I am well" button in ONE statement.

The common press (a person answering their own, or a family member's, pending check-in
of today with "normal") is recorded by one PostgreSQL statement on the pooled
connection's raw asyncpg driver, in autocommit (a single statement needs no BEGIN and
COMMIT round trips), prepared once per connection (asyncpg's statement cache). The
statement decides and writes what the general path (bot/middlewares.py →
handlers/checkin.py → checkin_answers.answer_checkin) decides and writes:

- who presses: the person with that Telegram id, who may answer for the check-in's
  person (`checkin_common.can_answer_for`: themself, or a member without Telegram they
  reported or whose household they head), and whose name is not a staff placeholder
  (the general path would adopt their Telegram name: left to it);
- the check-in: pending, of an active isolation, of today in the community's time zone;
- the update: not handled already (its inbox row, if any, is not done);
- the writes: the check-in answered (conditional on `pending`, so of two presses one
  wins), its audit entry (`checkin.answer`, the same columns and details), the inbox
  row marked done;
- what the reply needs: the locale (the person's language, else the one chosen with
  /language) and whose check-in it was.

No row back means "not the common case": the caller hands the update to the general
path, which reads and refuses (or answers) exactly as before; nothing was written.
SQLite has no fast path. See docs/design-core.md ("The check-in answer fast path").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from asyncpg.exceptions import (  # type: ignore[import-untyped]
    InterfaceError,
    InternalClientError,
    PostgresConnectionError,
)
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.db.models import CheckInStatus, IsolationStatus
from bot.db.session import distrust_pool
from bot.services.audit import CHAIN_LOCK, GENESIS
from bot.services.checkin_common import ANSWER_NORMAL

log = logging.getLogger(__name__)

#: The only answer taken by the fast path: the others open a case.
FAST_ANSWER = ANSWER_NORMAL
#: What the general path stores for a "normal" answer (checkin_answers._record_answer):
#: the symptoms and the audit details, serialised as SQLAlchemy's JSON type does.
_SYMPTOMS = json.dumps([])
_DETAILS = json.dumps({"temperature": None, "symptoms": []})
#: The same details as `audit.canonical` writes them into the hashed content.
_CANONICAL_DETAILS = json.dumps(json.loads(_DETAILS), sort_keys=True, separators=(",", ":"))
#: The transaction's first statement: the audit chain's lock (audit.lock_chain), held
#: until COMMIT so that entries are appended one writer at a time.
_LOCK_CHAIN = f"SELECT pg_advisory_xact_lock({CHAIN_LOCK})"

ANSWER_SQL = f"""
WITH actor AS (
    SELECT p.id, p.household_id, p.is_head,
           COALESCE(NULLIF(p.language, ''), NULLIF(up.language, '')) AS language
    FROM persons p
    LEFT JOIN user_preferences up ON up.telegram_user_id = p.telegram_user_id
    WHERE p.telegram_user_id = $1 AND p.name <> '#' || p.telegram_user_id::text
), answered AS (
    UPDATE checkins c
    SET status = '{CheckInStatus.ANSWERED.value}', temperature = NULL, symptoms = $4::json,
        answered_at = $3, answered_by_id = a.id
    FROM actor a, isolations i, persons s, communities m
    WHERE c.id = $2
      AND c.status = '{CheckInStatus.PENDING.value}'
      AND i.id = c.isolation_id AND i.status = '{IsolationStatus.ACTIVE.value}'
      AND s.id = i.person_id AND m.id = i.community_id
      AND c.day = ($3 AT TIME ZONE m.timezone)::date
      AND (s.id = a.id OR (s.telegram_user_id IS NULL AND s.household_id IS NOT NULL
                           AND a.household_id = s.household_id
                           AND (a.is_head OR s.reported_by_id = a.id)))
      AND NOT EXISTS (SELECT 1 FROM inbox
                      WHERE bot_id = $7 AND update_id = $5 AND done_at IS NOT NULL)
    RETURNING c.id, a.id AS actor_id, a.language, s.id = a.id AS own, s.name,
              m.id AS community_id
), prev AS (
    -- The chain's last hash (audit.py `_hash_before`), read under the chain lock the
    -- transaction took in its first statement (so this statement's snapshot sees the
    -- entry of the writer before).
    SELECT COALESCE(
        (SELECT COALESCE(row_hash, '{GENESIS}') FROM audit_log ORDER BY id DESC LIMIT 1),
        (SELECT row_hash FROM audit_checkpoints ORDER BY upto_id DESC LIMIT 1),
        '{GENESIS}'
    ) AS hash
), audited AS (
    INSERT INTO audit_log (id, actor_id, actor_telegram_id, action, entity, entity_id, details,
                           at, community_id, prev_hash, row_hash)
    SELECT n.id, a.actor_id, $1, 'checkin.answer', 'checkin', a.id, $6::json, $3,
           a.community_id, p.hash,
           -- audit.chain_hash: sha256(prev + audit.canonical(entry)), the canonical JSON
           -- written out (keys sorted, no spaces; `_CANONICAL_DETAILS` is $6 sorted).
           encode(sha256(convert_to(p.hash
               || '{{"action":"checkin.answer","actor":' || $1::bigint
               || ',"at":"' || to_char($3::timestamptz AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00"'
               || ',"community":' || a.community_id
               || ',"details":{_CANONICAL_DETAILS},"entity":"checkin","entity_id":' || a.id
               || ',"id":' || n.id || '}}', 'UTF8')), 'hex')
    FROM answered a, prev p,
         LATERAL (SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) AS id) n
), marked AS (
    UPDATE inbox SET done_at = $3
    WHERE bot_id = $7 AND update_id = $5 AND done_at IS NULL
      AND EXISTS (SELECT 1 FROM answered)
)
SELECT language, own, name FROM answered
"""

#: A pooled connection that died (the server restarted, a proxy dropped it): the
#: statement is tried once more on a fresh one.
#: (A BEGIN on a connection whose server process was ended can fail inside asyncpg's
#: protocol — "cannot switch to state …" — before the loss is noticed: the same case.)
_GONE = (
    OSError,
    InterfaceError,
    InternalClientError,
    PostgresConnectionError,
    OperationalError,
    SAInterfaceError,
)


@dataclass(frozen=True)
class FastAnswer:
    """A recorded answer: the answerer's stored locale (None: take Telegram's), whether
    it was their own check-in, and the name of the person it was for."""

    locale: str | None
    own: bool
    name: str


class FastAnswers:
    """Records "normal" answers in one statement; None when the general path must decide."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, bot_id: int = 0) -> None:
        self.engine = engine
        self.clock = clock
        self.bot_id = bot_id  # inbox rows are keyed by (bot, update id): one bot per district
        self.enabled = engine.dialect.name == "postgresql"
        #: Statements run, answers recorded, and retries after a lost connection.
        self.statements = 0
        self.recorded = 0
        self.retries = 0

    async def record(self, *, update_id: int, user_id: int, checkin_id: int) -> FastAnswer | None:
        if not self.enabled:
            return None
        now = self.clock.now().astimezone(UTC)
        args = (user_id, checkin_id, now, _SYMPTOMS, update_id, _DETAILS, self.bot_id)
        for attempt in (1, 2):
            row = await self._run(args, last=attempt == 2)
            if row is not _RETRY:
                break
            self.retries += 1
        if not isinstance(row, tuple):
            return None
        self.recorded += 1
        language, own, name = row
        return FastAnswer(language, bool(own), name)

    async def _run(self, args: tuple[Any, ...], *, last: bool) -> Any:
        """The statement's row (a tuple), None (not the common case), or `_RETRY`."""
        try:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                self.statements += 1
                try:
                    driver: Any = raw.driver_connection
                    # Three round trips: BEGIN, the chain lock, the statement (+ COMMIT).
                    # The audit entry joins the hash chain like every other entry; the
                    # lock must come in a statement of its own (see `prev` above).
                    async with driver.transaction():
                        await driver.execute(_LOCK_CHAIN)
                        row = await driver.fetchrow(ANSWER_SQL, *args)
                except _GONE:
                    # This one is dropped; the others are pinged before use (the server
                    # may have restarted: all of them are gone then).
                    await conn.invalidate()
                    distrust_pool(self.engine)
                    raise
        except _GONE as exc:
            # The connection (or the server), not the statement: once more on a fresh
            # connection, then the general path (which reports an outage as it does).
            log.info("check-in fast path: connection lost (%s)%s", type(exc).__name__,
                     "" if last else ", retrying")  # fmt: skip
            return None if last else _RETRY
        return tuple(row) if row is not None else None


_RETRY = object()
