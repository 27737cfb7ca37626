"""Broadcast benchmark: the real sender against the Bot API double enforcing Telegram's
limits (30/s per bot, 1/s per chat, 20/min per group; 429 + retry_after beyond).

Run 1 (limited): N private chats + G groups, sender with its default settings
(25/s global, headroom under 30). Prints the achieved rate as a fraction of Telegram's
limit, 429s seen, duplicates and losses (the double's record against the outbox).
Run 2 (lifted): the double's limits off and the sender's pacing lifted, to show the
sender's own ceiling in messages per second.

    python -m bench.broadcast                # defaults below (about 2 minutes on 2 cores)
    python -m bench.broadcast --small        # a quick run
    python -m bench.broadcast --limited-private 10000 --limited-groups 200   # the full
                                             # 10,200 paced run: ~7 minutes at 25/s
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench._common import (
    TOKEN,
    audit,
    delivered_texts,
    enqueue_all,
    fresh_engine,
    make_bot,
    populate_double,
)
from bot.clock import SystemClock
from bot.db.session import create_sessionmaker
from bot.double import BotApiDouble, RateLimits
from bot.sender import Sender
from bot.settings import Settings

TELEGRAM_LIMIT = 30.0


async def one_run(
    *, private: int, groups: int, limited: bool, workdir: Path, url: str | None, concurrency: int
) -> dict[str, float]:
    limits = RateLimits() if limited else RateLimits(enabled=False)
    double = BotApiDouble(token=TOKEN, rate_limits=limits)
    await double.serve()
    tag = "limited" if limited else "lifted"
    _, engine = await fresh_engine(workdir / f"{tag}.sqlite", url)
    try:
        chats = populate_double(double, private, groups)
        await enqueue_all(engine, chats, tag)
        overrides: dict[str, object] = {"bot_token": SecretStr(TOKEN)}
        if not limited:
            overrides.update(
                send_rate_per_second=1e9,
                send_rate_per_chat_per_second=1e9,
                send_rate_per_group_per_minute=1e9,
            )
        settings = Settings(_env_file=None, **overrides)  # type: ignore[arg-type]
        bot = make_bot(double)
        sender = Sender(
            bot,
            create_sessionmaker(engine),
            SystemClock(),
            max_attempts=settings.send_max_attempts,
            worker_id=f"bench-{tag}",
            settings=settings,
            concurrency=concurrency,
        )
        started = time.perf_counter()
        sent = await sender.drain()
        # 429s (if any) put rows back with not_before in the future: keep going.
        while True:
            more = await sender.drain()
            sent += more
            counts = await audit(engine, delivered_texts(double), tag)
            if counts.get("status_pending", 0) == 0 and counts.get("status_sending", 0) == 0:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        await bot.session.close()
        throttled = sum(1 for c in double.calls if c.status == 429)
        result = {
            "deliveries": float(private + groups),
            "sent": float(sent),
            "seconds": elapsed,
            "rate": sent / elapsed if elapsed else 0.0,
            "http_429": float(throttled),
            **{k: float(v) for k, v in counts.items()},
        }
        return result
    finally:
        await engine.dispose()
        await double.stop()


def show(title: str, r: dict[str, float], limited: bool) -> None:
    print(f"== {title}")
    print(f"deliveries {int(r['deliveries'])}, sent {int(r['sent'])} in {r['seconds']:.1f} s")
    if limited:
        print(
            f"achieved {r['rate']:.1f} msg/s = {r['rate'] / TELEGRAM_LIMIT:.0%} of Telegram's "
            f"{TELEGRAM_LIMIT:.0f}/s limit (sender configured for 25/s); 429 answers: "
            f"{int(r['http_429'])}"
        )
    else:
        print(f"sender ceiling with limits lifted: {r['rate']:.0f} msg/s")
    print(
        f"duplicates {int(r['duplicates'])}, losses {int(r['lost'])}, "
        f"delivered-but-not-marked {int(r['delivered_but_not_marked_sent'])}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limited-private", type=int, default=1000)
    parser.add_argument("--limited-groups", type=int, default=50)
    parser.add_argument("--private", type=int, default=10_000, help="lifted run")
    parser.add_argument("--groups", type=int, default=200, help="lifted run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--small", action="store_true", help="200+10 paced, 1000+20 lifted")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    if args.small:
        args.limited_private, args.limited_groups, args.private, args.groups = 200, 10, 1000, 20
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        limited = await one_run(
            private=args.limited_private,
            groups=args.limited_groups,
            limited=True,
            workdir=workdir,
            url=args.database_url,
            concurrency=args.concurrency,
        )
        show("limits enforced (Telegram's)", limited, True)
        lifted = await one_run(
            private=args.private,
            groups=args.groups,
            limited=False,
            workdir=workdir,
            url=args.database_url,
            concurrency=args.concurrency,
        )
        show("limits lifted", lifted, False)


if __name__ == "__main__":
    asyncio.run(main())
