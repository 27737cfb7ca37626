"""The loop-lag probe used by every benchmark: a task that asks to wake every `tick`
seconds and records how late each wake-up was. The worst lateness is the longest time
the event loop could not answer anything else (a resident's button press, say).

    async with LoopLag() as lag:
        await heavy_work()
    print(lag.worst)        # seconds
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType


class LoopLag:
    def __init__(self, tick: float = 0.005) -> None:
        self.tick = tick
        self.worst = 0.0
        #: The same, counting only the CPU time the loop's own thread used meanwhile:
        #: what our code held the loop for, without the time a loaded machine's
        #: scheduler gave the CPU to other processes.
        self.worst_cpu = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _probe(self) -> None:
        while True:
            expected = time.perf_counter() + self.tick
            cpu = time.thread_time()
            await asyncio.sleep(self.tick)
            late = time.perf_counter() - expected
            self.samples += 1
            if late > self.worst:
                self.worst = late
            used = time.thread_time() - cpu
            if late > 0 and used > self.worst_cpu:
                self.worst_cpu = min(late, used)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._probe())
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self) -> str:
        return (
            f"worst event-loop stall {self.worst * 1000:.0f} ms "
            f"(of it the loop thread's own CPU: {self.worst_cpu * 1000:.0f} ms; "
            f"{self.samples} probes)"
        )
