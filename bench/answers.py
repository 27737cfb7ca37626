"""Check-in button presses end to end: the real bot behind its webhook (aiohttp,
aiogram, PostgreSQL) against a bare aiogram webhook bot answering the same presses,
both talking to the same Bot API double, in the same run.

A press is one HTTP POST of a callback_query update to the webhook, handled before the
response (handle_in_background=False), so its latency covers the whole answer: the
middlewares, the database work and the two Bot API calls (answerCallbackQuery and
editMessageText) both bots make. Presses are kept `--inflight` at a time (64), then
16 at a time for the latency percentiles. The reference bot does no database work:
the ratio says what our answer path costs on top of aiogram itself.

    python -m bench.answers --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python -m bench.answers --small          # SQLite, a few hundred presses (CI smoke run)

With a PostgreSQL URL a scratch database is created next to the given one and dropped
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url

from bench._common import TOKEN, make_bot
from bench.checkins import SHANGHAI, seed
from bench.lag import LoopLag
from bot.app import Application
from bot.clock import FakeClock
from bot.db.models import Community
from bot.db.session import create_engine
from bot.double import BotApiDouble, RateLimits
from bot.services.checkins import prepare_checkins
from bot.settings import Settings


async def serve(dispatcher: Dispatcher, bot: Bot, **workflow: Any) -> tuple[web.AppRunner, str]:
    web_app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, handle_in_background=False, **workflow
    ).register(web_app, path="/webhook")
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/webhook"


async def drive(url: str, updates: list[dict[str, Any]], inflight: int) -> dict[str, float]:
    """POST every update, `inflight` at a time; rate and latency percentiles."""
    latencies: list[float] = []
    failures = 0
    queue = iter(updates)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=inflight)) as http:

        async def worker() -> None:
            nonlocal failures
            for update in queue:
                started = time.perf_counter()
                async with http.post(url, json=update) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    latencies.sort()
    return {
        "presses": float(len(latencies)),
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failures": float(failures),
        # CPU of the whole process (driver, double and bot) per press: less sensitive to
        # the machine's load than the rate.
        "cpu": cpu / max(1, len(latencies)),
    }


def reference_dispatcher() -> Dispatcher:
    """A bare aiogram bot: the same two Bot API calls, nothing else."""
    dp = Dispatcher()

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(f"✅ {query.data}")

    return dp


def one_update_dispatcher(engine: Any) -> Dispatcher:
    """aiogram + one UPDATE: the same two Bot API calls after one committed statement
    (BEGIN, UPDATE, COMMIT): what the smallest database write costs here."""
    dp = Dispatcher()

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        checkin_id = int((query.data or "0").rsplit(":", 1)[-1])
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE checkins SET reminders_sent = reminders_sent WHERE id = :id"),
                {"id": checkin_id},
            )
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(f"☑️ {query.data}")

    return dp


@contextlib.contextmanager
def profiled(top: int, title: str) -> Iterator[None]:
    """`--profile N`: the N costliest functions of a phase (cProfile, own time), and the
    CPU time per press of the whole process (the double and the driver included)."""
    if not top:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(f"==== profile: {title}\n{out.getvalue()}")


async def scratch_database(url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    base = make_url(url)
    name = f"cg_bench_answers_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


async def run(
    url: str, people: int, inflight: int, tail: int, profile: int = 0, general: bool = False
) -> None:
    clock = FakeClock(datetime(2022, 3, 10, 9, 30, tzinfo=SHANGHAI))
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    community_id = await seed(url, people, clock)
    settings = Settings(
        _env_file=None,
        bot_token=SecretStr(TOKEN),
        database_url=url,
        telegram_api_base=double.base_url,
        redis_url=None,
        send_rate_per_second=1e9,
        send_rate_per_chat_per_second=1e9,
        send_rate_per_group_per_minute=1e9,
    )  # type: ignore[call-arg]
    app = await Application.create(settings, clock, migrate=False)
    if general and app.fast_answers is not None:
        app.fast_answers.enabled = False  # every press through the general path
    try:
        async with app.sessionmaker.begin() as session:
            community = await session.get(Community, community_id)
            assert community is not None
            users = list(
                await session.scalars(
                    select(text("telegram_user_id")).select_from(text("persons")).where(
                        text("telegram_user_id IS NOT NULL AND household_id IN (SELECT h.id "
                             "FROM households h JOIN units u ON u.id = h.unit_id JOIN buildings b "
                             "ON b.id = u.building_id JOIN compounds c ON c.id = b.compound_id "
                             "WHERE c.community_id = :cid)")
                    ), {"cid": community_id},
                )
            )  # fmt: skip
            for uid in users:
                double.private_chat(double.user(uid, f"U{uid}"))
                double.started.add(uid)
            await prepare_checkins(session, clock, app.catalog, community)
        await app.prepare()
        await app.sender.drain()
        # Two presses of each prompt's first button: one for each bot (a callback query
        # is answered once).
        updates: list[dict[str, Any]] = []
        references: list[dict[str, Any]] = []
        one_updates: list[dict[str, Any]] = []
        for uid in users:
            prompt = double.messages(uid)[-1]
            data = prompt.reply_markup["inline_keyboard"][0][0]["callback_data"]  # type: ignore[index]
            for into in (updates, references, one_updates):
                double.press(double.users[uid], prompt, data)
                into.append(double.updates[-1])
        split = len(updates) - tail
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        gc.collect()
        gc.freeze()  # as the bot does once started
        # The reference first, on the same presses (it edits the prompts as well).
        # The same bot defaults as ours (HTML parse mode, no link previews): the double
        # then does the same work for both bots' edits.
        ref_bot = make_bot(double)
        ref_bot.default = app.bot.default
        runner, ref_url = await serve(reference_dispatcher(), ref_bot)
        with profiled(profile, "reference (bare aiogram)"):
            ref = await drive(ref_url, references[:split], inflight)
        ref_tail = await drive(ref_url, references[split:], 16)
        await runner.cleanup()
        runner, one_url = await serve(one_update_dispatcher(app.engine), ref_bot)
        one = await drive(one_url, one_updates[:split], inflight)
        await runner.cleanup()
        await ref_bot.session.close()

        event.listen(app.engine.sync_engine, "before_cursor_execute", count)
        runner, bot_url = await serve(app.dispatcher, app.bot, **app.dispatcher.workflow_data)
        async with LoopLag() as lag:
            with profiled(profile, "community guard"):
                ours = await drive(bot_url, updates[:split], inflight)
        ours_tail = await drive(bot_url, updates[split:], 16)
        await runner.cleanup()
        # The fast path's statement runs on the raw driver (no SQLAlchemy event).
        fast = app.fast_answers
        statements += fast.statements if fast is not None else 0
        fast_share = (fast.recorded if fast is not None else 0) / len(updates)
        answered = sum(1 for c in double.calls if c.method == "answerCallbackQuery")
    finally:
        await app.close()
        await double.stop()
    print(f"database: {make_url(url).get_backend_name()}, {people} people with a prompt")
    print(
        f"reference (bare aiogram): {ref['rate']:.0f} answers/s at {inflight} in flight; "
        f"p50 {ref_tail['p50'] * 1000:.0f} ms, p99 {ref_tail['p99'] * 1000:.0f} ms at 16; "
        f"{ref['cpu'] * 1000:.1f} ms CPU per press"
    )
    print(
        f"aiogram + one UPDATE:     {one['rate']:.0f} answers/s at {inflight} in flight = "
        f"{one['rate'] / ref['rate']:.2f} of the reference; "
        f"{one['cpu'] * 1000:.1f} ms CPU per press"
    )
    print(
        f"community guard:          {ours['rate']:.0f} answers/s at {inflight} in flight = "
        f"{ours['rate'] / ref['rate']:.2f} of the reference (goal >= 0.6); "
        f"p50 {ours_tail['p50'] * 1000:.0f} ms, p99 {ours_tail['p99'] * 1000:.0f} ms at 16 "
        f"(goal <= 100 ms); {ours['cpu'] * 1000:.1f} ms CPU per press"
    )
    print(
        f"SQL statements per press {statements / (ours['presses'] + ours_tail['presses']):.1f} "
        f"(fast path took {fast_share:.0%} of the presses); "
        f"failures {int(ours['failures'] + ours_tail['failures'])}; "
        f"answerCallbackQuery calls {answered}; {lag.describe()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--people", type=int, default=4000)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--tail", type=int, default=1000, help="presses measured at 16")
    parser.add_argument("--small", action="store_true", help="120 presses (CI smoke run)")
    parser.add_argument(
        "--general",
        action="store_true",
        help="the check-in fast path off: every press through the general path",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print a phase's N costliest functions"
    )
    args = parser.parse_args()
    if args.small:
        args.people, args.tail = 120, 40
    logging.basicConfig(level=logging.ERROR)

    async def go() -> None:
        if args.database_url and make_url(args.database_url).get_backend_name() == "postgresql":
            url, drop = await scratch_database(args.database_url)
            try:
                await run(url, args.people, args.inflight, args.tail, args.profile, args.general)
            finally:
                await drop()
            return
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'answers.db'}"
            await run(url, args.people, args.inflight, args.tail, args.profile, args.general)

    asyncio.run(go())


if __name__ == "__main__":
    main()
