"""Broadcast benchmark: the real sender (outbox in a database) against the Bot API double
enforcing Telegram's limits (30/s per bot, 1/s per chat, 20/min per group; 429 beyond).

Each run prints its own reference, measured in the same process:

* best possible: with a sliding one-second window, N messages need at least
  ceil(N/30) - 1 seconds from the first delivery to the last (bursts of 30 at 0 s,
  1 s, 2 s, ...); rate = N / that.
* the window-aware pacing probe: the same messages sent straight from memory (no
  database) with an ideal sliding window on the answer times; what pacing alone reaches.

Runs:
  limited   P private chats + G groups × 3 messages, sender at its DEFAULT settings.
  blocked   the same with B private chats that blocked the bot (403: they do not
            count against Telegram's limits, so best possible counts deliverable ones).
  lifted    the double's limits off, the sender's pacing lifted: its own ceiling.
  paid      the double's paid-broadcast limit (1000/s), sender with
            allow_paid_broadcast at its configured rate (900/s).
Rates are deliveries / (last delivery - first delivery) as the double saw them; every
run also checks the double's record against the outbox: 0 duplicates, 0 losses.

The lifted and paid runs serve the double from a process of its own (`bench/_remote.py`;
``--double inproc`` puts it back in the sender's process and event loop) and measure
their reference against it in the same run: the same messages sent by a tight loop of
raw aiohttp POSTs with as many in flight as the sender had (what the fake Bot API
takes, from this machine, right now). The sender process's CPU time per message is
printed too: the figure that does not depend on how busy the rest of the machine is.

    python -m bench.broadcast            # 600 + 20×3 (limited, blocked), 10,200 lifted, 5,400 paid
    python -m bench.broadcast --small    # CI smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import SendMessage
from pydantic import SecretStr

from bench._common import (
    GROUP_BASE,
    PRIVATE_BASE,
    TOKEN,
    audit,
    fresh_engine,
    make_bot,
    populate_double,
)
from bench._remote import Record, RemoteDouble, records_of
from bench.lag import LoopLag
from bot.app import _keep_response_models
from bot.clock import SystemClock
from bot.db.session import create_sessionmaker
from bot.double import BotApiDouble, RateLimits
from bot.sender import Sender, max_in_flight
from bot.settings import Settings

TELEGRAM_LIMIT = 30
GROUP_MESSAGES = 3


def workload(chats: list[tuple[int, bool]]) -> list[tuple[int, bool, int]]:
    """(chat, is_group, n): one message per private chat, GROUP_MESSAGES per group."""
    items: list[tuple[int, bool, int]] = []
    for chat_id, is_group in chats:
        for n in range(GROUP_MESSAGES if is_group else 1):
            items.append((chat_id, is_group, n))
    return items


def span_of(calls: list[Record]) -> tuple[int, float, int]:
    """Delivered count, first→last delivery seconds, 429 answers (the double's record)."""
    times = [c.at for c in calls if c.method == "sendMessage" and c.ok]
    throttled = sum(1 for c in calls if c.status == 429)
    return len(times), (max(times) - min(times)) if times else 0.0, throttled


def delivered(calls: list[Record]) -> collections.Counter[str]:
    """Texts the double recorded as delivered (successful sends only)."""
    return collections.Counter(c.text for c in calls if c.method == "sendMessage" and c.ok)


def best_rate(deliverable: int, per_second: int) -> float:
    windows = math.ceil(deliverable / per_second) - 1
    return deliverable / windows if windows > 0 else math.inf


async def enqueue(engine: Any, items: list[tuple[int, bool, int]], tag: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from bot.db.models import Delivery, DeliveryStatus

    now = datetime.now(UTC)
    rows = [
        {
            "kind": "notice", "chat_id": chat_id, "is_group": is_group, "method": "sendMessage",
            "payload": {"text": f"{tag} {chat_id} #{n}", "parse_mode": "HTML"},
            "dedup_key": f"bench:{tag}:{chat_id}:{n}", "pin": False,
            "status": DeliveryStatus.PENDING.value, "attempts": 0, "not_before": now,
            "created_at": now,
        }
        for chat_id, is_group, n in items
    ]  # fmt: skip
    async with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(insert(Delivery), rows[start : start + 2000])


async def unfinished(engine: Any) -> int:
    """Rows still pending or being sent (a cheap count while the sender runs)."""
    from sqlalchemy import func, select

    from bot.db.models import Delivery, DeliveryStatus

    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.status.in_(
                        (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)
                    )
                )
            )
            or 0
        )


async def sender_run(
    *,
    private: int,
    groups: int,
    blocked: int = 0,
    limits: RateLimits,
    overrides: dict[str, Any],
    workdir: Path,
    url: str | None,
    tag: str,
    remote: bool = False,
) -> dict[str, float]:
    double: BotApiDouble | RemoteDouble
    if remote:
        double = RemoteDouble(
            token=TOKEN, limits=limits, private=private, groups=groups, blocked=blocked
        )
        await double.start()
        chats = chats_of(private, groups)
    else:
        double = BotApiDouble(token=TOKEN, rate_limits=limits)
        await double.serve()
        chats = populate_double(double, private, groups)
        for chat_id, _ in chats[:blocked]:
            double.block_user(chat_id, notify=False)
    _, engine = await fresh_engine(workdir / f"{tag}.sqlite", url)
    try:
        items = workload(chats)
        await enqueue(engine, items, tag)
        settings = Settings(_env_file=None, bot_token=SecretStr(TOKEN), **overrides)
        # As bot/app.py's make_bot: enough connections for the sends in flight.
        bot = make_bot(double.base_url, limit=max_in_flight(settings.send_concurrency))
        sender = Sender(
            bot, create_sessionmaker(engine), SystemClock(), worker_id=f"bench-{tag}",
            max_attempts=settings.send_max_attempts, settings=settings,
        )  # fmt: skip
        # As the bot does once started (bot/app.py: Application.prepare).
        _keep_response_models()
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        started = time.perf_counter()
        cpu = time.process_time()
        async with LoopLag() as lag:
            runner = asyncio.create_task(sender.run(stop))
            # The run loop sleeps until the earliest retry falls due: poll the outbox.
            while await unfinished(engine):  # noqa: ASYNC110 (polls the database)
                await asyncio.sleep(0.25)
            stop.set()
            await runner
        cpu = time.process_time() - cpu
        calls = await double.records() if isinstance(double, RemoteDouble) else records_of(double)
        counts = await audit(engine, delivered(calls), tag)
        elapsed = time.perf_counter() - started
        await bot.session.close()
        sent, span, throttled = span_of(calls)
        # The blocked chats' rows are meant to fail (403), not lost.
        counts["lost"] -= min(blocked, counts.get("status_failed", 0))
        return {
            "messages": float(len(items)),
            "deliverable": float(len(items) - blocked),
            "delivered": float(sent),
            "span": span,
            "wall": elapsed,
            "cpu": cpu,
            "slots": float(sender.slots()),
            "http_429": float(throttled),
            "stall": lag.worst,
            "stall_cpu": lag.worst_cpu,
            **{k: float(v) for k, v in counts.items()},
        }
    finally:
        await engine.dispose()
        await double.stop()


async def probe_run(*, private: int, groups: int, blocked: int = 0) -> dict[str, float]:
    """The reference: same messages, no database, an ideal sliding window."""
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits())
    await double.serve()
    try:
        chats = populate_double(double, private, groups)
        for chat_id, _ in chats[:blocked]:
            double.block_user(chat_id, notify=False)
        bot = make_bot(double)
        answered: collections.deque[float] = collections.deque()
        in_flight = 0
        wake = asyncio.Event()

        async def take() -> None:
            nonlocal in_flight
            while True:
                now = time.monotonic()
                while answered and answered[0] <= now - 1.0:
                    answered.popleft()
                over = len(answered) + in_flight - TELEGRAM_LIMIT + 1
                if over <= 0:
                    in_flight += 1
                    return
                if over > len(answered):
                    wake.clear()
                    await wake.wait()
                else:
                    await asyncio.sleep(answered[over - 1] + 1.0 - now)

        async def one_chat(chat_id: int, is_group: bool) -> None:
            nonlocal in_flight
            for n in range(GROUP_MESSAGES if is_group else 1):
                await take()
                ok = False
                try:
                    await bot(SendMessage(chat_id=chat_id, text=f"probe {chat_id} #{n}"))
                    ok = True
                except TelegramAPIError:
                    pass
                finally:
                    in_flight -= 1
                    if ok:
                        answered.append(time.monotonic())
                    wake.set()

        await asyncio.gather(*(one_chat(c, g) for c, g in chats))
        await bot.session.close()
        sent, span, throttled = span_of(records_of(double))
        return {"delivered": float(sent), "span": span, "http_429": float(throttled)}
    finally:
        await double.stop()


def chats_of(private: int, groups: int) -> list[tuple[int, bool]]:
    """The chat ids `populate_double` makes (for a double in another process)."""
    return [(PRIVATE_BASE + i, False) for i in range(private)] + [
        (GROUP_BASE - i, True) for i in range(groups)
    ]


async def raw_run(
    *, private: int, in_flight: int, limits: RateLimits, paid: bool, remote: bool
) -> dict[str, float]:
    """The ceiling reference: the same messages as a tight loop of raw aiohttp POSTs
    (form fields, the answer's JSON parsed for its message id), `in_flight` at once,
    no database, no aiogram, against a fresh double served like the sender's."""
    double: BotApiDouble | RemoteDouble
    if remote:
        double = RemoteDouble(token=TOKEN, limits=limits, private=private)
        await double.start()
    else:
        double = BotApiDouble(token=TOKEN, rate_limits=limits)
        await double.serve()
        populate_double(double, private, 0)
    try:
        url = f"{double.base_url}/bot{TOKEN}/sendMessage"
        todo = iter(range(private))
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def worker() -> None:
                for i in todo:
                    form = {"chat_id": str(PRIVATE_BASE + i), "text": f"raw {i}"}
                    if paid:
                        form["allow_paid_broadcast"] = "true"
                    while True:
                        async with http.post(url, data=form) as response:
                            answer = json.loads(await response.read())
                        if answer.get("ok"):
                            break
                        await asyncio.sleep(answer["parameters"]["retry_after"])

            cpu = time.process_time()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            cpu = time.process_time() - cpu
        calls = await double.records() if isinstance(double, RemoteDouble) else records_of(double)
        sent, span, throttled = span_of(calls)
        return {"delivered": float(sent), "span": span, "http_429": float(throttled), "cpu": cpu}
    finally:
        await double.stop()


def rate(r: dict[str, float]) -> float:
    return r["delivered"] / r["span"] if r["span"] else math.inf


def show_limited(title: str, r: dict[str, float], probe: dict[str, float]) -> None:
    best = best_rate(int(r["deliverable"]), TELEGRAM_LIMIT)
    print(f"== {title}: {int(r['messages'])} messages, {int(r['deliverable'])} deliverable")
    print(f"  best possible       {best:6.1f} msg/s (ceil(N/30)-1 s first→last)")
    print(
        f"  probe (reference)   {rate(probe):6.1f} msg/s = {rate(probe) / best:.3f} of best, "
        f"429: {int(probe['http_429'])}"
    )
    print(
        f"  sender (defaults)   {rate(r):6.1f} msg/s = {rate(r) / best:.3f} of best, "
        f"{rate(r) / rate(probe):.3f} of the probe, 429: {int(r['http_429'])}"
    )
    show_audit(r)


def show_audit(r: dict[str, float]) -> None:
    print(
        f"  duplicates {int(r['duplicates'])}, losses {int(r['lost'])}, "
        f"delivered-but-not-marked {int(r['delivered_but_not_marked_sent'])}, "
        f"failed {int(r.get('status_failed', 0))}; loop stall {r['stall'] * 1000:.0f} ms "
        f"(own CPU {r['stall_cpu'] * 1000:.0f} ms); "
        + ", ".join(f"{k[7:]} {int(v)}" for k, v in r.items() if k.startswith("status_"))
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--private", type=int, default=600, help="limited runs")
    parser.add_argument("--groups", type=int, default=20, help="limited runs (3 messages each)")
    parser.add_argument("--blocked", type=int, default=60)
    parser.add_argument("--lifted", type=int, default=10_000, help="private chats, lifted run")
    parser.add_argument("--paid", type=int, default=5_400, help="private chats, paid run")
    parser.add_argument("--small", action="store_true", help="a quick smoke run")
    parser.add_argument("--runs", default="limited,blocked,lifted,paid", help="which runs")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--double", choices=("process", "inproc"), default="process",
        help="lifted and paid runs: the double in its own process (default) or in this one",
    )  # fmt: skip
    args = parser.parse_args()
    if args.small:
        args.private, args.groups, args.blocked, args.lifted, args.paid = 30, 2, 3, 200, 200
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        common = {"workdir": workdir, "url": args.database_url}
        runs = set(args.runs.split(","))
        if "limited" in runs:
            await limited_run(args, common)
        if "blocked" in runs:
            await blocked_run(args, common)
        if "lifted" in runs:
            await lifted_run(args, common)
        if "paid" in runs:
            await paid_run(args, common)


async def limited_run(args: Any, common: dict[str, Any]) -> None:
    probe = await probe_run(private=args.private, groups=args.groups)
    limited = await sender_run(
        private=args.private, groups=args.groups, limits=RateLimits(), overrides={},
        tag="limited", **common,
    )  # fmt: skip
    show_limited("limits enforced (Telegram's)", limited, probe)


async def blocked_run(args: Any, common: dict[str, Any]) -> None:
    probe_b = await probe_run(private=args.private, groups=args.groups, blocked=args.blocked)
    blocked = await sender_run(
        private=args.private, groups=args.groups, blocked=args.blocked,
        limits=RateLimits(), overrides={}, tag="blocked", **common,
    )  # fmt: skip
    show_limited(f"limits enforced, {args.blocked} chats blocked the bot", blocked, probe_b)


def show_cpu(r: dict[str, float], raw: dict[str, float]) -> None:
    per, raw_per = r["cpu"] / r["delivered"] * 1e6, raw["cpu"] / raw["delivered"] * 1e6
    print(
        f"  CPU of this process {per:6.0f} us/msg (sender, database, aiogram, aiohttp; raw "
        f"POSTs {raw_per:.0f} us/msg) = {1e6 / per:,.0f} msg/s per core"
    )


async def lifted_run(args: Any, common: dict[str, Any]) -> None:
    where = "its own process" if args.double == "process" else "the sender's process"
    remote = args.double == "process"
    lifted = await sender_run(
        private=args.lifted, groups=0, limits=RateLimits(enabled=False),
        overrides={"send_rate_per_second": 1e9, "send_rate_per_chat_per_second": 1e9,
                   "send_rate_per_group_per_minute": 1e9},
        tag="lifted", remote=remote, **common,
    )  # fmt: skip
    raw = await raw_run(
        private=args.lifted, in_flight=int(lifted["slots"]), limits=RateLimits(enabled=False),
        paid=False, remote=remote,
    )  # fmt: skip
    print(f"== limits lifted: {int(lifted['messages'])} messages, the double in {where}")
    print(
        f"  raw POSTs (reference) {rate(raw):6.0f} msg/s, {int(lifted['slots'])} in flight "
        "(the fake Bot API's ceiling from here)"
    )
    print(
        f"  sender ceiling      {rate(lifted):6.0f} msg/s = {rate(lifted) / rate(raw):.3f} of "
        "the reference (goal >= 1,500 msg/s)"
    )
    show_cpu(lifted, raw)
    show_audit(lifted)


async def paid_run(args: Any, common: dict[str, Any]) -> None:
    remote = args.double == "process"
    paid = await sender_run(
        private=args.paid, groups=0, limits=RateLimits(),
        overrides={"allow_paid_broadcast": True}, tag="paid", remote=remote, **common,
    )  # fmt: skip
    raw = await raw_run(
        private=args.paid, in_flight=int(paid["slots"]), limits=RateLimits(), paid=True,
        remote=remote,
    )  # fmt: skip
    configured = Settings(_env_file=None).paid_broadcast_rate_per_second
    print(f"== paid broadcast: {int(paid['messages'])} messages")
    print(
        f"  raw POSTs (reference) {rate(raw):6.0f} msg/s unpaced, {int(paid['slots'])} in "
        f"flight, against the double's paid limit ({RateLimits().paid_broadcast_per_second}/s)"
    )
    print(
        f"  sender              {rate(paid):6.0f} msg/s = {rate(paid) / configured:.3f} of "
        f"its configured {configured:.0f}/s ({rate(paid) / rate(raw):.3f} of the "
        f"reference), 429: {int(paid['http_429'])}"
    )
    show_cpu(paid, raw)
    show_audit(paid)


if __name__ == "__main__":
    asyncio.run(main())
