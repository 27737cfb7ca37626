"""The sender: drains the outbox to Telegram, paced under Telegram's limits.

Pacing
    One `Pacer` holds three limits: a global rate (``send_rate_per_second``, or
    ``paid_broadcast_rate_per_second`` when ``allow_paid_broadcast``), a per-private-chat
    rate (``send_rate_per_chat_per_second``) and a per-group rate
    (``send_rate_per_group_per_minute``). Every send first waits for its chat's next slot,
    then reserves the next global slot; slots are spaced evenly, so bursts never exceed
    a limit in any window. Time and sleeping are injected (``monotonic``, ``sleep``) so
    tests assert the schedule without sleeping.

Concurrency and order
    Many chats are in flight at once (``concurrency`` chat workers); each chat is sent in
    order: only the *head* of a chat (its oldest row still pending or sending) can be
    claimed, so a later message never overtakes an earlier one, even across retries.

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
    3. Record the outcome (``sent`` + message id, or the error) in one commit.
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
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiogram import Bot
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
from sqlalchemy import and_, exists, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.db.models import Case, Delivery, DeliveryStatus, LeaderTerm, Person
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
_ACTIVE = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)

#: Kinds whose sent message id is also kept elsewhere (see `_after_sent`).
HOOKED_KINDS = frozenset({"case_card"})

Sleep = Callable[[float], Awaitable[None]]


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


@dataclass
class Pacer:
    """Evenly spaced slots under a global rate and per-chat rates (see module doc)."""

    rate_per_second: float
    chat_per_second: float
    group_per_minute: float
    monotonic: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep
    record: bool = False
    schedule: list[tuple[float, int]] = field(default_factory=list)
    _next_global: float = 0.0
    _next_chat: dict[int, float] = field(default_factory=dict)
    _recent: collections.deque[float] = field(default_factory=collections.deque)

    def chat_interval(self, is_group: bool) -> float:
        return 60.0 / self.group_per_minute if is_group else 1.0 / self.chat_per_second

    async def acquire(self, chat_id: int, is_group: bool) -> float:
        """Wait for the chat's slot, then reserve the next global slot; returns the slot."""
        now = self.monotonic()
        chat_ready = self._next_chat.get(chat_id, 0.0)
        if chat_ready > now:
            await self.sleep(chat_ready - now)
            now = self.monotonic()
        # No await between reading and moving the global slot: reservations never collide.
        slot = max(now, self._next_global, self._next_chat.get(chat_id, 0.0))
        self._next_global = slot + 1.0 / self.rate_per_second
        self._next_chat[chat_id] = slot + self.chat_interval(is_group)
        if self.record:
            self.schedule.append((slot, chat_id))
        if slot > now:
            await self.sleep(slot - now)
        # Slots are evenly spaced, but a busy event loop can wake several late and at
        # once; a sliding one-second window on the actual send times stops such a bunch.
        most = max(1, int(self.rate_per_second))
        while True:
            now = self.monotonic()
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) < most:
                break
            await self.sleep(self._recent[0] + 1.0 - now)
        self._recent.append(now)
        return slot

    def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram said retry_after for this chat: nothing goes to it before then."""
        until = self.monotonic() + seconds
        self._next_chat[chat_id] = max(self._next_chat.get(chat_id, 0.0), until)

    def rename(self, old_id: int, new_id: int) -> None:
        if old_id in self._next_chat:
            self._next_chat[new_id] = self._next_chat.pop(old_id)

    def forget_idle(self) -> None:
        """Drop chats whose slot has passed (keeps memory flat on huge broadcasts)."""
        now = self.monotonic()
        self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}


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
        concurrency: int = 32,
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
        self.concurrency = max(1, concurrency)
        self.lease = lease
        settings = settings or Settings(_env_file=None)
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
        #: The leadership's fencing token; None = no fencing (SQLite, tests).
        self.epoch: int | None = None
        self.fenced = False
        self._sent_queue: list[tuple[int, int | None, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- public

    async def drain(self, limit: int | None = None) -> int:
        """Send every delivery that is due now (many chats at once, each chat in
        order); returns how many were sent."""
        await self.recover(takeover=False)
        sent = 0
        busy: dict[int, asyncio.Task[bool | None]] = {}
        left = limit if limit is not None else -1
        # Claim in batches: only when a quarter of the slots are free (or none is busy).
        batch = max(1, self.concurrency // 4)
        exhausted = False
        while True:
            free = self.concurrency - len(busy)
            if left != 0 and not exhausted and (free >= batch or not busy):
                want = free if left < 0 else min(free, left)
                claimed = await self._claim_heads(want, exclude=set(busy))
                # Nothing more due for now (apart from the chats in flight, whose next
                # rows are claimed when they finish).
                exhausted = len(claimed) < want
                for item in claimed:
                    left -= 1 if left > 0 else 0
                    busy[item.chat_id] = asyncio.create_task(self._send(item))
            if not busy:
                break
            done, _ = await asyncio.wait(busy.values(), return_when=asyncio.FIRST_COMPLETED)
            for chat_id, task in list(busy.items()):
                if task in done:
                    del busy[chat_id]
                    sent += int(bool(task.result()))
                    exhausted = False  # this chat may have a next row now
        self.pacer.forget_idle()
        return sent

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Drain until stopped (only the leader runs this, so rows another worker left
        in 'sending' belong to a dead process: they are recovered first)."""
        self.fenced = False
        with contextlib.suppress(Exception):
            await self.recover(takeover=True)
        try:
            await self.prime_pacer()
        except Exception:
            log.exception("could not read the last window's sends; waiting one window")
            await asyncio.sleep(1.0)
        while not stop.is_set() and not self.fenced:
            try:
                await self.drain()
            except Exception:  # keep the loop alive; the rows stay claimable
                log.exception("sender pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle)

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
                .where(Delivery.status == DeliveryStatus.SENDING.value, stale)
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
        from sqlalchemy import func

        now = self.clock.now()
        when = func.coalesce(Delivery.sent_at, Delivery.claimed_at)
        recent = (
            Delivery.status.in_((DeliveryStatus.SENT.value, DeliveryStatus.SENDING.value)),
            Delivery.method.in_(sorted(SENDING)),
        )
        async with self.sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).where(*recent, when >= now - timedelta(seconds=1))
            )
            chats = (
                await session.execute(
                    select(Delivery.chat_id, Delivery.is_group, func.max(when))
                    .where(*recent, when >= now - timedelta(seconds=60))
                    .group_by(Delivery.chat_id, Delivery.is_group)
                )
            ).all()
        pacer, mono = self.pacer, self.pacer.monotonic()
        for _ in range(min(int(count or 0), max(1, int(pacer.rate_per_second)))):
            pacer._recent.append(mono)
        for chat_id, is_group, last in chats:
            ready = (last - now).total_seconds() + pacer.chat_interval(bool(is_group))
            if ready > 0:
                pacer._next_chat[chat_id] = max(pacer._next_chat.get(chat_id, 0.0), mono + ready)
        return int(count or 0)

    # ------------------------------------------------------------- claiming

    def _head_filter(self, now: Any) -> Any:
        earlier = aliased(Delivery)
        return and_(
            Delivery.status == DeliveryStatus.PENDING.value,
            Delivery.not_before <= now,
            ~exists().where(
                earlier.chat_id == Delivery.chat_id,
                earlier.id < Delivery.id,
                earlier.status.in_(_ACTIVE),
            ),
        )

    async def _claim_heads(
        self, n: int, *, exclude: set[int], chat_id: int | None = None
    ) -> list[Claimed]:
        """Atomically claim up to n due rows, at most one per chat, each its chat's head."""
        now = self.clock.now()
        async with self.sessionmaker.begin() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            query = (
                select(
                    Delivery.id,
                    Delivery.chat_id,
                    Delivery.is_group,
                    Delivery.method,
                    Delivery.payload,
                    Delivery.pin,
                    Delivery.kind,
                )
                .where(self._head_filter(now))
                .order_by(Delivery.not_before, Delivery.id)
                .limit(n + len(exclude))
            )
            if chat_id is not None:
                query = query.where(Delivery.chat_id == chat_id)
            if postgres:
                query = query.with_for_update(skip_locked=True, of=Delivery)
            rows = (await session.execute(query)).all()
            claimed: list[Claimed] = []
            seen: set[int] = set()
            for row in rows:
                if row.chat_id in exclude or row.chat_id in seen or len(claimed) >= n:
                    continue
                fence = (
                    exists().where(LeaderTerm.id == 1, LeaderTerm.epoch == self.epoch)
                    if self.epoch is not None
                    else true()
                )
                result = await session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == row.id,
                        Delivery.status == DeliveryStatus.PENDING.value,
                        fence,
                    )
                    .values(
                        status=DeliveryStatus.SENDING.value,
                        claimed_at=now,
                        claimed_by=self.worker_id,
                        attempts=Delivery.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                lost = not getattr(result, "rowcount", 0) and self.epoch is not None
                if lost and not await self._still_current(session):
                    log.warning("a newer leader took over (epoch %s is old): fenced", self.epoch)
                    self.fenced = True
                    break
                if getattr(result, "rowcount", 0):
                    claimed.append(
                        Claimed(
                            row.id,
                            row.chat_id,
                            row.is_group,
                            row.method,
                            dict(row.payload),
                            row.pin,
                            row.kind,
                        )
                    )
                    seen.add(row.chat_id)
            return claimed

    async def _still_current(self, session: AsyncSession) -> bool:
        current = await session.scalar(select(LeaderTerm.epoch).where(LeaderTerm.id == 1))
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
        call = method_cls(chat_id=chat_id, **params)
        if method in SENDING:
            await self.pacer.acquire(chat_id, claimed.is_group)
        try:
            result = await self.bot(call)
        except TelegramRetryAfter as exc:
            self.pacer.hold(chat_id, exc.retry_after)
            return await self._record(delivery_id, retry_after=exc.retry_after)
        except TelegramMigrateToChat as exc:
            async with self.sessionmaker.begin() as session:
                delivery = await session.get(Delivery, delivery_id)
                if delivery is not None:
                    await self._migrate(session, delivery, exc.migrate_to_chat_id)
            return None
        except TelegramForbiddenError as exc:
            return await self._record(delivery_id, error=exc.message, failed=True, unreachable=True)
        except (TelegramServerError, TelegramNetworkError) as exc:
            return await self._record(delivery_id, error=str(exc))
        except TelegramBadRequest as exc:
            return await self._record(delivery_id, error=exc.message, failed=True)
        except TelegramAPIError as exc:
            return await self._record(delivery_id, error=str(exc))
        message = result if isinstance(result, Message) else None
        await self._mark_sent(delivery_id, message.message_id if message else None)
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
        """Write a non-success outcome: back to pending (retry_after/backoff) or failed."""
        async with self.sessionmaker.begin() as session:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is None:
                return False
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
        return False

    async def _mark_sent(self, delivery_id: int, message_id: int | None) -> None:
        """Record a success; successes of concurrent sends share one commit (group
        commit), which keeps the after-send window short when the database is busy."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent_queue.append((delivery_id, message_id, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_sent())
        await future

    async def _flush_sent(self) -> None:
        while self._sent_queue:
            await asyncio.sleep(0)  # let sends finishing right now join this commit
            batch, self._sent_queue = self._sent_queue, []
            now = self.clock.now()
            try:
                async with self.sessionmaker.begin() as session:
                    await session.execute(
                        update(Delivery),
                        [
                            {
                                "id": delivery_id,
                                "status": DeliveryStatus.SENT.value,
                                "sent_at": now,
                                "error": None,
                                "telegram_message_id": message_id,
                            }
                            for delivery_id, message_id, _ in batch
                        ],
                    )
            except Exception as exc:  # the rows stay 'sending' until the lease expires
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)

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


def _upload_files(params: dict[str, Any]) -> dict[str, Any]:
    """A photo stored in the row (see `outbox.photo_payload`) becomes an upload."""
    encoded = params.pop(PHOTO_BYTES, None)
    if encoded is not None:
        filename = str(params.pop("filename", "photo.png"))
        params["photo"] = BufferedInputFile(base64.b64decode(encoded), filename)
    return params
