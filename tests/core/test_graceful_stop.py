"""`community-guard run` as a real process: SIGTERM while a handler is in flight lets it
finish (its reply reaches the chat, its work is committed) and the process exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db.models import InboxUpdate, UserPreference
from bot.db.session import create_engine, create_sessionmaker
from bot.double import BotApiDouble
from tests.support.chat import TOKEN, ChatUser

CLI = Path(sys.executable).parent / "community-guard"


async def _start(double: BotApiDouble, database: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "TELEGRAM_API_BASE": double.base_url,
        "SHUTDOWN_TIMEOUT": "20",
        "LOG_LEVEL": "INFO",
    }
    env.pop("REDIS_URL", None)
    env.pop("WEBHOOK_URL", None)
    mark = double.mark()
    proc = await asyncio.create_subprocess_exec(
        str(CLI), "run", "--polling", env=env, cwd=database.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    await double.wait_for(lambda c: c.method.lower() == "deletewebhook", since=mark, timeout=120)
    return proc


async def test_sigterm_lets_the_handler_in_flight_finish(
    double: BotApiDouble, tmp_path: Path
) -> None:
    database = tmp_path / "bot.db"
    proc = await _start(double, database)
    user = ChatUser(double, double.user(5002, "Alice", language_code="en"))
    mark = double.mark()
    await user.send("/language")  # handled as a task: confirmed before it is answered
    await double.wait_for(lambda c: c.method == "sendMessage", since=mark, timeout=60)
    chooser = user.last()
    double.faults.delay("editMessageText", seconds=5, times=1)
    _, data = user.button_data("English", chooser)
    update = double.press(user.user, chooser, data)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    sessionmaker = create_sessionmaker(engine)
    try:
        async with asyncio.timeout(60):
            while True:  # committed before the (slow) reply: the handler is in flight
                async with sessionmaker() as session:
                    if await session.get(UserPreference, user.id) is not None:
                        break
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
        assert proc.returncode == 0, output.decode()
        shown = double.find_message(chooser.chat_id, chooser.message_id)
        assert shown is not None and shown.snapshot().raw_text == "Language set to English."
        async with sessionmaker() as session:
            row = await session.scalar(
                select(InboxUpdate).where(InboxUpdate.update_id == update.update_id)
            )
            assert row is not None and row.done_at is not None
        # What was handled was acknowledged before exiting.
        assert double.is_processed(update.update_id)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await engine.dispose()


async def test_sigterm_when_idle_exits_zero(double: BotApiDouble, tmp_path: Path) -> None:
    proc = await _start(double, tmp_path / "bot.db")
    proc.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0, output.decode()
    assert b"stopped" in output
