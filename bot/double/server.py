"""``BotApiDouble``: the fake Bot API served over real HTTP.

The real aiogram ``Bot`` talks to it through its real ``AiohttpSession``::

    async with BotApiDouble() as double:
        session = AiohttpSession(api=TelegramAPIServer.from_base(double.base_url))
        bot = Bot(double.token, session=session)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, overload

from aiogram.types import Update
from aiohttp import web

from bot.double.faults import Faults
from bot.double.methods import BotApiMethods, CallContext
from bot.double.models import ApiCall, ApiError, FakeUser, RateLimits, SentMessage
from bot.double.params import parse_request
from bot.double.ratelimit import RateLimiter
from bot.double.state import DoubleState

_UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
_DROPPED = {"ok": False, "error_code": 0, "description": "connection dropped by fault injection"}
# Keeps shutdown snappy: in-flight long polls are woken first, slow (delay-fault)
# handlers are not worth waiting for.
_SHUTDOWN_TIMEOUT = 0.5


class BotApiDouble(DoubleState):
    """A Telegram Bot API test double: HTTP server, fake world and observation helpers.

    Act as users with ``user()``, ``send_text()``, ``press()``, ...; observe with
    ``calls``, ``messages()``, ``wait_for()``, ``wait_processed()``, ``next_message()``;
    script failures with ``faults`` and ``block_user()``/``migrate_group()``/``delete_chat()``.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "community_guard_bot",
        bot_id: int | None = None,
        rate_limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        bot_first_name: str = "Community Guard",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if bot_id is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 123456
        super().__init__(token, bot_username, bot_id, bot_first_name, clock, wall_clock)
        self.rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self.limiter = RateLimiter(self.rate_limits, clock)
        self.faults = Faults()
        self._closing = False
        self.api = BotApiMethods(self, self.limiter, closing=lambda: self._closing)
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    # ------------------------------------------------------------- lifecycle

    @overload
    def start(self, user: FakeUser, payload: str | None = None) -> Update: ...

    @overload
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Coroutine[Any, Any, None]: ...

    def start(self, *args: Any, **kwargs: Any) -> Update | Coroutine[Any, Any, None]:
        """Two spellings share this name, told apart by the first argument.

        ``await double.start(host="127.0.0.1", port=0)`` starts the server (same as
        ``serve``); ``double.start(user, payload=None)`` makes the user send ``/start``
        (same as ``send_start``).
        """
        first = args[0] if args else kwargs.get("user")
        if isinstance(first, FakeUser):
            payload = args[1] if len(args) > 1 else kwargs.get("payload")
            return self.send_start(first, payload)
        return self.serve(*args, **kwargs)

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (``port=0`` picks a free port; see ``base_url``)."""
        if self._runner is not None:
            raise RuntimeError("BotApiDouble already started")
        # Bot uploads may be up to 50 MB; aiohttp's default body limit is 1 MB.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a client that gives up on a long poll must not leave a
        # zombie getUpdates behind that would swallow the next update.
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._closing = False
        self._runner = runner
        self._host = host
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self._port = int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        """Answer pending long polls and shut the server down."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True
        self.pulse.fire()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.serve()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port being served (after ``start()``)."""
        if self._port is None:
            raise RuntimeError("BotApiDouble is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``, for ``TelegramAPIServer.from_base``."""
        return f"http://{self._host}:{self.port}"

    # ---------------------------------------------------------------- HTTP

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        at: float,
        response: dict[str, Any],
        status: int,
        ctx: CallContext | None = None,
    ) -> ApiCall:
        messages = tuple(record.snapshot() for record in ctx.created) if ctx else ()
        edited = tuple(record.snapshot() for record in ctx.edited) if ctx else ()
        return self.record_call(
            lambda seq: ApiCall(seq, method, params, at, response, status, messages, edited)
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        at = self.clock()
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        try:
            params = await parse_request(request)
        except ApiError as error:
            body = error.to_response()
            self._record(method_name, {}, at, body, error.error_code)
            return web.json_response(body, status=error.error_code)
        if token != self.token:
            self._record(method_name, params, at, _UNAUTHORIZED, 401)
            return web.json_response(_UNAUTHORIZED, status=401)
        method = self.api.canonical(method_name)
        if method is None:
            self._record(method_name, params, at, _NOT_FOUND, 404)
            return web.json_response(_NOT_FOUND, status=404)

        faults = self.faults.take(method, params)
        for fault in faults:
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
        terminal = next((f for f in faults if f.kind != "delay"), None)
        if terminal is not None and terminal.kind == "drop":
            self._record(method, params, at, _DROPPED, 0)
            if request.transport is not None:
                request.transport.abort()
            # Nothing can be written any more; aiohttp discards a response to a dead peer.
            return web.Response(status=499)
        ctx = CallContext(params)
        if terminal is not None and terminal.error is not None:
            body = terminal.error.to_response()
        else:
            body = await self.api.call(method, ctx)
        status = 200 if body.get("ok") else int(body.get("error_code") or 500)
        self._record(method, params, at, body, status, ctx)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(_UNAUTHORIZED, status=401)
        stored = self.files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(_NOT_FOUND, status=404)
        return web.Response(
            body=stored.content,
            content_type=stored.mime_type or "application/octet-stream",
        )

    # ------------------------------------------------------------- waiting
    # The helpers take ``timeout=`` (hence the ASYNC109 waivers) so tests read as one line
    # and failures say what was awaited instead of a bare CancelledError.

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``condition()`` holds, re-checking on every state change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            await self.pulse.wait(remaining)

    async def wait_for(
        self,
        predicate: Callable[[ApiCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int | None = None,
    ) -> ApiCall:
        """First call at or after ``since`` (a ``mark()``; default: now) matching ``predicate``."""
        start = self.mark() if since is None else since
        found: list[ApiCall] = []

        def check() -> bool:
            for call in self.calls:
                if call.seq >= start and predicate(call):
                    found.append(call)
                    return True
            return False

        try:
            await self.wait_until(check, timeout)
        except TimeoutError:
            recent = ", ".join(f"{c.method}->{c.status}" for c in self.calls if c.seq >= start)
            raise TimeoutError(
                f"no matching API call within {timeout}s; calls since mark: [{recent}]"
            ) from None
        return found[0]

    async def wait_polling(
        self,
        since: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        gave_up: Callable[[], bool] = lambda: False,
    ) -> None:
        """Wait until a getUpdates request arrives after ``since`` (a ``polls_started``
        value taken before the bot was started), or ``gave_up()`` holds (the poller died)."""
        try:
            await self.wait_until(lambda: self.polls_started > since or gave_up(), timeout)
        except TimeoutError:
            raise TimeoutError(f"the bot did not ask for updates within {timeout}s") from None

    async def wait_processed(
        self,
        update: Update | dict[str, Any] | int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until the bot confirmed ``update`` with a later getUpdates offset.

        With aiogram polling and ``handle_as_tasks=False`` that means its handlers finished.
        """
        if isinstance(update, Update):
            update_id = update.update_id
        elif isinstance(update, dict):
            update_id = int(update["update_id"])
        else:
            update_id = update
        try:
            await self.wait_until(lambda: self.is_processed(update_id), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"update {update_id} not processed within {timeout}s "
                f"(confirmed offset {self.confirmed_offset}; is the bot polling?)"
            ) from None

    async def next_message(
        self,
        chat_id: int,
        since: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> SentMessage:
        """The first message the bot sends to ``chat_id`` after ``since`` (default: now)."""
        call = await self.wait_for(
            lambda c: any(m.chat_id == chat_id for m in c.messages), timeout, since
        )
        return next(m for m in call.messages if m.chat_id == chat_id)
