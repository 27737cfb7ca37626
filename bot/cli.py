"""`community-guard`: run the bot, migrate, set up a community, or try it in a sandbox.

Operator-facing output of this module is English plain text (it is a tool for whoever
deploys the bot, not a chat with residents)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.settings import Settings

log = logging.getLogger("community_guard")


class CliError(Exception):
    """A one-line explanation for the operator, and an exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).upper()
        raise CliError(f"setting {field}: {first['msg']}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="community-guard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run the bot (long polling, or a webhook if WEBHOOK_URL is set)"
    )
    run.add_argument("--polling", action="store_true", help="force long polling")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="N processes sharing the webhook port (PostgreSQL + Redis; docs/scale-out.md)",
    )
    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply all migrations")
    setup = sub.add_parser("setup", help="create a community from a register CSV")
    setup.add_argument(
        "--csv", required=True, type=Path, help="compound,building,unit,room[,grid,...]"
    )
    setup.add_argument("--community", required=True, help="the community's name")
    setup.add_argument("--admin-id", type=int, help="Telegram user id of the first admin")
    setup.add_argument("--admin-name", default="Admin")
    setup.add_argument("--timezone", default=None, help="IANA zone (default: DEFAULT_TIMEZONE)")
    sandbox = sub.add_parser(
        "sandbox", help="try the bot in the terminal, no Telegram token needed"
    )
    sandbox.add_argument("--database", default="sqlite+aiosqlite:///data/sandbox.db")
    sandbox.add_argument("--lang", default="zh-CN", choices=["zh-CN", "en"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run" and args.workers > 1:
            return _supervise(args)
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "db":
            return asyncio.run(_db_upgrade())
        if args.command == "setup":
            return asyncio.run(_setup(args))
        if args.command == "sandbox":
            from bot.sandbox import run_sandbox

            return asyncio.run(run_sandbox(args.database, args.lang))
    except CliError as exc:
        print(f"community-guard: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return 2


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


async def _run(args: argparse.Namespace) -> int:
    from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

    from bot.app import Application, StartupError

    settings = _settings()
    _configure_logging(settings)
    try:
        app = await Application.create(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    try:
        await app.prepare()
    except TelegramUnauthorizedError:
        await app.close()
        raise CliError(
            "Telegram rejected BOT_TOKEN (401 Unauthorized); check it with @BotFather"
        ) from None
    except TelegramNetworkError as exc:
        await app.close()
        api = settings.telegram_api_base or "api.telegram.org"
        raise CliError(f"cannot reach the Telegram Bot API ({api}): {exc.message}") from None
    app.start_workers()
    try:
        if settings.webhook_url and not args.polling:
            import signal

            from bot.webhook import run_webhook

            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await run_webhook(app, stop)
        else:
            log.info("starting long polling")
            await app.run_polling()
    finally:
        await app.close()
    return 0


def _supervise(args: argparse.Namespace) -> int:
    """`run --workers N`: N copies of `run`, all bound to the webhook port
    (SO_REUSEPORT: the kernel spreads connections), each able to handle any update;
    a bot/leader.py election picks the one that runs the scheduler and the sender.
    A child that dies is started again; SIGTERM/SIGINT stop them all."""
    import os
    import signal
    import subprocess
    import time

    settings = _settings()
    if not settings.webhook_url or args.polling:
        raise CliError("--workers needs webhook mode (WEBHOOK_URL): Telegram allows one poller")
    if settings.is_sqlite or not settings.redis_url:
        raise CliError("--workers needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    _configure_logging(settings)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def spawn(index: int) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            WEBHOOK_REUSE_PORT="1",
            WEBHOOK_REGISTER="1" if index == 0 else "0",
            CG_WORKER_INDEX=str(index),
        )
        child = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env)
        log.info("worker %d started (pid %d)", index, child.pid)
        return child

    children = [spawn(i) for i in range(args.workers)]
    while not stopping:
        time.sleep(0.2)
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.warning("worker %d (pid %d) exited with %s; restarting", index, child.pid, code)
                children[index] = spawn(index)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


async def _db_upgrade() -> int:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.migrate import upgrade
    from bot.db.session import create_engine

    settings = _settings()
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await upgrade(engine)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise CliError(f"cannot migrate the database: {reason}") from None
    finally:
        await engine.dispose()
    print("database is up to date")
    return 0


async def _setup(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.db.migrate import upgrade
    from bot.db.session import create_engine, create_sessionmaker
    from bot.services.directory import RegisterFileError, import_register, read_register_csv

    settings = _settings()
    try:
        rows = read_register_csv(args.csv)
    except (OSError, RegisterFileError) as exc:
        raise CliError(str(exc)) from None
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with create_sessionmaker(engine).begin() as session:
            result = await import_register(
                session,
                SystemClock(),
                community_name=args.community,
                timezone=args.timezone or settings.default_timezone,
                rows=rows,
                admin_telegram_id=args.admin_id,
                admin_name=args.admin_name,
            )
    finally:
        await engine.dispose()
    created = result.created
    print(f"community {result.community.name!r} (id {result.community.id}):")
    for what in ("compounds", "grids", "buildings", "units", "households"):
        print(f"  {what}: {created[what]} created")
    if result.admin is not None:
        print(f"  admin: Telegram user {args.admin_id} (person id {result.admin.id})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
