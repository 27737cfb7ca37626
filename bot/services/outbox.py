"""The outbox: every message the bot sends on its own initiative is a durable row.

Jobs and services *enqueue*; only the sender (bot/sender.py) talks to Telegram.
Enqueueing is idempotent through `dedup_key`: a job that runs twice adds nothing.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Delivery, DeliveryStatus
from bot.db.session import bot_of
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
    row = {
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
        "not_before": not_before,
    }
    return await enqueue_many(session, clock, [row]) == 1


#: Columns a row given to `enqueue_many` may leave out, and their values.
_OPTIONAL: dict[str, Any] = {
    "is_group": False,
    "method": "sendMessage",
    "pin": False,
    "notice_id": None,
    "case_id": None,
    "checkin_id": None,
    "person_id": None,
    "not_before": None,
}


async def enqueue_many(session: AsyncSession, clock: Clock, rows: list[dict[str, Any]]) -> int:
    """The one outbox writer: add deliveries (kind, chat_id, payload, dedup_key, and any
    of `_OPTIONAL`), skipping those whose `dedup_key` exists; returns how many were
    added. One statement for many rows (RETURNING lets SQLAlchemy batch them into
    multi-row VALUES on SQLite and PostgreSQL); a concurrent run adds nothing twice."""
    if not rows:
        return 0
    now = clock.now()
    bot_id = bot_of(session)  # the bot that will send them (one bot per district)
    values = []
    for row in rows:
        full = {**_OPTIONAL, **row}
        full["not_before"] = full["not_before"] or now
        full.update(status=DeliveryStatus.PENDING.value, attempts=0, created_at=now, bot_id=bot_id)
        values.append(full)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Core (not ORM) insert: rows skipped on conflict simply return nothing.
    table = cast(Table, Delivery.__table__)
    statement = (
        insert(table).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(table.c.id)
    )
    result = await session.execute(statement, values)
    return len(result.all())


async def find(session: AsyncSession, dedup_key: str) -> Delivery | None:
    return await session.scalar(select(Delivery).where(Delivery.dedup_key == dedup_key))
