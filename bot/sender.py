"""The sender: drains the outbox to Telegram.

This is the first, simple version: one delivery at a time, retry_after honoured by
rescheduling the row, 403 marks the person unreachable. Pacing under Telegram's
limits and crash-safety are built on this interface (`drain`, `run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
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
from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Case, Delivery, DeliveryStatus, Person

log = logging.getLogger(__name__)

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    "sendMessage": SendMessage,
    "sendPhoto": SendPhoto,
    "sendDocument": SendDocument,
    "editMessageText": EditMessageText,
    "editMessageReplyMarkup": EditMessageReplyMarkup,
    "pinChatMessage": PinChatMessage,
}


class Sender:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        max_attempts: int = 8,
        worker_id: str = "sender",
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.max_attempts = max_attempts
        self.worker_id = worker_id

    async def drain(self, limit: int | None = None) -> int:
        """Send every delivery that is due now; returns how many were sent."""
        sent = 0
        while limit is None or sent < limit:
            delivery_id = await self._claim_next()
            if delivery_id is None:
                break
            if await self._send(delivery_id):
                sent += 1
        return sent

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:  # keep the loop alive; the row stays claimable
                log.exception("sender pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle)

    async def _claim_next(self) -> int | None:
        now = self.clock.now()
        async with self.sessionmaker.begin() as session:
            delivery = await session.scalar(
                select(Delivery)
                .where(Delivery.status == DeliveryStatus.PENDING, Delivery.not_before <= now)
                .order_by(Delivery.not_before, Delivery.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if delivery is None:
                return None
            delivery.status = DeliveryStatus.SENDING
            delivery.claimed_at = now
            delivery.claimed_by = self.worker_id
            delivery.attempts += 1
            return delivery.id

    async def _send(self, delivery_id: int) -> bool:
        async with self.sessionmaker() as session:
            delivery = await session.get(Delivery, delivery_id)
            assert delivery is not None
            method_cls = METHODS[delivery.method]
            call = method_cls(chat_id=delivery.chat_id, **delivery.payload)
            now = self.clock.now()
            try:
                result = await self.bot(call)
            except TelegramRetryAfter as exc:
                delivery.status = DeliveryStatus.PENDING
                delivery.attempts -= 1
                delivery.not_before = now + timedelta(seconds=exc.retry_after)
            except TelegramForbiddenError as exc:
                delivery.status = DeliveryStatus.FAILED
                delivery.error = exc.message
                if delivery.person_id is not None:
                    person = await session.get(Person, delivery.person_id)
                    if person is not None and person.unreachable_since is None:
                        person.unreachable_since = now
            except (TelegramServerError, TelegramNetworkError) as exc:
                self._retry_later(delivery, str(exc))
            except TelegramBadRequest as exc:
                delivery.status = DeliveryStatus.FAILED
                delivery.error = exc.message
            except TelegramAPIError as exc:
                self._retry_later(delivery, str(exc))
            else:
                delivery.status = DeliveryStatus.SENT
                delivery.sent_at = now
                if isinstance(result, Message):
                    delivery.telegram_message_id = result.message_id
                    await self._after_sent(session, delivery, result)
                await session.commit()
                return True
            await session.commit()
            return False

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
            delivery.status = DeliveryStatus.FAILED
            return
        delivery.status = DeliveryStatus.PENDING
        backoff = min(300, 2**delivery.attempts)
        delivery.not_before = self.clock.now() + timedelta(seconds=backoff)
