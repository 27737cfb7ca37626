"""Health and metrics over HTTP (optional: METRICS_PORT; off by default).

`GET /metrics` answers in Prometheus' text format; `GET /healthz` answers 200 with one
line when the process can reach its database and (as the leader) its scheduler ticks,
503 otherwise. The outbox figures are read from the database at each request, so every
process of a deployment reports the same queue; the counters are this process's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiohttp import web
from sqlalchemy import func, select

from bot.db.models import Delivery, DeliveryStatus
from bot.parsing import ParseError
from bot.services.errors import DomainError

if TYPE_CHECKING:
    from bot.app import Application

log = logging.getLogger(__name__)
RATE_WINDOW = timedelta(seconds=60)
STALE_TICK = timedelta(seconds=150)  # five missed 30-second ticks


@dataclass
class Metrics:
    """This process's counters (updated by the middleware and the scheduler's tick)."""

    updates_handled: int = 0
    update_errors: int = 0
    last_tick: datetime | None = None
    started: datetime | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def tick_done(self, at: datetime) -> None:
        self.last_tick = at


class MetricsMiddleware(BaseMiddleware):
    """Counts every update, and those whose handling raised. A domain or parse error is
    a polite refusal answered by the error path (bot/errors.py), not a failure."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except (DomainError, ParseError):
            raise
        except Exception:
            self.metrics.update_errors += 1
            raise
        finally:
            self.metrics.updates_handled += 1


@dataclass(frozen=True)
class OutboxFigures:
    by_status: dict[str, int]
    oldest_pending_age: float
    sent_last_window: int


async def outbox_figures(app: Application) -> OutboxFigures:
    now = app.clock.now()
    async with app.sessionmaker() as session:
        rows = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        by_status = {str(status): int(n) for status, n in rows.all()}
        oldest = await session.scalar(
            select(func.min(Delivery.not_before)).where(
                Delivery.status == DeliveryStatus.PENDING.value, Delivery.not_before <= now
            )
        )
        sent = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.status == DeliveryStatus.SENT.value, Delivery.sent_at > now - RATE_WINDOW
            )
        )
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return OutboxFigures(by_status, age, int(sent or 0))


def _is_leader(app: Application) -> bool:
    return bool(getattr(app.election, "is_leader", False))


def render(app: Application, figures: OutboxFigures) -> str:
    metrics = app.metrics
    last_tick = metrics.last_tick.timestamp() if metrics.last_tick else 0.0
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            shown = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else value
            lines.append(f"{name}{labels} {shown}")

    metric(
        "cg_updates_handled_total",
        "counter",
        "Telegram updates handled by this process.",
        [("", metrics.updates_handled)],
    )
    metric(
        "cg_update_errors_total",
        "counter",
        "Updates whose handling raised an error in this process.",
        [("", metrics.update_errors)],
    )
    statuses = [s.value for s in DeliveryStatus]
    metric(
        "cg_outbox_deliveries",
        "gauge",
        "Outbox rows by status (the whole deployment).",
        [(f'{{status="{s}"}}', figures.by_status.get(s, 0)) for s in statuses],
    )
    metric(
        "cg_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest delivery that is due and still pending (0 when none).",
        [("", round(figures.oldest_pending_age, 3))],
    )
    metric(
        "cg_sender_rate_per_second",
        "gauge",
        "Deliveries sent in the last 60 seconds, per second.",
        [("", round(figures.sent_last_window / RATE_WINDOW.total_seconds(), 3))],
    )
    metric(
        "cg_scheduler_last_tick_timestamp_seconds",
        "gauge",
        "Unix time of this process's last scheduler tick (0: none yet, or not the leader).",
        [("", round(last_tick, 3))],
    )
    metric(
        "cg_leader",
        "gauge",
        "1 when this process runs the scheduler and the sender.",
        [("", 1 if _is_leader(app) else 0)],
    )
    return "\n".join(lines) + "\n"


def health(app: Application, figures: OutboxFigures | None, problem: str | None) -> tuple[int, str]:
    if problem is not None:
        return 503, f"unhealthy: {problem}"
    assert figures is not None
    now = app.clock.now()
    metrics = app.metrics
    if _is_leader(app):
        since = metrics.last_tick or metrics.started
        if since is not None and now - since > STALE_TICK:
            return 503, f"unhealthy: no scheduler tick for {(now - since).total_seconds():.0f} s"
    pending = figures.by_status.get(DeliveryStatus.PENDING.value, 0)
    role = "leader" if _is_leader(app) else "follower"
    return 200, (
        f"ok: {role}, {metrics.updates_handled} updates handled, {pending} deliveries pending"
    )


def build_metrics_app(app: Application) -> web.Application:
    async def metrics_view(_request: web.Request) -> web.Response:
        try:
            figures = await outbox_figures(app)
        except Exception as exc:
            return web.Response(status=503, text=f"database unreachable: {type(exc).__name__}\n")
        return web.Response(text=render(app, figures), content_type="text/plain")

    async def health_view(_request: web.Request) -> web.Response:
        figures, problem = None, None
        try:
            figures = await outbox_figures(app)
        except Exception as exc:
            problem = f"database: {type(exc).__name__}"
        status, text = health(app, figures, problem)
        return web.Response(status=status, text=text + "\n")

    web_app = web.Application()
    web_app.router.add_get("/metrics", metrics_view)
    web_app.router.add_get("/healthz", health_view)
    return web_app


async def serve_metrics(app: Application, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled (Application.close cancels background tasks)."""
    settings = app.settings
    app.metrics.started = app.clock.now()
    runner = web.AppRunner(build_metrics_app(app), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
        try:
            await site.start()
        except OSError as exc:
            log.error(
                "metrics: cannot listen on %s:%s: %s",
                settings.metrics_host,
                settings.metrics_port,
                exc.strerror,
            )
            return
        log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
