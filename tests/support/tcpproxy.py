"""A small asyncio TCP fault proxy for outage tests (issue 17).

It listens on 127.0.0.1:<port> and forwards every connection to a real server (Redis
on :6379, PostgreSQL on :5432), so a test can take "the server" away without touching
the machine's real one, which other tests share:

    proxy = TcpFaultProxy("127.0.0.1", 6379)
    await proxy.start()                  # proxy.port: point REDIS_URL at it
    await proxy.outage(3.0)              # cut every connection, refuse new ones 3 s
    ...                                  # or: proxy.cut(); ...; proxy.restore()
    await proxy.stop()

While down, the listening socket stays open but every new connection is closed at
once (like a server that is restarting: the client sees a reset/EOF, never a hang).
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpFaultProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.down = False
        #: Connections accepted (forwarded) and refused (closed because down).
        self.accepted = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Close every open connection (both sides) and refuse new ones."""
        self.down = True
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    def restore(self) -> None:
        self.down = False

    async def outage(self, seconds: float) -> None:
        """Cut, stay down `seconds` (real time), restore."""
        self.cut()
        await asyncio.sleep(seconds)
        self.restore()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            self.refused += 1
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self.refused += 1
            _abort(writer)
            return
        if self.down:  # cut while connecting
            _abort(writer)
            _abort(up_writer)
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer, writer)),
            asyncio.create_task(self._pipe(up_reader, writer, up_writer)),
        ]
        for task in pipes:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
    ) -> None:
        try:
            while not self.down:
                data = await reader.read(65536)
                if not data or self.down:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, other):
                self._writers.discard(w)
                _abort(w)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    with contextlib.suppress(Exception):
        if not transport.is_closing():
            transport.abort()
