"""The application factory: Bot + Dispatcher + database (+ later the scheduler and
sender), built from settings with no module-level singletons."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.commands import install_commands
from bot.core.barrier import CommitBarrier
from bot.core.callbacks import AnswerCallbackAfterHandler, OutOfRangeCallbackData
from bot.core.forms import FormLeftByCommand, FormOnError, registered_commands
from bot.core.outage import Outage, RedisWatch
from bot.db.migrate import upgrade
from bot.db.session import create_engine, create_sessionmaker
from bot.errors import install_error_handler
from bot.fsm_storage import DatabaseStorage
from bot.http_session import PlainHttpSession, is_plain_http
from bot.metrics import Metrics, MetricsMiddleware
from bot.middlewares import (
    AnonymousSenderMiddleware,
    DbSessionMiddleware,
    FastCheckinAnswer,
    ForwardedMessageMiddleware,
    IdentityMiddleware,
    install_lean_fsm,
)
from bot.sender import Sender, max_in_flight
from bot.services.checkin_fast import FastAnswers
from bot.settings import Settings
from messages import Catalog
from scheduler import JobContext, run_ticks

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A problem an operator must fix before the bot can run (one-line explanation)."""


@dataclass
class Application:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    catalog: Catalog
    bot: Bot
    dispatcher: Dispatcher
    storage: BaseStorage
    isolation: BaseEventIsolation
    sender: Sender
    bot_username: str = ""
    election: Any = None
    #: Outages of PostgreSQL / Redis: one log line each way (bot/core/outage.py).
    database_outage: Outage = field(
        default_factory=lambda: Outage(
            "database", "updates get a polite 'try again'; the leader steps down"
        )
    )
    redis_watch: RedisWatch | None = None
    metrics: Metrics = field(default_factory=Metrics)
    poller: Any = None
    #: The check-in answer fast path (bot/services/checkin_fast.py), set by `_wire`.
    fast_answers: FastAnswers | None = None
    #: Set by a signal (or a test) to stop polling / the webhook server gracefully.
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _background: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def create(
        cls,
        settings: Settings,
        clock: Clock | None = None,
        *,
        migrate: bool | None = None,
        catalog: Catalog | None = None,
    ) -> Application:
        """Build everything; migrate the database when it is the embedded default
        (or when asked), and fail with a StartupError an operator can act on."""
        problem = settings.token_problem()
        if problem:
            raise StartupError(problem)
        clock = clock or SystemClock()
        pool: dict[str, Any] = {}
        if not settings.database_url.startswith("sqlite"):
            pool = {
                "pool_size": settings.database_pool_size,
                "max_overflow": settings.database_max_overflow,
            }
        engine = create_engine(settings.database_url, **pool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            if migrate if migrate is not None else settings.is_sqlite:
                await upgrade(engine)
        except (OperationalError, OSError, SQLAlchemyError) as exc:
            await engine.dispose()
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise StartupError(
                f"cannot use the database at {_safe_url(settings)}: {reason}"
            ) from exc
        sessionmaker = create_sessionmaker(engine, bot_id=settings.bot_id)
        catalog = catalog or Catalog()
        storage, isolation = _fsm_storage(settings, sessionmaker, clock)
        bot = make_bot(settings)
        bot.session.middleware(
            CommitBarrier(sessionmaker, clock, retry_max_wait=settings.reply_retry_max_seconds)
        )
        dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
        app = cls(
            settings=settings,
            clock=clock,
            engine=engine,
            sessionmaker=sessionmaker,
            catalog=catalog,
            bot=bot,
            dispatcher=dispatcher,
            storage=storage,
            isolation=isolation,
            sender=Sender(
                bot,
                sessionmaker,
                clock,
                max_attempts=settings.send_max_attempts,
                worker_id=worker_id(),
                settings=settings,
            ),
        )
        app.sender.database = app.database_outage
        if settings.redis_url:
            redis = storage.inner.redis  # type: ignore[attr-defined]
            app.redis_watch = RedisWatch(app, redis.ping, settle=storage.settle)  # type: ignore[attr-defined]
            storage.on_owed = app.redis_watch.owed  # type: ignore[attr-defined]
        app._wire()
        return app

    def _wire(self) -> None:
        from handlers import ACCEPTS_FORWARDED, get_routers
        from handlers.checkin import STATELESS_CALLBACKS

        dp = self.dispatcher
        # Answers on a check-in prompt need no conversation state ("type" does).
        install_lean_fsm(dp, stateless=STATELESS_CALLBACKS)
        dp.update.outer_middleware(MetricsMiddleware(self.metrics))
        # "I am well" on a check-in prompt: one statement, no session (PostgreSQL).
        self.fast_answers = FastAnswers(self.engine, self.clock, bot_id=self.settings.bot_id)
        dp.update.outer_middleware(FastCheckinAnswer(self.fast_answers, self.catalog))
        postgres = self.engine.dialect.name == "postgresql"
        dp.update.outer_middleware(
            DbSessionMiddleware(self.sessionmaker, self.clock, identity_marks=postgres)
        )
        dp.update.outer_middleware(IdentityMiddleware(self.catalog, STATELESS_CALLBACKS))
        dp.message.outer_middleware(AnonymousSenderMiddleware())
        dp.message.outer_middleware(ForwardedMessageMiddleware(ACCEPTS_FORWARDED))
        routers = get_routers()
        dp.message.outer_middleware(FormLeftByCommand(registered_commands(routers)))
        dp.callback_query.outer_middleware(OutOfRangeCallbackData())
        dp.callback_query.middleware(AnswerCallbackAfterHandler())
        dp.message.middleware(FormOnError())
        dp.callback_query.middleware(FormOnError())
        dp.include_routers(*routers)
        install_error_handler(dp, self.catalog)
        # Handlers receive these by name (aiogram workflow data), never from globals.
        dp.workflow_data.update(
            app=self,
            settings=self.settings,
            clock=self.clock,
            catalog=self.catalog,
            sessionmaker=self.sessionmaker,
        )

    async def prepare(self) -> None:
        """Ask Telegram who we are and install the command menus (once)."""
        if self.bot_username:
            return
        me = await self.bot.me()
        self.bot_username = me.username or ""
        self.dispatcher.workflow_data["bot_username"] = self.bot_username
        async with self.sessionmaker() as session:
            await install_commands(self.bot, self.catalog, session)
        _keep_response_models()
        settle_heap()

    def job_context(self) -> JobContext:
        """The scheduler's context. With COMMUNITIES (one bot per district) its sessions
        see only those communities (bot/db/session.py), so every periodic task works for
        them alone; the handlers' sessions are not narrowed."""
        sessionmaker = self.sessionmaker
        if self.settings.community_ids is not None:
            sessionmaker = create_sessionmaker(
                self.engine,
                bot_id=self.settings.bot_id,
                communities=self.settings.community_ids,
            )
        return JobContext(
            sessionmaker,
            self.clock,
            self.settings,
            self.catalog,
            on_tick=self.metrics.tick_done,
            database=self.database_outage,
        )

    def start_workers(self, *, retry_seconds: float = 5.0, check_seconds: float = 5.0) -> None:
        """The scheduler's tick and the sender, in this process while it is the leader
        (bot/leader.py: a PostgreSQL advisory lock; SQLite: always the leader)."""
        from bot.leader import LeaderElection, lead, lock_key, term_of

        self.election = election = LeaderElection(
            self.engine,
            key=lock_key(self.settings.bot_id),
            term_id=term_of(self.settings.bot_id),
            holder=self.sender.worker_id,
            session_timeout=self.settings.leader_session_timeout,
        )

        def workers(stop: asyncio.Event) -> list[Any]:
            self.sender.epoch = election.epoch
            tasks = [run_ticks(self.job_context(), stop), self.sender.run(stop)]
            if not election.always_leader:
                from bot.core.polling import sweep_orphans

                tasks.append(sweep_orphans(self, stop))
            return tasks

        self.start_background(
            lead(
                self.election,
                self._stop,
                workers,
                retry_seconds=retry_seconds,
                check_seconds=check_seconds,
                database=self.database_outage,
            )
        )
        if self.settings.metrics_port:
            self.start_metrics()

    def start_metrics(self, ready: asyncio.Event | None = None) -> asyncio.Task[Any]:
        """The health/metrics HTTP endpoint (METRICS_PORT), until the application closes."""
        from bot.metrics import serve_metrics

        return self.start_background(serve_metrics(self, ready))

    async def run_polling(self, *, handle_as_tasks: bool = True, polling_timeout: int = 25) -> None:
        """Replay the inbox, then long-poll until `request_stop()` (or a signal); returns
        once the handlers in flight have finished (bounded by `shutdown_timeout`)."""
        from bot.core.polling import Poller

        await self.prepare()
        await self.bot.delete_webhook(drop_pending_updates=False)
        self.poller = poller = Poller(
            self,
            handle_as_tasks=handle_as_tasks,
            polling_timeout=polling_timeout,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )
        watcher = asyncio.ensure_future(self._forward_stop(poller))
        try:
            await poller.run()
        finally:
            watcher.cancel()
            await poller.stop(self.settings.shutdown_timeout)
            await poller.acknowledge()

    async def _forward_stop(self, poller: Any) -> None:
        await self.stop_requested.wait()
        poller.stopping.set()

    def request_stop(self) -> None:
        """Stop taking updates; what is in flight finishes (see run_polling, run_webhook)."""
        self.stop_requested.set()

    def start_background(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._background.append(task)
        return task

    async def close(self) -> None:
        """Stop the workers (the sender finishes its send, the scheduler its tick;
        bounded by `shutdown_timeout`), then close the sessions and the engine."""
        self.request_stop()
        self._stop.set()
        if self._background:
            await asyncio.wait(self._background, timeout=self.settings.shutdown_timeout)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        await self.bot.session.close()
        await self.storage.close()
        await self.isolation.close()
        if self.fast_answers is not None:
            await self.fast_answers.close()
        await self.engine.dispose()


def settle_heap() -> None:
    """Load what the bot holds for its whole life, collect once, then freeze the heap.

    Everything loaded by then (modules, templates, mappers, the place gazetteer: some
    200,000 objects the collector tracks) lives as long as the process: frozen, it is
    out of the cyclic collector's full passes. Without this, a full (generation 2) pass
    walks all of it and holds the event loop for 100-200 ms, e.g. the one set off in
    the middle of a ledger export when the gazetteer is first loaded (bench/ledger.py).
    Called once the bot is started (`Application.prepare`) and by the benchmarks
    before they measure."""
    from bot.places import Gazetteer

    Gazetteer.load()
    gc.collect()
    gc.freeze()


_RESPONSE_MODELS: list[Any] = []


def _keep_response_models() -> None:
    """aiogram parses every Bot API answer with `Response[ReturnType]`; pydantic keeps
    such generic models only weakly, so they are garbage-collected and rebuilt (20 ms
    each, on the event loop) again and again. Build each once and hold on to it."""
    if _RESPONSE_MODELS:
        return
    import aiogram.methods
    from aiogram.methods.base import Response, TelegramMethod

    for name in dir(aiogram.methods):
        method = getattr(aiogram.methods, name)
        returning = getattr(method, "__returning__", None)
        if isinstance(method, type) and issubclass(method, TelegramMethod) and returning:
            with contextlib.suppress(Exception):  # a few are not plain types
                _RESPONSE_MODELS.append(Response[returning])  # type: ignore[valid-type]


def worker_id() -> str:
    """This process, as recorded on the rows it claims (host:pid:random)."""
    import os
    import socket
    import uuid

    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


class LateCallbackAnswers(BaseRequestMiddleware):
    """Answering a callback query that is too old or already answered is harmless: an
    update Telegram re-delivered after a process died (it may have answered before it
    died), or one that waited for its user's lock. Such an answer must not abort the
    handler and lose the user's step, so it is logged and treated as done."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if isinstance(method, AnswerCallbackQuery) and "query is too old" in exc.message:
                log.info("late callback answer ignored: %s", exc.message)
                return True
            raise


def make_bot(settings: Settings) -> Bot:
    """A Bot for these settings (HTML parse mode; another Bot API server if configured)."""
    # Enough connections for the sender's sends in flight (and the handlers' calls).
    limit = max(100, max_in_flight(settings.send_concurrency) + 32)
    session: AiohttpSession
    base = settings.telegram_api_base
    if base and is_plain_http(base):
        session = PlainHttpSession(api=TelegramAPIServer.from_base(base), limit=limit)
    elif base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(base), limit=limit)
    else:
        session = AiohttpSession(limit=limit)
    session.middleware(LateCallbackAnswers())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def _fsm_storage(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock
) -> tuple[BaseStorage, BaseEventIsolation]:
    if settings.redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(with_destiny=True, prefix=settings.redis_prefix),
            # Abandoned drafts (names, phones typed halfway) expire (issue 11).
            state_ttl=settings.fsm_retention_days * 86400,
            data_ttl=settings.fsm_retention_days * 86400,
            # A Redis that does not answer fails a call within seconds (the update is
            # kept: bot/core/outage.py) instead of holding the handler indefinitely.
            connection_kwargs={"socket_connect_timeout": 3, "socket_timeout": 5},
        )
        # Updates of one user are handled in order across processes; FSM writes reach
        # Redis only after the update's transaction committed (bot/core/fsm_buffer.py).
        # The per-user lock expires after `redis_lock_timeout` seconds, so a process
        # killed while holding it delays that user's next update by at most that much
        # (aiogram's default: 60 s).
        from bot.core.fsm_buffer import BufferedStorage
        from bot.core.redis_lock import TolerantRedisIsolation

        isolation = storage.create_isolation(lock_kwargs={"timeout": settings.redis_lock_timeout})
        return BufferedStorage(storage), TolerantRedisIsolation(isolation)
    return DatabaseStorage(sessionmaker, clock), SimpleEventIsolation()
