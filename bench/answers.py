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

With a PostgreSQL URL a scratch database is created next to the given one (its name
followed by a random suffix) and dropped at the end. `--rounds N` (default 4) splits the
presses into N slices; each round drives all three bots on its slice, the first one
alternating, and prints its own ratio (load drifting during the run hits all alike).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import gc
import io
import logging
import os
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

from bench._common import TOKEN, make_bot, server_cpu
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
        cpu, db_cpu = time.process_time(), server_cpu()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = time.perf_counter() - started
        cpu, db_cpu = time.process_time() - cpu, server_cpu() - db_cpu
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
        # The database server's CPU per press (PostgreSQL on this machine; 0 otherwise).
        "db_cpu": db_cpu / max(1, len(latencies)),
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
    # Named after the given database (one's own prefix, e.g. cg_press_b → cg_press_b_1a2b…).
    name = f"{base.database or 'cg_bench_answers'}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


async def run(
    url: str,
    people: int,
    inflight: int,
    tail: int,
    profile: int = 0,
    general: bool = False,
    rounds: int = 1,
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
        # Three presses of each prompt's first button: one for each bot (a callback query
        # is answered once). The prompts are split into `rounds` slices; each round
        # drives every bot on its own slice, the order alternating from round to round,
        # so that the machine's load drifting during the run hits all of them alike.
        updates: list[dict[str, Any]] = []
        references: list[dict[str, Any]] = []
        one_updates: list[dict[str, Any]] = []
        for uid in users:
            prompt = double.messages(uid)[-1]
            data = prompt.reply_markup["inline_keyboard"][0][0]["callback_data"]  # type: ignore[index]
            for into in (updates, references, one_updates):
                double.press(double.users[uid], prompt, data)
                into.append(double.updates[-1])
        statements = 0
        counting = False

        def count(*_: Any) -> None:
            nonlocal statements
            statements += counting

        # What the double answered from here on is counted, not kept: a history of
        # 11,000 calls with their message snapshots would be the harness's own heap,
        # and each full garbage-collector pass of the process (the bot's too) would walk
        # it (100-190 ms passes, where the bot's own heap makes passes of a few ms).
        answered = 0

        def counted(call: Any) -> None:
            nonlocal answered
            answered += call.method == "answerCallbackQuery"

        answered = sum(1 for c in double.calls if c.method == "answerCallbackQuery")
        double.calls = collections.deque(maxlen=64)  # type: ignore[assignment]
        double.add_listener(counted)
        gc.collect()
        gc.freeze()  # as the bot does once started
        # The same bot defaults as ours (HTML parse mode, no link previews): the double
        # then does the same work for both bots' edits.
        ref_bot = make_bot(double)
        ref_bot.default = app.bot.default
        servers = [
            await serve(reference_dispatcher(), ref_bot),
            await serve(one_update_dispatcher(app.engine), ref_bot),
            await serve(app.dispatcher, app.bot, **app.dispatcher.workflow_data),
        ]
        ref_url, one_url, bot_url = (url for _, url in servers)
        event.listen(app.engine.sync_engine, "before_cursor_execute", count)
        lag = LoopLag()
        fast = app.fast_answers
        results: list[dict[str, dict[str, float]]] = []
        per_round = len(updates) // rounds
        tail_per_round = max(1, tail // rounds)
        for r in range(rounds):
            a, b = r * per_round, (r + 1) * per_round
            split = b - tail_per_round
            load = os.getloadavg()[0]
            top = profile if r == 0 else 0  # profile the first round only

            async def reference(
                a: int = a, b: int = b, split: int = split, top: int = top
            ) -> dict[str, Any]:
                with profiled(top, "reference (bare aiogram)"):
                    rate = await drive(ref_url, references[a:split], inflight)
                return {"rate": rate, "tail": await drive(ref_url, references[split:b], 16)}

            async def one_update(a: int = a, split: int = split) -> dict[str, Any]:
                return {"rate": await drive(one_url, one_updates[a:split], inflight)}

            async def ours(
                a: int = a, b: int = b, split: int = split, top: int = top
            ) -> dict[str, Any]:
                nonlocal counting
                counting = True
                async with lag:
                    with profiled(top, "community guard"):
                        rate = await drive(bot_url, updates[a:split], inflight)
                    tail_ = await drive(bot_url, updates[split:b], 16)
                counting = False
                return {"rate": rate, "tail": tail_}

            order = [("ref", reference), ("one", one_update), ("ours", ours)]
            if r % 2:
                order.reverse()
            got = {name: await phase() for name, phase in order}
            results.append(got)
            first = "bare aiogram first" if r % 2 == 0 else "community guard first"
            print(
                f"round {r + 1}/{rounds} ({first}, load {load:.2f}): "
                f"reference {got['ref']['rate']['rate']:.0f}/s, "
                f"one UPDATE {got['one']['rate']['rate']:.0f}/s, "
                f"community guard {got['ours']['rate']['rate']:.0f}/s = "
                f"{got['ours']['rate']['rate'] / got['ref']['rate']['rate']:.2f} of the reference; "
                f"p99 at 16: ours {got['ours']['tail']['p99'] * 1000:.0f} ms, "
                f"reference {got['ref']['tail']['p99'] * 1000:.0f} ms",
                flush=True,
            )
        for runner, _ in servers:
            await runner.cleanup()
        await ref_bot.session.close()
        # The fast path's calls run on its own asyncpg pool (no SQLAlchemy event).
        statements += fast.statements if fast is not None else 0
        fast_share = (fast.recorded if fast is not None else 0) / (per_round * rounds)
        batch = fast.presses_sent / fast.statements if fast is not None and fast.statements else 0.0
    finally:
        await app.close()
        await double.stop()

    def pooled(kind: str, part: str) -> dict[str, float]:
        """The rounds' phases together: rate over the summed time, percentiles of the
        rounds' (median of the per-round figures), CPU per press averaged."""
        parts = [got[kind][part] for got in results]
        presses = sum(p["presses"] for p in parts)
        return {
            "presses": presses,
            "rate": presses / sum(p["presses"] / p["rate"] for p in parts),
            "p50": statistics.median(p["p50"] for p in parts),
            "p99": statistics.median(p["p99"] for p in parts),
            "failures": sum(p["failures"] for p in parts),
            "cpu": sum(p["cpu"] * p["presses"] for p in parts) / presses,
            "db_cpu": sum(p["db_cpu"] * p["presses"] for p in parts) / presses,
        }

    ref, ref_tail = pooled("ref", "rate"), pooled("ref", "tail")
    one = pooled("one", "rate")
    ours, ours_tail = pooled("ours", "rate"), pooled("ours", "tail")
    ratios = sorted(got["ours"]["rate"]["rate"] / got["ref"]["rate"]["rate"] for got in results)
    p99s = sorted(got["ours"]["tail"]["p99"] for got in results)
    print(
        f"database: {make_url(url).get_backend_name()}, {people} people with a prompt, "
        f"{rounds} round(s) of {per_round} presses ({tail_per_round} of them at 16 in flight)"
    )
    print(
        f"reference (bare aiogram): {ref['rate']:.0f} answers/s at {inflight} in flight; "
        f"p50 {ref_tail['p50'] * 1000:.0f} ms, p99 {ref_tail['p99'] * 1000:.0f} ms at 16; "
        f"{ref['cpu'] * 1000:.1f} ms CPU per press"
    )
    print(
        f"aiogram + one UPDATE:     {one['rate']:.0f} answers/s at {inflight} in flight = "
        f"{one['rate'] / ref['rate']:.2f} of the reference; "
        f"{one['cpu'] * 1000:.1f} ms CPU per press "
        f"(+ {one['db_cpu'] * 1000:.1f} ms database server)"
    )
    print(
        f"community guard:          {ours['rate']:.0f} answers/s at {inflight} in flight = "
        f"{ours['rate'] / ref['rate']:.2f} of the reference (goal >= 0.6); "
        f"p50 {ours_tail['p50'] * 1000:.0f} ms, p99 {ours_tail['p99'] * 1000:.0f} ms at 16 "
        f"(goal <= 100 ms); {ours['cpu'] * 1000:.1f} ms CPU per press "
        f"(+ {ours['db_cpu'] * 1000:.1f} ms database server)"
    )
    print(
        f"per-round ratio: best {ratios[-1]:.2f}, median {statistics.median(ratios):.2f}, "
        f"worst {ratios[0]:.2f}; p99 at 16 per round: best {p99s[0] * 1000:.0f} ms, "
        f"median {statistics.median(p99s) * 1000:.0f} ms"
    )
    print(
        f"SQL statements per press {statements / (ours['presses'] + ours_tail['presses']):.2f} "
        f"(fast path took {fast_share:.0%} of the presses, {batch:.1f} per call on average); "
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
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="slices of the presses; each bot runs on each, the first alternating",
    )
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
        args.people, args.tail, args.rounds = 120, 40, 2
    logging.basicConfig(level=logging.ERROR)

    async def go() -> None:
        if args.database_url and make_url(args.database_url).get_backend_name() == "postgresql":
            url, drop = await scratch_database(args.database_url)
            try:
                await run(
                    url, args.people, args.inflight, args.tail, args.profile, args.general,
                    args.rounds,
                )  # fmt: skip
            finally:
                await drop()
            return
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'answers.db'}"
            await run(
                    url, args.people, args.inflight, args.tail, args.profile, args.general,
                    args.rounds,
                )  # fmt: skip

    asyncio.run(go())


if __name__ == "__main__":
    main()
