"""`community-guard sandbox`: the real bot against the Bot API test double, in one
process, with a terminal chat. Anyone can try the bot without a Telegram token.

You act as a resident, an officer or an admin, in a private chat, the owners' group
or the officers' group; buttons are shown as numbered choices (type the number).

A message of several lines (an address, a pasted list) is typed between two lines that
hold only three double quotes; `:file <path>` sends a file (a CSV of lab results ...).
The clock moved by `:wait` is kept next to the database (`data/sandbox.db.clock`), so
time never runs backwards when the sandbox is started again; a new database starts at
the real time.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.app import Application
from bot.clock import SystemClock
from bot.db.models import Community, Compound, GroupChat, InboxUpdate, Role, ScopeType
from bot.double import ApiCall, BotApiDouble, FakeChat, FakeUser, RateLimits, SentMessage
from bot.services.directory import import_register, read_register_csv
from bot.services.identity import ensure_staff_person, grant_role
from bot.settings import Settings
from messages import Catalog, Translator

TOKEN = "100200300:SANDBOX-community-guard-token"
OWNERS_GROUP = -1001001
OFFICERS_GROUP = -1001002
_TAG = re.compile(r"<[^>]+>")


BLOCK_MARK = '"""'  # a line holding only this starts / ends a multi-line message


class OffsetClock:
    """The system clock, shifted by `:wait` so time-based features can be tried.

    With ``state_file`` the shift survives a restart: it is read at start and written
    after every `:wait` (real time keeps running in between, as for a real bot)."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.offset = timedelta(0)
        self._system = SystemClock()
        self.state_file = state_file
        if state_file is not None and state_file.exists():
            try:
                seconds = json.loads(state_file.read_text(encoding="utf-8"))["offset_seconds"]
                self.offset = max(timedelta(0), timedelta(seconds=float(seconds)))
            except (OSError, ValueError, KeyError, TypeError):
                self.offset = timedelta(0)  # unreadable: start from the real time

    def now(self) -> datetime:
        return self._system.now() + self.offset

    def save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps({"offset_seconds": self.offset.total_seconds()}), "utf-8")
        os.replace(tmp, self.state_file)


def clock_file(database_url: str) -> Path | None:
    """Where the sandbox keeps its clock: next to an SQLite database file
    (``data/sandbox.db`` → ``data/sandbox.db.clock``); None for other databases.

    A database file that does not exist yet means a fresh start: a clock left from an
    earlier database is removed, so the new one starts at the real time."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    database = Path(url.database)
    state = database.with_name(database.name + ".clock")
    if not database.exists():
        state.unlink(missing_ok=True)
    return state


WAIT_STEP = timedelta(hours=1)


@dataclass(frozen=True)
class Persona:
    key: str
    user: FakeUser


class Sandbox:
    """The terminal session: turns typed lines into updates and prints what the bot sends."""

    def __init__(
        self,
        double: BotApiDouble,
        app: Application,
        t: Translator,
        write: Callable[[str], None],
        locale: str = "zh-CN",
    ) -> None:
        self.double = double
        self.app = app
        self.t = t
        self.write = write
        # The personas speak the sandbox's language: their Telegram client reports it.
        lang = "en" if locale == "en" else "zh-hans"
        self.personas = {
            "resident": Persona("resident", double.user(10001, "小明", language_code=lang)),
            "officer": Persona("officer", double.user(10002, "王干事", language_code=lang)),
            "admin": Persona("admin", double.user(10003, "社区管理员", language_code=lang)),
        }
        self.chats: dict[str, FakeChat | None] = {
            "private": None,
            "group": double.group(OWNERS_GROUP, "阳光花园业主群"),
            "officers": double.group(OFFICERS_GROUP, "东湖社区工作群"),
        }
        for persona in self.personas.values():
            for key in ("group", "officers"):
                chat = self.chats[key]
                assert chat is not None
                double.add_member(chat, persona.user)
        self.persona = self.personas["resident"]
        self.chat_key = "private"
        self.newcomers = 0
        self.block: list[str] | None = None  # lines of a multi-line message being typed
        double.add_listener(self._on_call)

    # ---------------------------------------------------------------- output

    def _chat_label(self, chat_id: int) -> str:
        if chat_id == OWNERS_GROUP:
            return self.t("sandbox.label_group")
        if chat_id == OFFICERS_GROUP:
            return self.t("sandbox.label_officers")
        for persona in self.personas.values():
            if persona.user.id == chat_id:
                return self.t("sandbox.label_private", name=persona.user.first_name)
        return str(chat_id)

    def _on_call(self, call: ApiCall) -> None:
        for message in call.messages:
            self._show(message, edited=False)
        # Removing the buttons of an answered question is not worth reprinting; buttons
        # that changed (a ticked choice of several) are.
        markup_only = call.method.lower() == "editmessagereplymarkup"
        for message in getattr(call, "edited", ()):
            if not markup_only or self._buttons(message):
                self._show(message, edited=True)
        if call.method.lower() == "answercallbackquery" and call.params.get("text"):
            self.write(f"  » {call.params['text']}")

    def _show(self, message: SentMessage, *, edited: bool) -> None:
        body = html.unescape(_TAG.sub("", message.raw_text or message.raw_caption or ""))
        if message.document:
            body += f"\n📎 {message.document.get('file_name', '')}"
        marker = self.t("sandbox.edited") if edited else ""
        self.write(f"\n[{self._chat_label(message.chat_id)}]{marker}\n{body}")
        for number, (label, _data) in enumerate(self._buttons(message), start=1):
            self.write(f"  ({number}) {label}")

    def _buttons(self, message: SentMessage) -> list[tuple[str, str | None]]:
        return [b for row in self.double.inline_buttons(message) for b in row]

    # ---------------------------------------------------------------- input

    def prompt(self) -> str:
        if self.block is not None:
            return "... "
        return f"{self.persona.key}@{self.chat_key}> "

    @property
    def chat_id(self) -> int:
        chat = self.chats[self.chat_key]
        return chat.id if chat is not None else self.persona.user.id

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; returns False when the user wants to quit.

        Between two lines holding only BLOCK_MARK every line (blank ones and ones
        starting with ":" included) belongs to one message, sent when the block closes."""
        if self.block is not None:
            if line.strip() != BLOCK_MARK:
                self.block.append(line.rstrip("\r\n"))
                return True
            text, self.block = "\n".join(self.block).strip("\n"), None
            if not text.strip():
                self.write(self.t("sandbox.empty_block"))
                return True
            await self._send_text(text)
            return True
        line = line.strip()
        if not line:
            return True
        if line == BLOCK_MARK:
            self.block = []
            return True
        if line.startswith(":"):
            return await self._meta(line[1:].split())
        if line.isdigit() and await self._press(int(line)):
            return True
        await self._send_text(line)
        return True

    async def _send_text(self, text: str) -> None:
        update = self.double.send_text(self.persona.user, text, self.chats[self.chat_key])
        await self._settle(update)

    async def _send_file(self, args: list[str]) -> None:
        """`:file <path> [caption …]`: the persona sends that file as a document."""
        content = await asyncio.to_thread(_read_file, args[0]) if args else None
        if content is None:
            self.write(self.t("sandbox.bad_file", path=args[0] if args else ""))
            return
        caption = " ".join(args[1:]) or None
        name = Path(args[0]).name
        update = self.double.send_document(
            self.persona.user, name, content, self.chats[self.chat_key], caption
        )
        await self._settle(update)

    async def _settle(self, update: object) -> None:
        await self.double.wait_processed(update, timeout=15)  # type: ignore[arg-type]
        # What the bot queued (case cards, notices…) goes out before the next prompt.
        await self.app.sender.drain()

    async def _press(self, number: int) -> bool:
        for message in reversed(self.double.messages(self.chat_id)):
            buttons = self._buttons(message)
            if buttons:
                if not 1 <= number <= len(buttons):
                    return False  # no such button: a phone number, a temperature … as text
                _label, data = buttons[number - 1]
                if data is None or data.startswith("http"):
                    self.write(self.t("sandbox.link_button", link=data or ""))
                    return True
                await self._settle(self.double.press(self.persona.user, message, data))
                return True
        return False

    async def _meta(self, words: list[str]) -> bool:
        command, args = (words[0].lower(), words[1:]) if words else ("help", [])
        if command in ("q", "quit", "exit"):
            return False
        if command == "as" and args and args[0] in self.personas:
            self.persona = self.personas[args[0]]
        elif command == "in" and args and args[0] in self.chats:
            self.chat_key = args[0]
        elif command == "contact":
            user = self.persona.user
            await self._settle(self.double.send_contact(user, f"+86138{user.id:08d}"))
        elif command == "file":
            await self._send_file(args)
        elif command == "join":
            self.newcomers += 1
            newcomer = self.double.user(20000 + self.newcomers, f"新邻居{self.newcomers}")
            chat = self.chats["group"]
            assert chat is not None
            for update in self.double.join(newcomer, chat):
                await self._settle(update)
        elif command == "wait" and args:
            delta = _parse_delta(args[0])
            if delta is None:
                self.write(self.t("sandbox.bad_wait"))
                return True
            from scheduler import tick

            # Time passes with the scheduler running: one tick per hour at most, so that
            # daily reminders come at their hour and a long wait is not taken for downtime.
            clock = self.app.clock
            remaining = delta
            while True:
                step = min(remaining, WAIT_STEP)
                if isinstance(clock, OffsetClock):
                    clock.offset += step
                remaining -= step
                await tick(self.app.job_context())
                await self.app.sender.drain()
                if remaining <= timedelta(0):
                    break
            if isinstance(clock, OffsetClock):
                clock.save()
            self.write(self.t("sandbox.waited", now=f"{self.app.clock.now():%Y-%m-%d %H:%M}"))
        else:
            self.write(self.t("sandbox.help"))
        return True


def _read_file(path: str) -> bytes | None:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError:  # missing, a directory, not readable
        return None


def _parse_delta(text: str) -> timedelta | None:
    match = re.fullmatch(r"(\d+)([mhd])", text)
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2)
    return {
        "m": timedelta(minutes=amount),
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
    }[unit]


async def seed_demo(app: Application) -> bool:
    """On first start: the demo community, its staff, and both groups bound."""
    async with app.sessionmaker.begin() as session:
        if await session.scalar(select(Community.id).limit(1)) is not None:
            return False
        register = Path(str(resources.files("bot.demo") / "register.csv"))
        result = await import_register(
            session,
            app.clock,
            community_name="东湖社区",
            timezone="Asia/Shanghai",
            rows=read_register_csv(register),
            admin_telegram_id=10003,
            admin_name="社区管理员",
        )
        community = result.community
        officer = await ensure_staff_person(
            session, app.clock, telegram_user_id=10002, name="王干事"
        )
        await grant_role(
            session,
            app.clock,
            person=officer,
            role=Role.OFFICER,
            scope_type=ScopeType.COMMUNITY,
            scope_id=community.id,
            by=result.admin,
        )
        compound = await session.scalar(select(Compound).where(Compound.name == "阳光花园"))
        assert compound is not None
        session.add(
            GroupChat(
                chat_id=OWNERS_GROUP,
                compound_id=compound.id,
                title="阳光花园业主群",
                bound_at=app.clock.now(),
            )
        )
        community.officer_chat_id = OFFICERS_GROUP
    return True


async def start_sandbox(
    database_url: str, write: Callable[[str], None], locale: str = "zh-CN"
) -> tuple[Sandbox, BotApiDouble, asyncio.Task[None]]:
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    settings = Settings(
        _env_file=None,
        bot_token=SecretStr(TOKEN),
        database_url=database_url,
        telegram_api_base=double.base_url,
    )
    catalog = Catalog()
    clock = OffsetClock(clock_file(database_url))  # before the database file is created
    app = await Application.create(settings, clock, migrate=True, catalog=catalog)
    seeded = await seed_demo(app)
    # Update ids carry on from the last run on this database: the bot's inbox remembers
    # the ids it handled and would ignore a second "update 1000" as already done.
    async with app.sessionmaker() as session:
        last = await session.scalar(select(func.max(InboxUpdate.update_id)))
    if last is not None:
        double.continue_update_ids_after(last)
    polling = asyncio.create_task(app.run_polling(handle_as_tasks=False, polling_timeout=1))
    # Ready once the bot asks for updates (counted as the request arrives).
    await double.wait_polling(0, timeout=15, gave_up=polling.done)
    if polling.done():
        polling.result()  # the bot could not start: its error, here
    sandbox = Sandbox(double, app, catalog.translator(locale), write, locale)
    if last is not None:
        # The personas opened their chats with the bot in an earlier run: the bot may
        # write to them first (a notice, a check-in) without their being marked unreachable.
        for persona in sandbox.personas.values():
            double.started.add(persona.user.id)
            double.private_chat(persona.user)
    sandbox.write(sandbox.t("sandbox.welcome", seeded=seeded))
    return sandbox, double, polling


async def stop_sandbox(sandbox: Sandbox, double: BotApiDouble, polling: asyncio.Task[None]) -> None:
    sandbox.app.request_stop()  # graceful: what is in flight finishes
    try:
        await asyncio.wait_for(polling, timeout=10)
    except (TimeoutError, asyncio.CancelledError):
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
    await sandbox.app.close()
    await double.stop()


async def run_sandbox(database_url: str, locale: str = "zh-CN") -> int:
    """The interactive loop on the terminal."""
    sandbox, double, polling = await start_sandbox(database_url, print, locale)
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, sandbox.prompt())
            except EOFError:
                break
            if not await sandbox.handle_line(line):
                break
    finally:
        await stop_sandbox(sandbox, double, polling)
    sys.stdout.flush()
    return 0
