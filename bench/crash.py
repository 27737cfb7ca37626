"""Crash benchmark: the sender in a subprocess is killed with SIGKILL in the middle of
a broadcast, a new sender process takes over (as a new leader would: `Sender.run`
first recovers rows the dead process left in 'sending'), and the double's record is
compared with the outbox: duplicates and losses.

    python -m bench.crash                  # 800 private chats, paced, 2 kills
    python -m bench.crash --lifted --private 3000 --kills 3   # no pacing: worst case
    python -m bench.crash --small

The double enforces Telegram's limits and answers each send after a short delay
(--delay, default 5 ms) so requests are in flight when the kill lands. With --lifted
the pacing and the limits are off: every one of up to `concurrency` (32) rows in flight
is then likely past Telegram and not yet committed, the worst case for duplicates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import TOKEN, audit, delivered_texts, enqueue_all, fresh_engine, populate_double
from bot.double import BotApiDouble, RateLimits

ROOT = str(Path(__file__).resolve().parent.parent)


async def child(url: str, api: str, worker: str, lifted: bool) -> None:
    """The sender process: runs like a leader until killed or done."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from pydantic import SecretStr

    from bot.clock import SystemClock
    from bot.db.session import create_engine, create_sessionmaker
    from bot.sender import Sender
    from bot.settings import Settings

    overrides: dict[str, Any] = {}
    if lifted:
        overrides = {
            "send_rate_per_second": 1e9,
            "send_rate_per_chat_per_second": 1e9,
            "send_rate_per_group_per_minute": 1e9,
        }
    settings = Settings(_env_file=None, bot_token=SecretStr(TOKEN), **overrides)
    engine = create_engine(url)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    sender = Sender(
        bot,
        create_sessionmaker(engine),
        SystemClock(),
        max_attempts=8,
        worker_id=worker,
        settings=settings,
    )
    await sender.recover(takeover=True)  # what run() does first: we are the leader now
    while await sender.drain():
        pass
    await bot.session.close()
    await engine.dispose()


async def spawn(url: str, api: str, worker: str, lifted: bool) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.crash",
        "--child",
        url,
        api,
        worker,
        "lifted" if lifted else "paced",
        cwd=ROOT,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--private", type=int, default=800)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--lifted", action="store_true", help="no pacing, no limits")
    parser.add_argument("--delay", type=float, default=0.005)
    parser.add_argument("--small", action="store_true", help="300 chats, 2 kills")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, api, worker, mode = args.child
        await child(url, api, worker, mode == "lifted")
        return
    if args.small:
        args.private, args.kills = 300, 2
    limits = RateLimits(enabled=False) if args.lifted else RateLimits()
    double = BotApiDouble(token=TOKEN, rate_limits=limits)
    if args.delay > 0:
        double.faults.delay("sendMessage", args.delay)
    await double.serve()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url, engine = await fresh_engine(Path(tmp) / "crash.sqlite")
        chats = populate_double(double, args.private, 0)
        await enqueue_all(engine, chats, "crash")
        total = len(chats)
        kills = 0
        for n in range(args.kills + 1):
            proc = await spawn(url, double.base_url, f"worker-{n}", args.lifted)
            if n < args.kills:
                # Kill once this run has sent a further slice of the broadcast.
                target = (n + 1) * total // (args.kills + 2)
                while proc.returncode is None:
                    sent = sum(delivered_texts(double).values())
                    if sent >= target:
                        os.kill(proc.pid, signal.SIGKILL)
                        kills += 1
                        break
                    await asyncio.sleep(0.01)
            await proc.wait()
            so_far = sum(delivered_texts(double).values())
            print(f"run {n}: exit {proc.returncode}, delivered so far {so_far}")
        counts = await audit(engine, delivered_texts(double), "crash")
        await engine.dispose()
    await double.stop()
    elapsed = time.perf_counter() - started
    mode = "limits lifted" if args.lifted else "paced under Telegram's limits"
    print(f"== {total} deliveries ({mode}), {kills} kill -9 mid-broadcast, {elapsed:.1f} s")
    print(
        f"duplicates {counts['duplicates']}, losses {counts['lost']}, "
        f"delivered-but-not-marked {counts['delivered_but_not_marked_sent']}, "
        f"rows sent {counts.get('status_sent', 0)}"
    )


if __name__ == "__main__":
    asyncio.run(main())
