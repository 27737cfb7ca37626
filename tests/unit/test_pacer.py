"""The sender's pacer in exact virtual time: sliding windows on the actual send times
(bursts up to a limit, never over it), refusals give their place back, a 429 holds the
chat and lowers the global limit."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable

from bot.sender import Pacer


class VirtualLoop:
    """Sleepers wake in time order; time jumps only when every task is blocked."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def run(self, jobs: list[Callable[[], Awaitable[None]]]) -> None:
        tasks = [asyncio.create_task(job()) for job in jobs]
        while not all(t.done() for t in tasks):
            for _ in range(20):
                await asyncio.sleep(0)
            if self._sleepers:
                at, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, at)
                future.set_result(None)
        for task in tasks:
            task.result()


def pacer(loop: VirtualLoop, rate: float = 30.0, group_per_minute: float = 20.0) -> Pacer:
    return Pacer(
        rate_per_second=rate,
        chat_per_second=1.0,
        group_per_minute=group_per_minute,
        monotonic=loop.monotonic,
        sleep=loop.sleep,
    )


async def test_bursts_fill_each_window_and_never_exceed_it() -> None:
    loop = VirtualLoop()
    p = pacer(loop)
    sent: list[float] = []

    def job(chat: int) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            sent.append(await p.acquire(chat, False))
            p.release(chat, counted=True)

        return send

    await loop.run([job(1000 + i) for i in range(95)])
    assert sorted(sent) == [0.0] * 30 + [1.0] * 30 + [2.0] * 30 + [3.0] * 5


async def test_a_chat_gets_one_a_second_and_a_group_twenty_a_minute() -> None:
    loop = VirtualLoop()
    p = pacer(loop)
    private: list[float] = []
    group: list[float] = []

    async def private_chat() -> None:
        for _ in range(3):
            private.append(await p.acquire(7, False))
            p.release(7, counted=True)

    async def group_chat() -> None:
        for _ in range(22):
            group.append(await p.acquire(-100, True))
            p.release(-100, counted=True)

    await loop.run([private_chat, group_chat])
    assert private == [0.0, 1.0, 2.0]
    assert group == [0.0] * 20 + [60.0, 60.0]


async def test_refused_sends_give_their_place_back() -> None:
    loop = VirtualLoop()
    p = pacer(loop)
    sent: list[float] = []

    def job(chat: int, counted: bool) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            sent.append(await p.acquire(chat, False))
            p.release(chat, counted=counted)

        return send

    # 60 chats that blocked the bot (403) do not use up the second's 30 places.
    jobs = [job(2000 + i, False) for i in range(60)] + [job(3000 + i, True) for i in range(30)]
    await loop.run(jobs)
    assert sorted(sent) == [0.0] * 90


async def test_sends_in_flight_hold_their_place_until_answered() -> None:
    loop = VirtualLoop()
    p = pacer(loop, rate=2)
    order: list[tuple[str, float]] = []
    answered = asyncio.Event()

    async def slow() -> None:
        order.append(("slow", await p.acquire(1, False)))
        await answered.wait()
        p.release(1, counted=True)

    async def quick() -> None:
        order.append(("quick", await p.acquire(2, False)))
        p.release(2, counted=True)

    async def third() -> None:
        await loop.sleep(0.5)
        order.append(("third", await p.acquire(3, False)))
        p.release(3, counted=True)

    async def answer_late() -> None:
        await loop.sleep(0.7)
        answered.set()

    await loop.run([slow, quick, third, answer_late])
    # The slow send was dated by its answer (0.7): the third waits for the quick one's
    # second to pass (1.0), not for nothing.
    assert order == [("slow", 0.0), ("quick", 0.0), ("third", 1.0)]


async def test_a_429_holds_the_chat_and_lowers_the_global_limit() -> None:
    loop = VirtualLoop()
    p = pacer(loop, rate=3)
    sent: list[tuple[int, float]] = []

    async def first() -> None:
        await p.acquire(5, False)
        p.release(5, counted=False)
        p.hold(5, 10)

    await loop.run([first])

    def job(chat: int) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            sent.append((chat, await p.acquire(chat, False)))
            p.release(chat, counted=True)

        return send

    await loop.run([job(5), job(6), job(7), job(8)])
    by_chat = dict(sent)
    assert by_chat[5] == 10.0
    # Two a second now, not three.
    assert sorted(t for c, t in sent if c != 5) == [0.0, 0.0, 1.0]
