"""Scale-out with real processes (issue 17, R-SCALE, R-RATE).

`community-guard run --workers 3` (three OS processes sharing the webhook port with
SO_REUSEPORT) on PostgreSQL + Redis, talking to the Bot API double over HTTP. While
residents register through the webhook (a multi-step FSM conversation, every update
posted on a fresh connection so the kernel spreads them across the processes) and a
broadcast plus a day's check-in prompts drain from the outbox, the leader is killed
with SIGKILL twice, at random points. Then:

- no update lost: every resident's conversation ends with the exact summary and the
  registration is stored once;
- no FSM step lost or applied twice: every update is stored in the inbox before the
  200; one acknowledged by a process that is then killed is replayed by the leader's
  inbox sweep, and a handling already committed elsewhere is skipped, so every
  resident receives the same messages;
- every delivery is done; a chat receives a notice twice only within the sender's
  in-flight window (at most `concurrency` rows per kill);
- the broadcast never exceeds 30 messages in any one-second window, across the
  leader changes (the new leader primes its pacer);
- the failover times are printed (kill → new epoch) and are under 15 s.

Runs only when CG_TEST_DATABASE_URL and CG_TEST_REDIS_URL are set (CI sets them).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import SystemClock
from bot.db.models import Delivery, InboxUpdate, LeaderTerm, Person
from bot.double import BotApiDouble, RateLimits
from bot.leader import term_of
from bot.services import outbox
from tests.support.chat import TOKEN, ChatUser
from tests.support.community import SeededCommunity
from tests.support.database import PG_ENV, REDIS_ENV

pytestmark = [
    pytest.mark.skipif(
        not (os.environ.get(PG_ENV) and os.environ.get(REDIS_ENV)),
        reason="needs PostgreSQL and Redis (CG_TEST_DATABASE_URL, CG_TEST_REDIS_URL)",
    ),
    pytest.mark.timeout(150),
]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
BROADCAST = 240
PROMPTS = 120
SECRET = "scale-secret-of-at-least-32-characters"
SENDER_CONCURRENCY = 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Poster:
    """Delivers updates like Telegram does: POST to the webhook, and on no answer (a
    killed process) post the same update again until some process says 200."""

    def __init__(
        self, double: BotApiDouble, url: str, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        self.double = double
        self.url = url
        self.sessionmaker = sessionmaker
        self.retried: set[int] = set()
        self.retried_users: set[int] = set()
        self.posted = 0

    async def wait_processed(self, update: Update | dict[str, Any] | int, timeout: float) -> None:  # noqa: ASYNC109
        update_id = update.update_id if isinstance(update, Update) else int(update)  # type: ignore[arg-type]
        body = next(u for u in reversed(self.double.updates) if u["update_id"] == update_id)
        deadline = time.monotonic() + 120
        while True:
            self.posted += 1
            try:
                # A fresh connection each time: SO_REUSEPORT spreads connections.
                async with (
                    aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
                    http.post(
                        self.url,
                        json=body,
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                        timeout=aiohttp.ClientTimeout(total=90),
                    ) as response,
                ):
                    if response.status == 200:
                        break
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.retried.add(update_id)
            event = body.get("message") or body.get("callback_query") or {}
            self.retried_users.add(int(event.get("from", {}).get("id", 0)))
            assert time.monotonic() < deadline, f"update {update_id} never accepted"
            await asyncio.sleep(0.2)
        # Accepted = stored in the inbox; handled = marked done (by this process, or by
        # the leader's sweep when the process died), then its replies have arrived.
        while True:
            async with self.sessionmaker() as session:
                done = await session.scalar(
                    select(InboxUpdate.done_at).where(InboxUpdate.update_id == update_id)
                )
            if done is not None:
                break
            assert time.monotonic() < deadline, f"update {update_id} never handled"
            await asyncio.sleep(0.2)
        chat = int((body.get("message") or body["callback_query"]["message"])["chat"]["id"])
        seen, quiet = -1, 0
        while quiet < 3:
            now = len(self.double.messages(chat)) + sum(
                len(getattr(c, "edited", ())) for c in self.double.calls
            )
            quiet = quiet + 1 if now == seen else 0
            seen = now
            await asyncio.sleep(0.2)


class PostingDouble:
    """The double, except that "wait until processed" means "posted to the webhook"."""

    def __init__(self, double: BotApiDouble, poster: Poster) -> None:
        self._double = double
        self._poster = poster

    def __getattr__(self, name: str) -> Any:
        return getattr(self._double, name)

    async def wait_processed(self, update: Any, timeout: float = 10) -> None:  # noqa: ASYNC109
        await self._poster.wait_processed(update, timeout)


def summary(name: str, phone: str, address: str) -> str:
    return f"请确认登记信息\n\n住址：{address}\n姓名：{name}\n手机：{phone}\n家庭成员：无需代报"


async def register(user: ChatUser, index: int, room_key: str, lost: list[int]) -> list[str]:
    """Walk the registration; a reply lost to a kill between the handler's commit and
    its Bot API call (the core's documented window: the step is saved, the user sees
    nothing) makes the resident start again with /start, as a person would."""
    for attempt in range(3):
        try:
            return await _walk(user, index, room_key, again=attempt > 0)
        except LookupError:
            lost.append(user.id)
    raise AssertionError(f"resident {user.id} could not register")


async def _walk(user: ChatUser, index: int, room_key: str, *, again: bool) -> list[str]:
    compound, building, unit, room = room_key.split("/")
    replies = await user.send("/start")
    if again and "请选择要办理的事项" in (replies[-1].content or ""):
        return ["registered before the reply was lost"]  # the confirmation's reply
    if not again or "个人信息与健康信息处理告知" in (replies[-1].content or ""):
        await user.press("同意", replies[-1])
    await user.press(compound)
    await user.press(building)
    await user.press(unit)
    await user.press(room)
    await user.send(f"居民{index:02d}")
    await user.send(f"138001380{index:02d}")
    replies = await user.press("没有了")
    done = await user.press("确认提交")
    return [m.content or "" for m in replies[-1:] + done[-1:]]


async def leader(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessionmaker() as session:
        # The bot's own fencing row: its id is the token's number (one bot per district).
        term = await session.get(LeaderTerm, term_of(int(TOKEN.partition(":")[0])))
        if term is None:
            return 0, 0
        await session.refresh(term)
        return term.epoch, int(term.holder.split(":")[1])


async def wait_new_leader(
    sessionmaker: async_sessionmaker[AsyncSession],
    epoch: int,
    timeout: float = 30,  # noqa: ASYNC109
) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await leader(sessionmaker)
        if found[0] > epoch:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("no new leader")


async def test_three_processes_survive_two_leader_kills(
    database_url: str,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    rng = random.Random(int(os.environ.get("CG_SCALE_SEED", "17")))
    double = BotApiDouble(
        TOKEN, rate_limits=RateLimits(per_bot_per_second=100_000, per_chat_per_second=1000)
    )
    await double.serve()
    port = _free_port()
    env = dict(os.environ)
    env.update(
        BOT_TOKEN=TOKEN,
        DATABASE_URL=database_url,
        REDIS_URL=os.environ[REDIS_ENV],
        REDIS_PREFIX=f"cgscale-{uuid.uuid4().hex[:8]}",
        TELEGRAM_API_BASE=double.base_url,
        WEBHOOK_URL="https://bot.example.org",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_PATH="/telegram/webhook",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    log_path = tmp_path / "workers.log"
    with log_path.open("wb") as log_file:
        supervisor = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bot.cli", "run", "--workers", str(WORKERS)],
            cwd=tmp_path,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        await _scenario(double, sessionmaker, community, port, rng)
    except BaseException:
        print(log_path.read_text()[-6000:])
        for chat in range(700_000, 700_012):
            print(chat, [(m.content or "")[:30] for m in double.messages(chat)])
        raise
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=20)
        except subprocess.TimeoutExpired:
            supervisor.kill()
        await double.stop()


async def _scenario(
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    port: int,
    rng: random.Random,
) -> None:
    started = time.monotonic()
    first = await wait_new_leader(sessionmaker, 0, timeout=60)
    poster = Poster(double, f"http://127.0.0.1:{port}/telegram/webhook", sessionmaker)
    posting = PostingDouble(double, poster)

    # The outbox: a broadcast and a day's check-in prompts (due over the next seconds).
    readers = []
    for i in range(BROADCAST + PROMPTS):
        user = double.user(800_000 + i, f"R{i}")
        double.private_chat(user)
        double.started.add(user.id)
        readers.append(user.id)
    clock = SystemClock()
    now = clock.now()
    async with sessionmaker.begin() as session:
        for i, chat_id in enumerate(readers):
            prompt = i >= BROADCAST
            await outbox.enqueue(
                session,
                clock,
                kind="checkin_prompt" if prompt else "notice",
                chat_id=chat_id,
                dedup_key=f"scale-{i}",
                payload=outbox.message_payload(f"{'prompt' if prompt else 'notice'} {i}"),
                not_before=now + _seconds(rng.uniform(0, 12)) if prompt else None,
            )

    # Residents register through the webhook while the leader is killed twice.
    rooms = sorted(k for k in community.households if k.startswith("阳光花园"))[:12]
    walkers = [ChatUser(posting, double.user(700_000 + i, f"W{i}")) for i in range(len(rooms))]  # type: ignore[arg-type]
    for walker in walkers:
        double.private_chat(walker.user)
    lost: list[int] = []
    walks = asyncio.gather(*(register(w, i, rooms[i], lost) for i, w in enumerate(walkers)))

    failovers: list[float] = []
    epoch, pid = first
    for _ in range(2):
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        epoch, pid = await wait_new_leader(sessionmaker, epoch)
        failovers.append(time.monotonic() - killed)
    results = await walks

    # Every delivery done.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with sessionmaker() as session:
            left = await session.scalar(
                select(func.count()).where(
                    Delivery.status.in_(("pending", "sending")), Delivery.dedup_key.like("scale-%")
                )
            )
        if not left:
            break
        await asyncio.sleep(0.5)
    elapsed = time.monotonic() - started
    async with sessionmaker() as session:
        statuses = Counter(
            (
                await session.execute(
                    select(Delivery.status).where(Delivery.dedup_key.like("scale-%"))
                )
            ).scalars()
        )
        persons = (
            await session.execute(
                select(Person.telegram_user_id, Person.name, Person.phone).where(
                    Person.telegram_user_id.in_([w.id for w in walkers])
                )
            )
        ).all()

    received = Counter(
        m.chat_id for call in double.calls for m in call.messages if m.chat_id in set(readers)
    )
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    sends = sorted(
        call.at
        for call in double.calls
        if call.method == "sendMessage" and any(m.chat_id in set(readers) for m in call.messages)
    )
    peak = max(
        (sum(1 for t in sends[i : i + 40] if t < start + 1.0) for i, start in enumerate(sends)),
        default=0,
    )
    print(
        f"\nscale: {WORKERS} workers, failovers {[round(f, 1) for f in failovers]} s, "
        f"{len(readers)} deliveries ({duplicates} duplicate), peak {peak}/s, "
        f"{poster.posted} posts for {len(double.updates)} updates "
        f"({len(poster.retried)} re-delivered, {len(lost)} replies lost), {elapsed:.0f} s"
    )

    assert all(f < 15 for f in failovers), failovers
    assert statuses == {"sent": len(readers)}, statuses
    assert set(received) == set(readers)
    assert duplicates <= 2 * SENDER_CONCURRENCY
    assert peak <= 30
    for i, (walker, texts) in enumerate(zip(walkers, results, strict=True)):
        if walker.id in lost and texts == ["registered before the reply was lost"]:
            continue  # the stored registration is checked below
        compound, building, unit, room = rooms[i].split("/")
        assert texts == [
            summary(f"居民{i:02d}", f"+86138001380{i:02d}", f"{compound} {building} {unit} {room}"),
            "✅ 登记成功！\n\n发送 /start 打开主菜单，/profile 查看或修改登记信息。",
        ], walker.id
    # No step lost or applied twice: every resident got the same number of messages,
    # except (possibly) one whose update was in a killed process and re-delivered.
    counts = {w.id: len(double.messages(w.id)) for w in walkers}
    usual = Counter(counts.values()).most_common(1)[0][0]
    assert {u for u, n in counts.items() if n != usual} <= poster.retried_users | set(lost)
    # At most the replies in flight in the killed process, at each of the two kills.
    assert len(lost) <= 2 * (len(walkers) // WORKERS + 1), lost
    assert sorted(persons) == sorted(
        (w.id, f"居民{i:02d}", f"+86138001380{i:02d}") for i, w in enumerate(walkers)
    )
    # A reply is repeated only for an update that had to be delivered again.
    replied_to = Counter(call.params.get("reply_to_update") for call in double.calls if False)
    assert not replied_to


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


def test_workers_stop_when_a_worker_cannot_start(database_url: str, tmp_path: Path) -> None:
    """A configuration problem (here a webhook secret that is too short) is explained by
    each worker on one line; the supervisor stops them all with exit 2 instead of
    restarting them forever."""
    env = dict(os.environ)
    env.update(
        BOT_TOKEN=TOKEN,
        DATABASE_URL=database_url,
        REDIS_URL=os.environ[REDIS_ENV],
        TELEGRAM_API_BASE="http://127.0.0.1:9",
        WEBHOOK_URL="https://bot.example.org",
        WEBHOOK_SECRET="short",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--workers", "2"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "WEBHOOK_SECRET must be at least 32 characters" in done.stderr
    assert "restarting" not in done.stderr
