"""The Bot API double in a process of its own, for the sender-ceiling runs.

In one process the double's HTTP server and the sender share one event loop and one
core, so the double's own cost (about as much as the sender's) halves what is measured.
The goal compares the sender with "a fake Bot API that takes ~9,000 msg/s": a server
on its own. `RemoteDouble` starts the same `BotApiDouble` (same chats, same limits) in a
child process and hands back, when asked, what it recorded (method, ok, time, status,
text of each call); time is `time.monotonic`, the same clock in both processes.

    async with RemoteDouble(private=10_000, limits=RateLimits(enabled=False)) as double:
        bot = make_bot(double.base_url)
        ...
        calls = await double.records()
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, NamedTuple, Self

from bot.double import BotApiDouble, RateLimits


class Record(NamedTuple):
    """What the benchmarks need of one call the double answered."""

    method: str
    ok: bool
    at: float
    status: int
    text: str


def records_of(double: BotApiDouble) -> list[Record]:
    return [
        Record(c.method, bool(c.ok), c.at, c.status, str(c.params.get("text")))
        for c in double.calls
    ]


def _child(conn: Connection, token: str, limits: RateLimits, chats: tuple[int, int, int]) -> None:
    from bench._common import populate_double

    async def serve() -> None:
        double = BotApiDouble(token=token, rate_limits=limits)
        await double.serve()
        private, groups, blocked = chats
        for chat_id, _ in populate_double(double, private, groups)[:blocked]:
            double.block_user(chat_id, notify=False)
        conn.send(double.base_url)
        loop = asyncio.get_running_loop()
        try:
            while True:
                # Commands arrive rarely; polling keeps the server's loop free.
                command = await loop.run_in_executor(None, conn.recv)
                if command == "records":
                    conn.send(records_of(double))
                elif command == "clear":
                    double.calls.clear()
                    conn.send(True)
                else:
                    break
        finally:
            await double.stop()
            conn.send("stopped")

    asyncio.run(serve())


class RemoteDouble:
    def __init__(
        self,
        *,
        token: str,
        limits: RateLimits,
        private: int,
        groups: int = 0,
        blocked: int = 0,
    ) -> None:
        self._args: tuple[Any, ...] = (token, limits, (private, groups, blocked))
        self._conn: Connection | None = None
        self._process: Any = None
        self.base_url = ""

    async def _ask(self, command: str) -> Any:
        conn = self._conn
        assert conn is not None
        conn.send(command)
        return await asyncio.to_thread(conn.recv)

    async def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_child, args=(child, *self._args), daemon=True)
        self._process.start()
        self._conn = parent
        self.base_url = await asyncio.to_thread(parent.recv)

    async def records(self) -> list[Record]:
        return list(await self._ask("records"))

    async def clear(self) -> None:
        await self._ask("clear")

    async def stop(self) -> None:
        if self._conn is None:
            return
        await self._ask("stop")
        await asyncio.to_thread(self._process.join, 10)
        self._conn.close()
        self._conn = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
