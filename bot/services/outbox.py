"""The outbox: every message the bot sends on its own initiative is a durable row.

Jobs and services *enqueue*; only the sender (bot/sender.py) talks to Telegram.
Enqueueing is idempotent through `dedup_key`: a job that runs twice adds nothing.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Delivery, DeliveryStatus
from bot.presentation.cards import Markup


def message_payload(
    text: str,
    *,
    reply_markup: Markup | None = None,
    disable_notification: bool = False,
) -> dict[str, Any]:
    """Parameters of a sendMessage call (HTML parse mode), JSON-serialisable."""
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup.model_dump(mode="json", exclude_none=True)
    if disable_notification:
        payload["disable_notification"] = True
    return payload


#: Key of a photo's bytes (base64) in a sendPhoto payload; the sender uploads them.
PHOTO_BYTES = "photo_base64"


def photo_payload(png: bytes, *, caption: str, filename: str = "chart.png") -> dict[str, Any]:
    """Parameters of a sendPhoto call whose picture travels in the row itself, so a
    job only enqueues and the sender uploads (charts are tens of kilobytes)."""
    return {
        PHOTO_BYTES: base64.b64encode(png).decode("ascii"),
        "filename": filename,
        "caption": caption,
        "parse_mode": "HTML",
    }


async def enqueue(
    session: AsyncSession,
    clock: Clock,
    *,
    kind: str,
    chat_id: int,
    dedup_key: str,
    payload: dict[str, Any],
    method: str = "sendMessage",
    is_group: bool = False,
    not_before: datetime | None = None,
    notice_id: int | None = None,
    case_id: int | None = None,
    checkin_id: int | None = None,
    person_id: int | None = None,
    pin: bool = False,
) -> bool:
    """Add one delivery unless one with the same `dedup_key` exists. Returns whether
    a row was added. Safe under concurrency (INSERT … ON CONFLICT DO NOTHING)."""
    now = clock.now()
    values = {
        "kind": kind,
        "chat_id": chat_id,
        "is_group": is_group,
        "method": method,
        "payload": payload,
        "dedup_key": dedup_key,
        "notice_id": notice_id,
        "case_id": case_id,
        "checkin_id": checkin_id,
        "person_id": person_id,
        "pin": pin,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "not_before": not_before or now,
        "created_at": now,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Delivery).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def find(session: AsyncSession, dedup_key: str) -> Delivery | None:
    return await session.scalar(select(Delivery).where(Delivery.dedup_key == dedup_key))
