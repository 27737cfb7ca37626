"""The health/metrics endpoint (METRICS_PORT) of a running bot, `check` reading it, and
/myid (how a new officer finds the id the admin needs)."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import aiohttp
from sqlalchemy import update

from bot.checks import check_metrics
from bot.clock import FakeClock
from bot.db.models import Delivery
from bot.double import BotApiDouble
from bot.services.outbox import enqueue, message_payload
from messages import Catalog
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot, settings_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_metrics_and_health(
    double: BotApiDouble,
    database_url: str,
    clock: FakeClock,
    catalog: Catalog,
    resident: ChatUser,
) -> None:
    port = free_port()
    settings = settings_for(double, database_url, metrics_port=port, metrics_host="127.0.0.1")
    bot = RunningBot(double, settings, clock, catalog)
    app = await bot.start()
    try:
        ready = asyncio.Event()
        app.start_metrics(ready)
        await asyncio.wait_for(ready.wait(), 10)
        base = f"http://127.0.0.1:{port}"

        replies = await resident.send("/myid")
        assert [r.text for r in replies] == [
            f"您的 Telegram 用户 ID 是：{resident.id}\n请把这个数字告诉社区管理员，由管理员为您"
            "分配工作人员角色。"
        ]
        async with app.sessionmaker.begin() as session:
            for n in range(3):
                await enqueue(
                    session,
                    clock,
                    kind="test",
                    chat_id=resident.id,
                    dedup_key=f"metrics:{n}",
                    payload=message_payload(f"hello {n}"),
                )
        clock.advance(timedelta(seconds=90))
        async with app.sessionmaker.begin() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.dedup_key == "metrics:2")
                .values(status="sent", sent_at=clock.now() - timedelta(seconds=10))
            )
        await tick(app.job_context())
        tick_at = clock.now().timestamp()
        status, text = await get(f"{base}/metrics")
        assert status == 200
        assert text == (
            "# HELP cg_updates_handled_total Telegram updates handled by this process.\n"
            "# TYPE cg_updates_handled_total counter\n"
            "cg_updates_handled_total 1\n"
            "# HELP cg_update_errors_total Updates whose handling raised an error in this "
            "process.\n"
            "# TYPE cg_update_errors_total counter\n"
            "cg_update_errors_total 0\n"
            "# HELP cg_outbox_deliveries Outbox rows by status (the whole deployment).\n"
            "# TYPE cg_outbox_deliveries gauge\n"
            'cg_outbox_deliveries{status="pending"} 2\n'
            'cg_outbox_deliveries{status="sending"} 0\n'
            'cg_outbox_deliveries{status="sent"} 1\n'
            'cg_outbox_deliveries{status="failed"} 0\n'
            'cg_outbox_deliveries{status="cancelled"} 0\n'
            "# HELP cg_outbox_oldest_pending_age_seconds Age of the oldest delivery that is "
            "due and still pending (0 when none).\n"
            "# TYPE cg_outbox_oldest_pending_age_seconds gauge\n"
            "cg_outbox_oldest_pending_age_seconds 90\n"
            "# HELP cg_sender_rate_per_second Deliveries sent in the last 60 seconds, per "
            "second.\n"
            "# TYPE cg_sender_rate_per_second gauge\n"
            "cg_sender_rate_per_second 0.017\n"
            "# HELP cg_scheduler_last_tick_timestamp_seconds Unix time of this process's last "
            "scheduler tick (0: none yet, or not the leader).\n"
            "# TYPE cg_scheduler_last_tick_timestamp_seconds gauge\n"
            f"cg_scheduler_last_tick_timestamp_seconds {tick_at:.0f}\n"
            "# HELP cg_leader 1 when this process runs the scheduler and the sender.\n"
            "# TYPE cg_leader gauge\n"
            "cg_leader 0\n"
        )
        assert await get(f"{base}/healthz") == (
            200,
            "ok: follower, 1 updates handled, 2 deliveries pending\n",
        )
        verdict = await check_metrics(settings, 3)
        assert verdict.line() == (
            f"ok    bot       {base}/healthz: ok: follower, 1 updates handled, 2 deliveries pending"
        )
        # The leader whose scheduler stopped ticking is unhealthy.
        app.election = type("Lead", (), {"is_leader": True})()
        clock.advance(timedelta(minutes=3))
        assert await get(f"{base}/healthz") == (503, "unhealthy: no scheduler tick for 180 s\n")
        assert (await check_metrics(settings, 3)).line() == (
            f"FAIL  bot       {base}/healthz: 503 unhealthy: no scheduler tick for 180 s"
        )
    finally:
        await bot.stop()
    # Closed with the application.
    assert (await check_metrics(settings, 3)).status == "FAIL"


async def test_myid_in_english(running_bot: RunningBot, english_resident: ChatUser) -> None:
    replies = await english_resident.send("/myid")
    assert [r.text for r in replies] == [
        f"Your Telegram user id is: {english_resident.id}\nGive this number to the "
        "community's admin, who can then give you a staff role."
    ]
