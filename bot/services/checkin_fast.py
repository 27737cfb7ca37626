"""Check-ins, the fast answer: a resident's "I am well" button in ONE round trip.

The common press (a person answering their own, or a family member's, pending check-in
of today with "normal") is recorded by a call of a PL/pgSQL function,
`pg_temp.cg_checkin_answers`, on a small asyncpg pool of the fast path's own (no
SQLAlchemy pool checkout, no pre-ping, no reset query on release), in autocommit: the
call is its own transaction. One call at a time goes out, carrying every press that
arrived while the call before it was out (up to MAX_BATCH; a press alone goes out at
once): the presses of a burst share one round trip, one transaction and one WAL flush
(group commit by hand), and the thanks still follows the commit. The function is
created in each connection's temporary schema when the pool opens the connection (no
migration; it disappears with the connection), and its call is prepared once per
connection (asyncpg's statement cache). For each press it decides and writes what the
general path (bot/middlewares.py → handlers/checkin.py → checkin_answers.answer_checkin)
decides and writes:

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

No row back for a press means "not the common case": the caller hands the update to
the general path, which reads and refuses (or answers) exactly as before; nothing was
written for it. A call the server rolls back (a deadlock, a timeout) hands every press of
it to the general path.
SQLite has no fast path. See docs/design-core.md ("The check-in answer fast path").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from asyncpg.exceptions import (  # type: ignore[import-untyped]
    AdminShutdownError,
    CannotConnectNowError,
    CrashShutdownError,
    InterfaceError,
    InternalClientError,
    PostgresConnectionError,
    PostgresError,
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

#: Created on each of the pool's connections (`_created`). One call answers a batch of
#: presses (`FastAnswers` sends the presses that arrived while the previous call was out,
#: so one transaction and one WAL flush serve them all: group commit by hand). A VOLATILE
#: PL/pgSQL function takes a new snapshot for each statement (READ COMMITTED), so the
#: chain's last hash, read after the lock is granted, is the entry of the writer before.
#: Locks are taken in the general path's order: the check-in rows first (in check-in id
#: order, so two batches never wait on each other in a cycle), the chain last.
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION pg_temp.cg_checkin_answers(
    p_users bigint[], p_checkins bigint[], p_nows timestamptz[], p_updates bigint[],
    p_bot bigint)
RETURNS TABLE (out_n integer, out_language text, out_own boolean, out_name text)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    n integer;
    k integer;
    hit record;
    prev text;
    entry bigint;
    h_n integer[] := '{{}}';
    h_checkin bigint[] := '{{}}';
    h_actor bigint[] := '{{}}';
    h_community bigint[] := '{{}}';
    h_lang text[] := '{{}}';
    h_own boolean[] := '{{}}';
    h_who text[] := '{{}}';
BEGIN
    -- The decisions and the answers (the row lock on each check-in: of two presses, or
    -- two processes handling one update, exactly one updates it).
    FOR n IN SELECT t.ord FROM unnest(p_checkins) WITH ORDINALITY AS t(c, ord)
             ORDER BY t.c, t.ord LOOP
        WITH actor AS (
            SELECT p.id, p.household_id, p.is_head,
                   COALESCE(NULLIF(p.language, ''), NULLIF(up.language, '')) AS lang
            FROM persons p
            LEFT JOIN user_preferences up ON up.telegram_user_id = p.telegram_user_id
            WHERE p.telegram_user_id = p_users[n]
              AND p.name <> '#' || p.telegram_user_id::text
        )
        UPDATE checkins c
        SET status = '{CheckInStatus.ANSWERED.value}', temperature = NULL,
            symptoms = '{_SYMPTOMS}'::json, answered_at = p_nows[n], answered_by_id = a.id
        FROM actor a, isolations i, persons s, communities m
        WHERE c.id = p_checkins[n]
          AND c.status = '{CheckInStatus.PENDING.value}'
          AND i.id = c.isolation_id AND i.status = '{IsolationStatus.ACTIVE.value}'
          AND s.id = i.person_id AND m.id = i.community_id
          AND c.day = (p_nows[n] AT TIME ZONE m.timezone)::date
          AND (s.id = a.id OR (s.telegram_user_id IS NULL AND s.household_id IS NOT NULL
                               AND a.household_id = s.household_id
                               AND (a.is_head OR s.reported_by_id = a.id)))
          AND NOT EXISTS (SELECT 1 FROM inbox
                          WHERE bot_id = p_bot AND update_id = p_updates[n]
                            AND done_at IS NOT NULL)
        RETURNING c.id AS checkin_id, a.id AS actor_id, a.lang, s.id = a.id AS own,
                  s.name AS who, m.id AS community_id
        INTO hit;
        IF FOUND THEN
            h_n := h_n || n;
            h_checkin := h_checkin || hit.checkin_id;
            h_actor := h_actor || hit.actor_id;
            h_community := h_community || hit.community_id;
            h_lang := h_lang || hit.lang;
            h_own := h_own || hit.own;
            h_who := h_who || hit.who;
        END IF;
    END LOOP;
    IF cardinality(h_n) = 0 THEN
        RETURN;
    END IF;
    -- The audit chain (audit.lock_chain, audit.record): one writer at a time until the
    -- transaction ends; each entry's id is drawn under the lock, so ids follow the
    -- chain. The batch's entries go in the order the presses arrived.
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    SELECT COALESCE(
        (SELECT COALESCE(row_hash, '{GENESIS}') FROM audit_log ORDER BY id DESC LIMIT 1),
        (SELECT row_hash FROM audit_checkpoints ORDER BY upto_id DESC LIMIT 1),
        '{GENESIS}'
    ) INTO prev;
    FOR k IN SELECT t.i FROM unnest(h_n) WITH ORDINALITY AS t(v, i) ORDER BY t.v LOOP
        n := h_n[k];
        entry := nextval(pg_get_serial_sequence('audit_log', 'id'));
        INSERT INTO audit_log (id, actor_id, actor_telegram_id, action, entity, entity_id,
                               details, at, community_id, prev_hash, row_hash)
        VALUES (entry, h_actor[k], p_users[n], 'checkin.answer', 'checkin', h_checkin[k],
                '{_DETAILS}'::json, p_nows[n], h_community[k], prev,
                -- audit.chain_hash: sha256(prev + audit.canonical(entry)), the canonical
                -- JSON written out (keys sorted, no spaces).
                encode(sha256(convert_to(prev
                    || '{{"action":"checkin.answer","actor":' || p_users[n]
                    || ',"at":"' || to_char(p_nows[n] AT TIME ZONE 'UTC',
                                            'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00"'
                    || ',"community":' || h_community[k]
                    || ',"details":{_CANONICAL_DETAILS},"entity":"checkin","entity_id":'
                    || h_checkin[k] || ',"id":' || entry || '}}', 'UTF8')), 'hex'))
        RETURNING row_hash INTO prev;
        UPDATE inbox SET done_at = p_nows[n]
        WHERE bot_id = p_bot AND update_id = p_updates[n] AND done_at IS NULL;
        out_n := n;
        out_language := h_lang[k];
        out_own := h_own[k];
        out_name := h_who[k];
        RETURN NEXT;
    END LOOP;
END
$fn$
"""

#: A batch: one round trip (Bind, Execute, Sync of the prepared call).
ANSWER_SQL = "SELECT * FROM pg_temp.cg_checkin_answers($1, $2, $3, $4, $5)"
#: Presses sent in one call at most.
MAX_BATCH = 64

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


#: A press to record: (Telegram user id, check-in id, time, update id).
Press = tuple[int, int, datetime, int]
#: A press and the future its handler awaits.
Pressed = tuple[Press, "asyncio.Future[tuple[Any, ...] | None]"]


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
        #: Presses sent (statements / presses_sent: the mean batch).
        self.presses_sent = 0
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._waiting: list[Pressed] = []
        self._sending: asyncio.Task[None] | None = None

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
        """Stop sending (waiting presses are cancelled) and close the pool
        (Application.close)."""
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        # Cancelled before its first step, the task did not see these.
        for _, waiter in self._waiting:
            waiter.cancel()
        self._waiting = []
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def record(self, *, update_id: int, user_id: int, checkin_id: int) -> FastAnswer | None:
        """Record one press: it joins the next batch (`_send_batches`) and returns once
        that batch committed, or None when the general path must decide."""
        if not self.enabled:
            return None
        now = self.clock.now().astimezone(UTC)
        waiter: asyncio.Future[tuple[Any, ...] | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(((user_id, checkin_id, now, update_id), waiter))
        if self._sending is None:
            # Started now, first run on the loop's next turn: every press whose update
            # is being handled in this turn joins the first batch.
            self._sending = asyncio.create_task(self._send_batches())
        row = await waiter
        if row is None:
            return None
        self.recorded += 1
        language, own, name = row
        return FastAnswer(language, bool(own), name)

    async def _send_batches(self) -> None:
        """One call at a time, each taking the presses that are waiting (up to
        MAX_BATCH): those that arrived while the previous call was out share the next
        call's transaction and WAL flush. A press alone goes out at once."""
        batch: list[Pressed] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                found = await self._answer([press for press, _ in batch])
                for (_, waiter), row in zip(batch, found, strict=True):
                    if not waiter.done():
                        waiter.set_result(row)
                batch = []
        except asyncio.CancelledError:
            # Closing: no press may wait forever.
            for _, waiter in batch + self._waiting:
                waiter.cancel()
            self._waiting = []
            raise
        except Exception as exc:  # a bug: each waiting handler fails as it would alone
            log.exception("check-in fast path: a batch failed")
            for _, waiter in batch + self._waiting:
                if not waiter.done():
                    waiter.set_exception(exc)
            self._waiting = []
        finally:
            self._sending = None

    async def _answer(self, presses: list[Press]) -> list[tuple[Any, ...] | None]:
        """Each press's row (locale, own, name), or None (the general path decides)."""
        args = (
            [p[0] for p in presses],
            [p[1] for p in presses],
            [p[2] for p in presses],
            [p[3] for p in presses],
            self.bot_id,
        )
        self.presses_sent += len(presses)
        for attempt in (1, 2):
            rows = await self._run(args, last=attempt == 2)
            if rows is not _RETRY:
                break
            self.retries += 1
        found: list[tuple[Any, ...] | None] = [None] * len(presses)
        for row in rows or ():
            found[row[0] - 1] = (row[1], row[2], row[3])
        return found

    async def _run(self, args: tuple[Any, ...], *, last: bool) -> Any:
        """The function's rows, None (all to the general path), or `_RETRY`."""
        try:
            pool = await self.pool()
            self.statements += 1
            try:
                async with pool.acquire() as conn:
                    return await conn.fetch(ANSWER_SQL, *args)
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
        except PostgresError as exc:
            # The batch's transaction was rolled back (a deadlock with another process,
            # a statement timeout…): nothing of it was written. Each press then goes
            # down the general path on its own, which answers or reports as usual.
            log.warning("check-in fast path: %s; %d presses to the general path",
                        type(exc).__name__, len(args[0]))  # fmt: skip
            return None


_RETRY = object()
