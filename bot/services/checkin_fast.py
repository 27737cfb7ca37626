"""Check-ins, the fast answer: a resident's "I am well" button in ONE round trip.

The common press (a person answering their own, or a family member's, pending check-in
of today with "normal") is recorded by one call of a PL/pgSQL function,
`pg_temp.cg_checkin_answer`, on a small asyncpg pool of the fast path's own (no
SQLAlchemy pool checkout, no pre-ping, no reset query on release), in autocommit: the
call is its own transaction, so a press costs one round trip (and one WAL flush). The
function is created in each connection's temporary schema when the pool opens the
connection (no migration; it disappears with the connection), and its call is
prepared once per connection (asyncpg's statement cache). It decides and writes what
the general path (bot/middlewares.py → handlers/checkin.py →
checkin_answers.answer_checkin) decides and writes:

- who presses: the person with that Telegram id, who may answer for the check-in's
  person (`checkin_common.can_answer_for`: themself, or a member without Telegram they
  reported or whose household they head), and whose name is not a staff placeholder
  (the general path would adopt their Telegram name: left to it);
- the check-in: pending, of an active isolation, of today in the community's time zone;
- the update: not handled already (its inbox row, if any, is not done);
- the writes: the check-in answered (conditional on `pending`, so of two presses one
  wins), then — under the audit chain's lock, taken only once the answer is certain —
  its audit entry (`checkin.answer`, the same columns and details, hashed into the
  chain), the inbox row marked done;
- what the reply needs: the locale (the person's language, else the one chosen with
  /language) and whose check-in it was.

No row back means "not the common case": the caller hands the update to the general
path, which reads and refuses (or answers) exactly as before; nothing was written.
SQLite has no fast path. See docs/design-core.md ("The check-in answer fast path").
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from asyncpg.exceptions import (  # type: ignore[import-untyped]
    AdminShutdownError,
    CannotConnectNowError,
    CrashShutdownError,
    InterfaceError,
    InternalClientError,
    PostgresConnectionError,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.db.models import CheckInStatus, IsolationStatus
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
#: Connections of the fast path's own pool: presses come in bursts, and more than a few
#: statements at once only queue on the chain lock inside the server.
POOL_SIZE = 4

#: Created on each of the pool's connections (`_created`). A VOLATILE PL/pgSQL
#: function takes a new snapshot for each statement (READ COMMITTED), so the chain's
#: last hash, read after the lock is granted, is the entry of the writer before.
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION pg_temp.cg_checkin_answer(
    p_user bigint, p_checkin bigint, p_now timestamptz, p_update bigint, p_bot bigint)
RETURNS TABLE (out_language text, out_own boolean, out_name text)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    hit record;
    prev text;
    entry bigint;
BEGIN
    -- The decision and the answer (the row lock on the check-in: of two presses, or two
    -- processes handling one update, exactly one updates it).
    WITH actor AS (
        SELECT p.id, p.household_id, p.is_head,
               COALESCE(NULLIF(p.language, ''), NULLIF(up.language, '')) AS lang
        FROM persons p
        LEFT JOIN user_preferences up ON up.telegram_user_id = p.telegram_user_id
        WHERE p.telegram_user_id = p_user AND p.name <> '#' || p.telegram_user_id::text
    )
    UPDATE checkins c
    SET status = '{CheckInStatus.ANSWERED.value}', temperature = NULL,
        symptoms = '{_SYMPTOMS}'::json, answered_at = p_now, answered_by_id = a.id
    FROM actor a, isolations i, persons s, communities m
    WHERE c.id = p_checkin
      AND c.status = '{CheckInStatus.PENDING.value}'
      AND i.id = c.isolation_id AND i.status = '{IsolationStatus.ACTIVE.value}'
      AND s.id = i.person_id AND m.id = i.community_id
      AND c.day = (p_now AT TIME ZONE m.timezone)::date
      AND (s.id = a.id OR (s.telegram_user_id IS NULL AND s.household_id IS NOT NULL
                           AND a.household_id = s.household_id
                           AND (a.is_head OR s.reported_by_id = a.id)))
      AND NOT EXISTS (SELECT 1 FROM inbox
                      WHERE bot_id = p_bot AND update_id = p_update AND done_at IS NOT NULL)
    RETURNING c.id AS checkin_id, a.id AS actor_id, a.lang, s.id = a.id AS own,
              s.name AS who, m.id AS community_id
    INTO hit;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The audit chain (audit.lock_chain, audit.record): one writer at a time until the
    -- transaction ends; the entry's id is drawn under the lock, so ids follow the chain.
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    SELECT COALESCE(
        (SELECT COALESCE(row_hash, '{GENESIS}') FROM audit_log ORDER BY id DESC LIMIT 1),
        (SELECT row_hash FROM audit_checkpoints ORDER BY upto_id DESC LIMIT 1),
        '{GENESIS}'
    ) INTO prev;
    entry := nextval(pg_get_serial_sequence('audit_log', 'id'));
    INSERT INTO audit_log (id, actor_id, actor_telegram_id, action, entity, entity_id, details,
                           at, community_id, prev_hash, row_hash)
    VALUES (entry, hit.actor_id, p_user, 'checkin.answer', 'checkin', hit.checkin_id,
            '{_DETAILS}'::json, p_now, hit.community_id, prev,
            -- audit.chain_hash: sha256(prev + audit.canonical(entry)), the canonical JSON
            -- written out (keys sorted, no spaces).
            encode(sha256(convert_to(prev
                || '{{"action":"checkin.answer","actor":' || p_user
                || ',"at":"' || to_char(p_now AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00"'
                || ',"community":' || hit.community_id
                || ',"details":{_CANONICAL_DETAILS},"entity":"checkin","entity_id":'
                || hit.checkin_id || ',"id":' || entry || '}}', 'UTF8')), 'hex'));
    UPDATE inbox SET done_at = p_now
    WHERE bot_id = p_bot AND update_id = p_update AND done_at IS NULL;
    out_language := hit.lang;
    out_own := hit.own;
    out_name := hit.who;
    RETURN NEXT;
END
$fn$
"""

#: The press: one round trip (Bind, Execute, Sync of the prepared call).
ANSWER_SQL = "SELECT * FROM pg_temp.cg_checkin_answer($1, $2, $3, $4, $5)"

#: A pooled connection that died (the server restarted, a proxy dropped it): the
#: statement is tried once more on a fresh one.
_GONE = (
    OSError,
    InterfaceError,
    InternalClientError,
    PostgresConnectionError,
    AdminShutdownError,
    CrashShutdownError,
    CannotConnectNowError,
)


@dataclass(frozen=True)
class FastAnswer:
    """A recorded answer: the answerer's stored locale (None: take Telegram's), whether
    it was their own check-in, and the name of the person it was for."""

    locale: str | None
    own: bool
    name: str


async def _created(conn: Any) -> None:
    """A new pool connection: the function in its temporary schema."""
    await conn.execute(FUNCTION_SQL)


async def _no_reset(_conn: Any) -> None:
    """Nothing to reset on release: the call is autocommitted and its lock is a
    transaction's (asyncpg's default reset is a round trip per release)."""


class FastAnswers:
    """Records "normal" answers in one round trip; None when the general path must decide."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, bot_id: int = 0) -> None:
        self.engine = engine
        self.clock = clock
        self.bot_id = bot_id  # inbox rows are keyed by (bot, update id): one bot per district
        self.enabled = engine.dialect.name == "postgresql"
        #: Statements run, answers recorded, and retries after a lost connection.
        self.statements = 0
        self.recorded = 0
        self.retries = 0
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def pool(self) -> Any:
        """The fast path's asyncpg pool, opened at the first press (connections are
        made as needed, up to POOL_SIZE), with the engine's connection settings."""
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    dialect = self.engine.dialect
                    _, kwargs = dialect.create_connect_args(self.engine.url)
                    # SQLAlchemy's own options, not asyncpg.connect's.
                    for key in ("prepared_statement_cache_size", "prepared_statement_name_func"):
                        kwargs.pop(key, None)
                    kwargs.setdefault("server_settings", {"jit": "off"})
                    self._pool = await asyncpg.create_pool(
                        min_size=0,
                        max_size=POOL_SIZE,
                        init=_created,
                        reset=_no_reset,
                        **kwargs,
                    )
        return self._pool

    async def close(self) -> None:
        """Close the pool (Application.close)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def record(self, *, update_id: int, user_id: int, checkin_id: int) -> FastAnswer | None:
        if not self.enabled:
            return None
        now = self.clock.now().astimezone(UTC)
        args = (user_id, checkin_id, now, update_id, self.bot_id)
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
        """The function's row (a tuple), None (not the common case), or `_RETRY`."""
        try:
            pool = await self.pool()
            self.statements += 1
            try:
                async with pool.acquire() as conn:
                    row = await conn.fetchrow(ANSWER_SQL, *args)
            except _GONE:
                # The server may have restarted: every pooled connection is replaced
                # at its next acquire, so the retry does not meet the next dead one.
                await pool.expire_connections()
                raise
        except _GONE as exc:
            # The connection (or the server), not the statement: once more on a fresh
            # connection, then the general path (which reports an outage as it does).
            log.info("check-in fast path: connection lost (%s)%s", type(exc).__name__,
                     "" if last else ", retrying")  # fmt: skip
            return None if last else _RETRY
        return tuple(row) if row is not None else None


_RETRY = object()
