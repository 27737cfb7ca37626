"""The sender: drains the outbox to Telegram, paced under Telegram's limits.

Pacing
    One `Pacer` holds three limits: a global rate (``send_rate_per_second``, or
    ``paid_broadcast_rate_per_second`` when ``allow_paid_broadcast``), a per-private-chat
    rate (``send_rate_per_chat_per_second``) and a per-group rate
    (``send_rate_per_group_per_minute``). Each is a sliding window on the *actual* send
    times, as Telegram counts them: at most 30 sends in any second, 1 per chat per
    second, 20 per group per minute. A send takes its place in every window when it
    starts and is dated by when its answer arrives (Telegram saw it in between, so the
    window can never run early); sends go out in bursts up to a limit, never over it.
    Refused sends (403, 400, 429) give their place back. A 429 holds that chat for
    ``retry_after`` and lowers the global limit by one for a minute (Telegram is
    stricter than configured). Time and sleeping are injected (``monotonic``,
    ``sleep``) so tests assert the schedule without sleeping.

Concurrency and order
    Many chats are in flight at once (``send_concurrency``, default 64, or rate × answer
    time when the global rate needs more: `Sender.slots`); each chat is sent in order:
    only the *head* of a chat (its oldest row still pending or sending) can be claimed,
    so a later message never overtakes an earlier one, even across retries.

Lean sends
    A plain send (no upload, no pin, no hook needing the ``Message``) skips aiogram's
    pydantic models: the same parameters go out as one JSON body on the bot session's
    aiohttp session and only the message id is read from the answer (bot/lean.py); any
    other answer goes through aiogram's ``check_response``, so errors are aiogram's
    exceptions.

Errors
    429 retry_after → the row goes back to pending with ``not_before = now + retry_after``
    and that chat's pacer slot moves; other chats go on. 5xx/network → bounded exponential
    backoff (``2**attempts`` seconds, at most 300) up to ``max_attempts``, then failed.
    403 → failed and ``Person.unreachable_since``. 400 (chat not found, bad payload) →
    failed. Group upgraded to a supergroup → the group's chat id is updated
    (``groups.migrate_group``), every pending row to the old id follows, and it is re-sent.

Crash safety (the protocol)
    1. Claim: ``pending → sending`` (attempts+1, claimed_by, claimed_at) is *committed*
       before the HTTP call (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; a conditional
       ``UPDATE … WHERE status='pending'`` on SQLite), so two senders never hold one row.
    2. Send the HTTP request.
    3. Record the outcome (``sent`` + message id, or the error); outcomes finishing
       together share one commit, and ``drain`` returns only once they are committed.
    When `run()` starts (this process just became the leader) `recover()` puts rows left
    in ``sending`` by any other worker back to ``pending``: only the leader sends, so
    such a row belongs to a dead process. Every ``drain`` also recovers rows claimed
    longer than ``lease`` (5 min) ago, whoever claimed them. They are sent again.

    Fencing (issue 17): ``epoch`` is the leadership's token (bot/leader.py); the claim
    only updates rows while ``leader_terms.epoch`` still equals it, so an old leader
    that has not noticed the new one claims nothing, and stops (``fenced``).
    Handover: a new leader first primes its pacer with what was sent (or claimed) in
    the last window (``prime_pacer``), so the global and per-chat rates hold across
    the change.

    The remaining window, honestly: a kill between Telegram accepting the request (2)
    and our commit (3) (one HTTP round trip plus one commit, for at most
    ``concurrency`` rows in flight) re-sends those rows once: a possible duplicate,
    never a loss. The Bot API has no idempotency key, so exactly-once is impossible;
    we prefer a rare duplicate of a health message to a lost one. A leader that lost
    its lock connection but still runs stops its workers within ``check_seconds``
    (bot/leader.py); sends in flight in that moment are the same window.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    PinChatMessage,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import BufferedInputFile, Message
from sqlalchemy import Integer, Table, bindparam, exists, func, or_, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.core.outage import database_unavailable
from bot.db.models import Case, Delivery, DeliveryStatus, LeaderTerm, Person
from bot.leader import term_of
from bot.lean import LeanPoster
from bot.services.outbox import PHOTO_BYTES
from bot.settings import Settings

log = logging.getLogger(__name__)

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    "sendMessage": SendMessage,
    "sendPhoto": SendPhoto,
    "sendDocument": SendDocument,
    "editMessageText": EditMessageText,
    "editMessageReplyMarkup": EditMessageReplyMarkup,
    "pinChatMessage": PinChatMessage,
}
#: Methods that deliver a new message (count against the flood limits, may be paid).
SENDING = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
MAX_BACKOFF_SECONDS = 300
#: The most rows one claim statement takes (see `Sender.drain`).
CLAIM_BATCH = 96
_ACTIVE = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)

#: Kinds whose sent message id is also kept elsewhere (see `_after_sent`).
HOOKED_KINDS = frozenset({"case_card"})

Sleep = Callable[[float], Awaitable[None]]
#: A send's outcome to commit: (delivery id, message id) for a success, else a writer.
Outcome = tuple[int, int | None] | Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Claimed:
    """What the sender needs of a claimed row, read in the claiming transaction."""

    id: int
    chat_id: int
    is_group: bool
    method: str
    payload: dict[str, Any]
    pin: bool
    kind: str


class _Window:
    """At most `limit` sends in any `seconds`-long window. A send occupies its place from
    the moment it starts (in flight) and is then dated by when its answer came back: the
    server saw it at some instant in between, so counting from the answer is never early.
    """

    __slots__ = ("hold_until", "inflight", "limit", "seconds", "times")

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = max(1, limit)
        self.seconds = seconds
        self.times: collections.deque[float] = collections.deque()
        self.inflight = 0
        self.hold_until = 0.0

    @classmethod
    def per_second(cls, rate: float) -> _Window:
        # 25/s → 25 in 1 s; 0.5/s → 1 in 2 s.
        return cls(int(rate), 1.0) if rate >= 1 else cls(1, 1.0 / rate)

    def wait(self, now: float, limit: int | None = None) -> float:
        """Seconds until one more send fits (0: now; inf: when a send in flight ends)."""
        times = self.times
        while times and times[0] <= now - self.seconds:
            times.popleft()
        hold = self.hold_until - now
        allowed = self.limit if limit is None else max(1, limit)
        over = len(times) + self.inflight - allowed + 1
        if over <= 0:
            return max(0.0, hold)
        if over > len(times):
            return math.inf
        return max(hold, times[over - 1] + self.seconds - now)

    def idle(self, now: float) -> bool:
        self.wait(now)  # drops expired times
        return not self.inflight and not self.times and self.hold_until <= now


@dataclass
class Pacer:
    """Sliding windows on the actual send times under a global rate and per-chat rates
    (see the module doc): bursts up to a limit, never over it."""

    rate_per_second: float
    chat_per_second: float
    group_per_minute: float
    monotonic: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep
    record: bool = False
    #: How long the global limit stays lowered after an unexpected 429.
    caution_seconds: float = 60.0
    schedule: list[tuple[float, int]] = field(default_factory=list)
    _global: _Window = field(init=False)
    _chats: dict[int, _Window] = field(default_factory=dict)
    _changed: asyncio.Future[None] | None = None
    _caution_until: float = 0.0
    _caution: int = 0

    def __post_init__(self) -> None:
        self._global = _Window.per_second(self.rate_per_second)

    def _chat(self, chat_id: int, is_group: bool) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            if is_group:
                window = _Window(int(self.group_per_minute), 60.0)
                if self.group_per_minute < 1:
                    window = _Window(1, 60.0 / self.group_per_minute)
            else:
                window = _Window.per_second(self.chat_per_second)
            self._chats[chat_id] = window
        return window

    def _global_limit(self, now: float) -> int:
        if self._caution and now >= self._caution_until:
            self._caution = 0
        return self._global.limit - self._caution

    async def acquire(self, chat_id: int, is_group: bool) -> float:
        """Wait until one more send fits every window, take its place (in flight) and
        return the time; `release` must follow when the answer is in."""
        chat = self._chat(chat_id, is_group)
        while True:
            now = self.monotonic()
            wait = max(self._global.wait(now, self._global_limit(now)), chat.wait(now))
            if wait <= 0:
                break
            if math.isinf(wait):
                if self._changed is None or self._changed.done():
                    self._changed = asyncio.get_running_loop().create_future()
                await self._changed
            else:
                await self.sleep(wait)
        # No await between the check and taking the place: waiters never over-book.
        self._global.inflight += 1
        chat.inflight += 1
        if self.record:
            self.schedule.append((now, chat_id))
        return now

    def release(self, chat_id: int, *, counted: bool) -> None:
        """The answer to a send is in. `counted`: Telegram may have delivered it (it
        counts against the limits); False for refusals (403, 400, 429)."""
        now = self.monotonic()
        self._global.inflight = max(0, self._global.inflight - 1)
        chat = self._chats.get(chat_id)
        if chat is not None:
            chat.inflight = max(0, chat.inflight - 1)
        if counted:
            self._global.times.append(now)
            if chat is not None:
                chat.times.append(now)
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    def hold(self, chat_id: int, seconds: float, *, unexpected: bool = True) -> None:
        """Telegram said retry_after for this chat: nothing goes to it before then. An
        unexpected 429 also lowers the global limit by one for a while (adapts to a
        Telegram stricter than configured)."""
        now = self.monotonic()
        window = self._chats.get(chat_id)
        if window is None:
            window = self._chats[chat_id] = _Window.per_second(self.chat_per_second)
        window.hold_until = max(window.hold_until, now + seconds)
        if unexpected and self._global.limit - self._caution > 1:
            self._caution += 1
            self._caution_until = now + self.caution_seconds

    def rename(self, old_id: int, new_id: int) -> None:
        if old_id in self._chats:
            self._chats[new_id] = self._chats.pop(old_id)

    def forget_idle(self) -> None:
        """Drop chats with nothing in their window (keeps memory flat on huge broadcasts)."""
        now = self.monotonic()
        self._chats = {k: w for k, w in self._chats.items() if not w.idle(now)}


class Sender:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        max_attempts: int = 8,
        worker_id: str = "sender",
        settings: Settings | None = None,
        concurrency: int | None = None,
        lease: timedelta = timedelta(minutes=5),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        record_schedule: bool = False,
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.max_attempts = max_attempts
        self.worker_id = worker_id
        settings = settings or Settings(_env_file=None)
        self.concurrency = max(1, concurrency or settings.send_concurrency)
        self.lease = lease
        self.paid = settings.allow_paid_broadcast
        rate = (
            settings.paid_broadcast_rate_per_second if self.paid else settings.send_rate_per_second
        )
        self.pacer = Pacer(
            rate_per_second=rate,
            chat_per_second=settings.send_rate_per_chat_per_second,
            group_per_minute=settings.send_rate_per_group_per_minute,
            monotonic=monotonic,
            sleep=sleep,
            record=record_schedule,
        )
        #: Outcomes waiting for the next group commit, and the future it resolves.
        self._outcomes: list[Outcome] = []
        self._committed: asyncio.Future[None] | None = None
        #: Group commits that recorded successes and have not been awaited yet.
        self._unsettled: set[asyncio.Future[None]] = set()
        #: The leadership's fencing token; None = no fencing (SQLite, tests).
        self.epoch: int | None = None
        #: This bot (its id; 0: unknown): it claims only its own rows and those of no
        #: bot, so several bots (one per district) share one outbox. Its fencing epoch
        #: is its own row of leader_terms (`term_id`, bot/leader.py).
        self.bot_id = settings.bot_id
        self.term_id = term_of(self.bot_id)
        self.fenced = False
        self._flusher: asyncio.Task[None] | None = None
        #: Plain sends skip aiogram's models (see `_post`); needs aiogram's aiohttp session.
        self._lean = LeanPoster(bot) if isinstance(bot.session, AiohttpSession) else None
        #: Moving average of a send's answer time, seconds (see `slots`).
        self.round_trip = 0.05
        self.max_concurrency = max_in_flight(self.concurrency)
        #: The process's database outage record (bot/core/outage.py), when the app set it.
        self.database: Any = None

    # ----------------------------------------------------------------- public

    async def drain(self, limit: int | None = None) -> int:
        """Send every delivery that is due now (many chats at once, each chat in
        order); returns how many were sent."""
        await self.recover(takeover=False)
        sent = 0
        # Keyed by task, not by chat: a chat's task may finish and its success commit
        # while a claim is running, so the claim can return that chat's next row before
        # the finished task has been collected here.
        busy: set[asyncio.Task[bool | None]] = set()
        left = limit if limit is not None else -1
        exhausted = False
        while True:
            slots = self.slots()
            # Claim in batches: only when a quarter of the slots are free (or none is busy),
            # at most CLAIM_BATCH at a time (the sends a claim starts begin in one turn of
            # the event loop: a bounded stretch).
            batch = max(1, min(slots // 4, CLAIM_BATCH))
            free = min(slots - len(busy), CLAIM_BATCH)
            if left != 0 and not exhausted and (free >= batch or not busy):
                want = free if left < 0 else min(free, left)
                # Chats in flight are skipped by the claim itself (their head is 'sending').
                claimed = await self._claim_heads(want, exclude=set())
                # Nothing more due for now (apart from the chats in flight, whose next
                # rows are claimed when they finish).
                exhausted = len(claimed) < want
                for item in claimed:
                    left -= 1 if left > 0 else 0
                    busy.add(asyncio.create_task(self._send(item)))
                if not exhausted and left != 0 and slots - len(busy) >= batch:
                    continue  # more slots to fill: claim again before waiting
            if not busy:
                break
            done, _ = await asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                busy.discard(task)
                sent += int(bool(task.result()))
                exhausted = False  # this chat may have a next row now
            if not busy and self._unsettled:
                # Successes still to commit hold their chats' next rows back.
                await self._settle()
                exhausted = False
        await self._settle()
        self.pacer.forget_idle()
        return sent

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Drain until stopped (only the leader runs this, so rows another worker left
        in 'sending' belong to a dead process: they are recovered first). It first reads
        what the previous leader sent in the last window (`prime_pacer`). Between passes
        it sleeps until the earliest row falls due (at most `idle` seconds, so rows
        enqueued meanwhile are picked up). A newer leader fences it off (`fenced`)."""
        self.fenced = False
        with contextlib.suppress(Exception):
            await self.recover(takeover=True)
        try:
            await self.prime_pacer()
        except Exception as exc:
            if self.database is not None and database_unavailable(exc):
                self.database.failed(exc)
            else:
                log.exception("could not read the last window's sends; waiting one window")
            await asyncio.sleep(1.0)
        while not stop.is_set() and not self.fenced:
            pause = idle
            try:
                await self.drain()
                pause = await self._until_next_due(idle)
            except Exception as exc:  # keep the loop alive; the rows stay claimable
                if self.database is not None and database_unavailable(exc):
                    self.database.failed(exc)
                else:
                    log.exception("sender pass failed")
            else:
                if self.database is not None:
                    self.database.ok()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)

    async def _until_next_due(self, idle: float) -> float:
        """Seconds until the earliest pending row is due, between 10 ms and `idle`."""
        async with self.sessionmaker() as session:
            due = await session.scalar(
                select(func.min(Delivery.not_before)).where(
                    Delivery.status == DeliveryStatus.PENDING.value, self._ours()
                )
            )
        if due is None:
            return idle
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        seconds = (due - self.clock.now()).total_seconds()
        return min(idle, max(0.01, seconds))

    async def recover(self, *, takeover: bool = True) -> int:
        """Put rows stuck in 'sending' back to 'pending' (see the module doc for why
        this re-sends rather than drops). With `takeover` (run() starting: this process
        just became the only sender) every row claimed by another worker is stale;
        otherwise only rows claimed longer than `lease` ago. Returns how many."""
        stale_before = self.clock.now() - self.lease
        stale = Delivery.claimed_at < stale_before
        if takeover:
            stale = stale | (Delivery.claimed_by != self.worker_id)
        async with self.sessionmaker.begin() as session:
            result = await session.execute(
                update(Delivery)
                .where(Delivery.status == DeliveryStatus.SENDING.value, stale, self._ours())
                .values(status=DeliveryStatus.PENDING.value, attempts=Delivery.attempts - 1)
                .execution_options(synchronize_session=False)
            )
            count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("recovered %d deliveries left in 'sending' by a dead worker", count)
        return count

    async def prime_pacer(self) -> int:
        """Tell the pacer what the previous leader sent (or claimed) in the last window:
        the global window starts with those sends, each chat's next slot follows its
        last send. Returns how many sends of the last second were found."""
        now = self.clock.now()
        when = func.coalesce(Delivery.sent_at, Delivery.claimed_at)
        recent = (
            Delivery.status.in_((DeliveryStatus.SENT.value, DeliveryStatus.SENDING.value)),
            Delivery.method.in_(sorted(SENDING)),
            self._ours(),
        )
        async with self.sessionmaker() as session:
            last_second = list(
                await session.scalars(
                    select(when).where(*recent, when >= now - timedelta(seconds=1)).order_by(when)
                )
            )
            chats = (
                await session.execute(
                    select(Delivery.chat_id, Delivery.is_group, func.max(when))
                    .where(*recent, when >= now - timedelta(seconds=60))
                    .group_by(Delivery.chat_id, Delivery.is_group)
                )
            ).all()
        # The sliding windows hold those sends at their real ages (oldest first).
        pacer, mono = self.pacer, self.pacer.monotonic()
        for at in last_second[-pacer._global.limit :]:
            pacer._global.times.append(mono - max(0.0, (now - at).total_seconds()))
        for chat_id, is_group, last in chats:
            age = max(0.0, (now - last).total_seconds())
            pacer._chat(chat_id, bool(is_group)).times.append(mono - age)
        count = len(last_second)
        return int(count or 0)

    # ------------------------------------------------------------- claiming

    def _ours(self) -> Any:
        """Rows this bot sends: its own and those of no bot (another district's bot
        sends the rest)."""
        if not self.bot_id:
            return true()
        return or_(Delivery.bot_id == self.bot_id, Delivery.bot_id.is_(None))

    async def _claim_heads(
        self, n: int, *, exclude: set[int], chat_id: int | None = None
    ) -> list[Claimed]:
        """Atomically claim up to n due rows in ONE statement, each its chat's head (so
        at most one per chat, and never a chat already in flight: its head is 'sending').

        PostgreSQL: ``WITH heads AS MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED)
        UPDATE … WHERE id IN (SELECT id FROM heads) RETURNING``; SQLite (one writer at a
        time): the same UPDATE … RETURNING without the lock clause. The statement is
        built once (`_claim_statement`); a claim only binds its parameters.
        """
        now = self.clock.now()
        params: dict[str, Any] = {"c_now": now, "c_n": n, "c_worker": self.worker_id}
        if self.epoch is not None:
            params["c_epoch"] = self.epoch
            params["c_term"] = self.term_id
        by_bot = bool(self.bot_id)
        if by_bot:
            params["c_bot"] = self.bot_id
        async with self.sessionmaker.begin() as session:
            conn = await session.connection()
            postgres = conn.dialect.name == "postgresql"
            if exclude or chat_id is not None:
                statement = _claim_statement(
                    postgres, self.epoch is not None, by_bot, exclude=exclude, chat_id=chat_id
                )
            else:
                statement = _CLAIMS[postgres, self.epoch is not None, by_bot]
            rows = list((await conn.execute(statement, params)).all())
            if not rows and self.epoch is not None and not await self._still_current(session):
                log.warning("a newer leader took over (epoch %s is old): fenced", self.epoch)
                self.fenced = True
        rows.sort(key=lambda r: (r.not_before, r.id))
        return [
            Claimed(r.id, r.chat_id, r.is_group, r.method, r.payload, r.pin, r.kind) for r in rows
        ]

    async def _still_current(self, session: AsyncSession) -> bool:
        current = await session.scalar(
            select(LeaderTerm.epoch).where(LeaderTerm.id == self.term_id)
        )
        return current == self.epoch

    # -------------------------------------------------------------- sending

    async def _send(self, claimed: Claimed) -> bool | None:
        """One claimed row → Telegram → recorded outcome. True when sent; None when the
        chat migrated and the row was handed back under the new chat id. No database
        connection is held while pacing or waiting for Telegram."""
        delivery_id, chat_id, method = claimed.id, claimed.chat_id, claimed.method
        method_cls = METHODS.get(method)
        if method_cls is None:
            return await self._record(delivery_id, error=f"unknown method {method}", failed=True)
        params = _upload_files(dict(claimed.payload))
        if self.paid and method in SENDING:
            params["allow_paid_broadcast"] = True
        # The lean path (see `_post`) where only the message id is wanted; the full
        # aiogram call where a Message is needed (pin, hooks) or a file is uploaded.
        lean = (
            self._lean is not None
            and method in SENDING
            and not claimed.pin
            and claimed.kind not in HOOKED_KINDS
            and not any(isinstance(v, BufferedInputFile) for v in params.values())
        )
        paced = method in SENDING
        if paced:
            await self.pacer.acquire(chat_id, claimed.is_group)
        # Whether Telegram may have delivered it (then it counts against the limits).
        counted = True
        error: TelegramAPIError | None = None
        started = self.pacer.monotonic()
        try:
            if lean:
                result: Any = await self._post(method_cls, chat_id, params)
            else:
                result = await self.bot(method_cls(chat_id=chat_id, **params))
            self._round_trip(self.pacer.monotonic() - started)
        except TelegramAPIError as exc:
            counted = not isinstance(
                exc, TelegramRetryAfter | TelegramForbiddenError | TelegramBadRequest
            )
            error = exc
        finally:
            if paced:
                self.pacer.release(chat_id, counted=counted)
        if error is None:
            return await self._sent(claimed, result)
        return await self._failed(claimed, error)

    async def _failed(self, claimed: Claimed, exc: TelegramAPIError) -> bool | None:
        """Record what Telegram refused (see the module doc for each case)."""
        delivery_id, chat_id = claimed.id, claimed.chat_id
        if isinstance(exc, TelegramRetryAfter):
            self.pacer.hold(chat_id, exc.retry_after)
            return await self._record(delivery_id, retry_after=exc.retry_after)
        if isinstance(exc, TelegramMigrateToChat):
            async with self.sessionmaker.begin() as session:
                delivery = await session.get(Delivery, delivery_id)
                if delivery is not None:
                    await self._migrate(session, delivery, exc.migrate_to_chat_id)
            return None
        if isinstance(exc, TelegramForbiddenError):
            return await self._record(delivery_id, error=exc.message, failed=True, unreachable=True)
        if isinstance(exc, TelegramServerError | TelegramNetworkError):
            return await self._record(delivery_id, error=str(exc))
        if isinstance(exc, TelegramBadRequest):
            return await self._record(delivery_id, error=exc.message, failed=True)
        return await self._record(delivery_id, error=str(exc))

    async def _post(
        self, method_cls: type[TelegramMethod[Any]], chat_id: int, params: dict[str, Any]
    ) -> int | None:
        """Send one call the lean way (bot/lean.py) and return the sent message's id."""
        assert self._lean is not None  # only called when the bot's session allows it
        return await self._lean.post(method_cls, chat_id, params)

    def _round_trip(self, seconds: float) -> None:
        """Keep a moving average of the answer time (sizes the sends in flight)."""
        self.round_trip += (seconds - self.round_trip) * 0.05

    def slots(self) -> int:
        """Sends in flight at most: ``send_concurrency``, or more when the global rate
        needs it (rate × round-trip time, +50 %; e.g. paid broadcasts at 900/s with
        150 ms answers: 203), up to 8 × ``send_concurrency`` (at most 1024)."""
        rate = self.pacer.rate_per_second
        wanted = math.ceil(min(rate, 1e6) * self.round_trip * 1.5)
        return max(self.concurrency, min(wanted, self.max_concurrency))

    async def _sent(self, claimed: Claimed, result: Any) -> bool:
        delivery_id = claimed.id
        message = result if isinstance(result, Message) else None
        if isinstance(result, int) and not isinstance(result, bool):
            self._unsettled.add(self._queue_outcome((delivery_id, result)))
            return True
        recorded = self._queue_outcome((delivery_id, message.message_id if message else None))
        if not (claimed.pin or claimed.kind in HOOKED_KINDS):
            # The slot is free at once; the success commits with the next group commit
            # (drain() waits for it before returning). Until then the row stays 'sending',
            # so its chat's next row is not claimed yet: per-chat order holds.
            self._unsettled.add(recorded)
            return True
        await recorded
        if message is not None and claimed.kind in HOOKED_KINDS:
            async with self.sessionmaker.begin() as session:
                delivery = await session.get(Delivery, delivery_id)
                if delivery is not None:
                    await self._after_sent(session, delivery, message)
        if claimed.pin and message is not None:
            await self._pin(delivery_id, message)
        return True

    async def _record(
        self,
        delivery_id: int,
        *,
        error: str | None = None,
        failed: bool = False,
        unreachable: bool = False,
        retry_after: int | None = None,
    ) -> bool:
        """Write a non-success outcome: back to pending (retry_after/backoff) or failed.
        It joins the group commit of the outcomes finishing at the same moment."""

        async def write(session: AsyncSession) -> None:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is None:
                return
            if retry_after is not None:
                delivery.status = DeliveryStatus.PENDING.value
                delivery.attempts -= 1
                delivery.not_before = self.clock.now() + timedelta(seconds=retry_after)
            elif unreachable:
                await self._unreachable(session, delivery, error or "forbidden")
            elif failed:
                delivery.status = DeliveryStatus.FAILED.value
                delivery.error = error
            else:
                self._retry_later(delivery, error or "error")

        await self._commit_outcome(write)
        return False

    async def _mark_sent(self, delivery_id: int, message_id: int | None) -> None:
        """Record a success (joins the group commit)."""
        await self._commit_outcome((delivery_id, message_id))

    async def _commit_outcome(self, outcome: Outcome) -> None:
        """Outcomes of concurrent sends share one commit (group commit), which keeps the
        after-send window short and the database free for claims during a burst."""
        await self._queue_outcome(outcome)

    def _queue_outcome(self, outcome: Outcome) -> asyncio.Future[None]:
        """Queue an outcome for the next group commit; the future is that commit's (one
        per commit, shared by its outcomes)."""
        future = self._committed
        if future is None:
            future = self._committed = asyncio.get_running_loop().create_future()
        self._outcomes.append(outcome)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_outcomes())
        return future

    async def _settle(self) -> None:
        """Wait until every queued success is committed (or has failed: such rows stay
        'sending' until the lease expires, then are sent again)."""
        while self._unsettled:
            waiting, self._unsettled = self._unsettled, set()
            for result in await asyncio.gather(*waiting, return_exceptions=True):
                if isinstance(result, BaseException):
                    log.error("recording sent deliveries failed: %s", result)

    async def _flush_outcomes(self) -> None:
        while self._outcomes:
            await asyncio.sleep(0)  # let sends finishing right now join this commit
            batch, self._outcomes = self._outcomes, []
            future, self._committed = self._committed, None
            assert future is not None
            sent = [o for o in batch if isinstance(o, tuple)]
            try:
                async with self.sessionmaker.begin() as session:
                    if sent:
                        await self._write_sent(session, sent)
                    for write in batch:
                        if not isinstance(write, tuple):
                            await write(session)
            except Exception as exc:  # the rows stay 'sending' until the lease expires
                future.set_exception(exc)
                continue
            future.set_result(None)

    async def _write_sent(self, session: AsyncSession, sent: list[tuple[int, int | None]]) -> None:
        """Mark a group commit's successes sent: ONE statement for the whole batch, the
        (id, message id) pairs as one parameter (arrays on PostgreSQL, a JSON array on
        SQLite), the time bound once."""
        conn = await session.connection()
        if conn.dialect.name == "postgresql":
            ids = [delivery_id for delivery_id, _ in sent]
            messages = [message_id for _, message_id in sent]
            params: dict[str, Any] = {"at": self.clock.now(), "ids": ids, "messages": messages}
            await conn.execute(_MARK_SENT_POSTGRES, params)
        else:
            pairs = json.dumps(sent, separators=(",", ":"))
            await conn.execute(_MARK_SENT_SQLITE, {"at": self.clock.now(), "pairs": pairs})

    async def _pin(self, delivery_id: int, message: Message) -> None:
        """Pin after the send is recorded; a failed pin never un-sends the message."""
        try:
            await self.bot(
                PinChatMessage(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    disable_notification=True,
                )
            )
        except TelegramAPIError as exc:
            async with self.sessionmaker.begin() as session:
                delivery = await session.get(Delivery, delivery_id)
                if delivery is not None:
                    delivery.error = f"pin failed: {exc}"

    async def _migrate(self, session: AsyncSession, delivery: Delivery, new_id: int) -> None:
        from bot.services.groups import migrate_group

        old_id = delivery.chat_id
        log.info("chat %s migrated to %s; following", old_id, new_id)
        await migrate_group(session, self.clock, old_id=old_id, new_id=new_id)
        await session.execute(
            update(Delivery)
            .where(Delivery.chat_id == old_id, Delivery.status.in_(_ACTIVE))
            .values(chat_id=new_id)
            .execution_options(synchronize_session=False)
        )
        delivery.chat_id = new_id
        delivery.status = DeliveryStatus.PENDING.value
        delivery.attempts -= 1
        self.pacer.rename(old_id, new_id)

    async def _unreachable(self, session: AsyncSession, delivery: Delivery, error: str) -> None:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.error = error
        if delivery.person_id is not None:
            person = await session.get(Person, delivery.person_id)
            if person is not None and person.unreachable_since is None:
                person.unreachable_since = self.clock.now()

    async def _after_sent(
        self, session: AsyncSession, delivery: Delivery, message: Message
    ) -> None:
        """A case card's message id is kept on the case, so the card can be edited."""
        if delivery.kind == "case_card" and delivery.case_id is not None:
            case = await session.get(Case, delivery.case_id)
            if case is not None:
                case.card_chat_id = message.chat.id
                case.card_message_id = message.message_id

    def _retry_later(self, delivery: Delivery, error: str) -> None:
        delivery.error = error
        if delivery.attempts >= self.max_attempts:
            delivery.status = DeliveryStatus.FAILED.value
            return
        delivery.status = DeliveryStatus.PENDING.value
        backoff = min(MAX_BACKOFF_SECONDS, 2 ** max(0, delivery.attempts - 1))
        delivery.not_before = self.clock.now() + timedelta(seconds=backoff)


def max_in_flight(concurrency: int) -> int:
    """The most sends in flight for a ``send_concurrency`` (see `Sender.slots`); the bot's
    HTTP connection pool is sized by it (bot/app.py: make_bot)."""
    return min(1024, 8 * concurrency)


_TABLE: Table = Delivery.__table__  # type: ignore[assignment]
_SENT_AT = bindparam("at", type_=_TABLE.c.sent_at.type)
#: A group commit's successes in one statement (see `Sender._write_sent`).
_MARK_SENT_POSTGRES = text(
    "UPDATE deliveries SET status = 'sent', sent_at = :at, error = NULL, "
    "telegram_message_id = v.message_id "
    "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:messages AS BIGINT[])) AS v(id, message_id) "
    "WHERE deliveries.id = v.id"
).bindparams(_SENT_AT)
_MARK_SENT_SQLITE = text(
    "UPDATE deliveries SET status = 'sent', sent_at = :at, error = NULL, "
    "telegram_message_id = v.message_id "
    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS message_id "
    "FROM json_each(:pairs)) AS v "
    "WHERE deliveries.id = v.id"
).bindparams(_SENT_AT)


def _claim_statement(
    postgres: bool,
    fenced: bool,
    by_bot: bool,
    *,
    exclude: set[int] | None = None,
    chat_id: int | None = None,
) -> Any:
    """The claim (see `Sender._claim_heads`) as a Core statement with bound parameters
    ``c_now``, ``c_n``, ``c_worker`` (``c_epoch`` and ``c_term`` when `fenced`; ``c_bot``
    when `by_bot`: only this bot's rows and those of no bot, one bot per district)."""
    table, earlier = _TABLE, _TABLE.alias("earlier")
    now = bindparam("c_now", type_=table.c.not_before.type)
    heads = (
        select(table.c.id)
        .where(
            table.c.status == DeliveryStatus.PENDING.value,
            or_(table.c.bot_id == bindparam("c_bot"), table.c.bot_id.is_(None))
            if by_bot
            else true(),
            table.c.not_before <= now,
            # Only a chat's head: no earlier row of that chat still pending or sending.
            ~exists().where(
                earlier.c.chat_id == table.c.chat_id,
                earlier.c.id < table.c.id,
                earlier.c.status.in_(_ACTIVE),
            ),
        )
        .order_by(table.c.not_before, table.c.id)
        .limit(bindparam("c_n", type_=Integer))
    )
    if exclude:
        heads = heads.where(table.c.chat_id.not_in(exclude))
    if chat_id is not None:
        heads = heads.where(table.c.chat_id == chat_id)
    chosen: Any = heads.scalar_subquery()
    if postgres:
        # A materialized CTE: as a plain `IN (subquery)` PostgreSQL may run the
        # LIMIT … SKIP LOCKED subquery again per row and claim far more than n.
        locked = heads.with_for_update(skip_locked=True, of=table)
        cte = locked.cte("heads").prefix_with("MATERIALIZED")
        chosen = select(cte.c.id)
    leader = _LEADER_TABLE
    return (
        update(table)
        .where(
            table.c.id.in_(chosen),
            table.c.status == DeliveryStatus.PENDING.value,
            # Fencing: only while this leadership's epoch is still the current one.
            exists().where(
                leader.c.id == bindparam("c_term"), leader.c.epoch == bindparam("c_epoch")
            )
            if fenced
            else true(),
        )
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_at=now,
            claimed_by=bindparam("c_worker"),
            attempts=table.c.attempts + 1,
        )
        .returning(
            table.c.id,
            table.c.chat_id,
            table.c.is_group,
            table.c.method,
            table.c.payload,
            table.c.pin,
            table.c.kind,
            table.c.not_before,
        )
    )


_LEADER_TABLE: Table = LeaderTerm.__table__  # type: ignore[assignment]
#: The claim statements, built once: (PostgreSQL?, fenced?, one bot's?) → statement.
_CLAIMS = {
    (postgres, fenced, by_bot): _claim_statement(postgres, fenced, by_bot)
    for postgres in (False, True)
    for fenced in (False, True)
    for by_bot in (False, True)
}


def _upload_files(params: dict[str, Any]) -> dict[str, Any]:
    """A photo stored in the row (see `outbox.photo_payload`) becomes an upload."""
    encoded = params.pop(PHOTO_BYTES, None)
    if encoded is not None:
        filename = str(params.pop("filename", "photo.png"))
        params["photo"] = BufferedInputFile(base64.b64decode(encoded), filename)
    return params
