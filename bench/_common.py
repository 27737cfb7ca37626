"""Shared set-up of the benchmarks: a migrated SQLite file (or a given URL), N
deliveries in the outbox, a Bot pointed at the double, and the figures to print."""

from __future__ import annotations

import collections
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.migrate import upgrade
from bot.db.models import Delivery, DeliveryStatus
from bot.db.session import create_engine
from bot.double import BotApiDouble

TOKEN = "123456:BENCH-TOKEN"


def server_cpu(names: tuple[str, ...] = ("postgres", "postmaster")) -> float:
    """CPU seconds used so far by the database server's processes on this machine (its
    backends, and through the postmaster's children's times the backends that have
    exited): the other side of a benchmark's statements, on the same two cores. 0.0
    where /proc cannot tell (another system, or a server elsewhere)."""
    ticks = 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if not stat[stat.index("(") + 1 : stat.rindex(")")].startswith(names):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


PRIVATE_BASE = 10_000_000
GROUP_BASE = -1_000_000_000_000


async def fresh_engine(path: Path, url: str | None = None) -> tuple[str, AsyncEngine]:
    if url is None:
        _remove(path)
        url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    await upgrade(engine)
    return url, engine


def admin_engine(url: str) -> AsyncEngine:
    """An autocommit engine on the server's `postgres` database, to create and drop
    the database `url` names."""
    return create_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )


async def ensure_database(url: str) -> None:
    """Create a PostgreSQL database named in ``url`` if it does not exist yet, so
    every benchmark's documented command works on a fresh machine. SQLite URLs are
    left alone (the file is created on connect)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        return
    admin = admin_engine(url)
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": parsed.database},
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        await admin.dispose()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def populate_double(double: BotApiDouble, private: int, groups: int) -> list[tuple[int, bool]]:
    chats: list[tuple[int, bool]] = []
    for i in range(private):
        uid = PRIVATE_BASE + i
        user = double.user(uid, f"U{i}")
        double.private_chat(user)
        double.started.add(uid)
        chats.append((uid, False))
    for i in range(groups):
        gid = GROUP_BASE - i
        double.group(gid, f"G{i}")
        chats.append((gid, True))
    return chats


async def enqueue_all(engine: AsyncEngine, chats: list[tuple[int, bool]], tag: str) -> None:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "kind": "notice",
            "chat_id": chat_id,
            "is_group": is_group,
            "method": "sendMessage",
            "payload": {"text": f"{tag} #{n}", "parse_mode": "HTML"},
            "dedup_key": f"bench:{tag}:{n}",
            "pin": False,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "not_before": now,
            "created_at": now,
        }
        for n, (chat_id, is_group) in enumerate(chats)
    ]
    async with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(insert(Delivery), rows[start : start + 2000])


def make_bot(double: BotApiDouble | str, *, limit: int = 100) -> Bot:
    """A Bot talking to the double (or to a base URL), `limit` connections at most."""
    base = double if isinstance(double, str) else double.base_url
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base), limit=limit))


def delivered_texts(double: BotApiDouble) -> collections.Counter[str]:
    """What the double recorded as delivered (successful sends only)."""
    counter: collections.Counter[str] = collections.Counter()
    for call in double.calls:
        if call.method == "sendMessage" and call.response.get("ok"):
            counter[str(call.params.get("text"))] += 1
    return counter


async def audit(
    engine: AsyncEngine, delivered: collections.Counter[str], tag: str
) -> dict[str, int]:
    """Duplicates (a row's text delivered more than once) and losses (a row not
    delivered, or not marked sent) comparing the double with the outbox."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Delivery.payload, Delivery.status).where(
                    Delivery.dedup_key.like(f"bench:{tag}:%")
                )
            )
        ).all()
        statuses = dict(
            (
                await conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
            ).all()
        )
    duplicates = sum(max(0, delivered[str(p["text"])] - 1) for p, _ in rows)
    not_delivered = sum(1 for p, _ in rows if delivered[str(p["text"])] == 0)
    not_marked = sum(
        1 for p, s in rows if delivered[str(p["text"])] > 0 and s != DeliveryStatus.SENT.value
    )
    return {
        "rows": len(rows),
        "duplicates": duplicates,
        "lost": not_delivered,
        "delivered_but_not_marked_sent": not_marked,
        **{f"status_{k}": int(v) for k, v in statuses.items()},
    }
