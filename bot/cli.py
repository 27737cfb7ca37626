"""`community-guard`: run the bot, check a deployment, manage its database, set up a
community from its register, or try the bot in a terminal sandbox.

Settings come from the environment and from `.env` in the current folder (see
`.env.example`). Every command prints one clear line and exits non-zero when something
is wrong."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.settings import Settings
from messages import plural

if TYPE_CHECKING:
    from bot.services.directory import SetupResult

log = logging.getLogger("community_guard")

EPILOG = """examples:
  community-guard sandbox                 try the bot without Telegram
  community-guard check                   is everything the bot needs reachable?
  community-guard setup --csv register.xlsx --community 东湖社区 --admin-id 123456789
  community-guard run                     run the bot
documentation: README.md and docs/ in the source tree"""


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
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CliError(f"setting {field}: {message}") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("community-guard")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 120:
        raise argparse.ArgumentTypeError("must be between 0 and 120 seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="community-guard",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"community-guard {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run the bot (long polling, or a webhook if WEBHOOK_URL is set)",
        description="Run the bot until stopped (Ctrl+C or SIGTERM). The embedded SQLite "
        "database is created and migrated on start; PostgreSQL needs `db upgrade` first.",
    )
    run.add_argument(
        "--polling", action="store_true", help="use long polling even if WEBHOOK_URL is set"
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="N processes sharing the webhook port (PostgreSQL + Redis; docs/scale-out.md)",
    )
    check = sub.add_parser(
        "check",
        help="check settings, database, Redis and the Bot API (one line each)",
        description="Check that the settings are valid and that the database (at the latest "
        "schema), Redis (if configured), the Telegram Bot API and, when METRICS_PORT is set, "
        "the running bot answer. Exit 0 when all is well, 1 otherwise: usable as a health "
        "check.",
    )
    check.add_argument(
        "--timeout",
        type=_timeout,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for each item (default: 5)",
    )
    check.add_argument(
        "--no-telegram", action="store_true", help="do not call the Telegram Bot API"
    )
    db = sub.add_parser("db", help="database commands", description="Database commands.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_sub.add_parser(
        "upgrade",
        help="create or migrate the database to the latest schema",
        description="Create the database schema or migrate it to the latest revision, and "
        "say what was done.",
    )
    backup = sub.add_parser(
        "backup",
        help="write a consistent copy of the database to a file",
        description="SQLite: an online copy (the bot may keep running). PostgreSQL: "
        "pg_dump in its custom format (needs the PostgreSQL client tools).",
    )
    backup.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="the file to write (default: backups/community-guard-<UTC time>.sqlite3 or .pgdump)",
    )
    restore = sub.add_parser(
        "restore",
        help="replace the database's contents with a backup (stop the bot first)",
        description="Replace all data in DATABASE_URL with a file written by `backup`. "
        "Stop the bot first; run `db upgrade` afterwards if the backup is older.",
    )
    restore.add_argument("path", type=Path, help="a file written by `community-guard backup`")
    restore.add_argument(
        "--yes", action="store_true", help="confirm that the current data may be replaced"
    )
    setup = sub.add_parser(
        "setup",
        help="create or complete a community from its register (CSV or XLSX)",
        description="Create a community (or add what is missing) from its register of "
        "households: one row per room. Headers in Chinese or English: 小区/compound, "
        "楼栋/building, 单元/unit, 房号/room, and optionally 网格/grid, 物业管理/"
        "property_managed (是/否), 物业公司/property_company, 包保单位/lead_unit. CSV in "
        "UTF-8 (with or without BOM), GBK/GB18030 or UTF-16, or an .xlsx workbook (first "
        "sheet). Running it again adds only what is missing.",
    )
    setup.add_argument(
        "--csv",
        "--file",
        dest="csv",
        required=True,
        type=Path,
        metavar="FILE",
        help="the register: a .csv or .xlsx file",
    )
    setup.add_argument("--community", required=True, help="the community's name, e.g. 东湖社区")
    setup.add_argument(
        "--admin-id",
        type=int,
        metavar="TELEGRAM_ID",
        help="Telegram user id of the first admin (they can send /myid to the bot)",
    )
    setup.add_argument(
        "--admin-name", default="Admin", help="the first admin's name (default: Admin)"
    )
    setup.add_argument(
        "--timezone",
        default=None,
        metavar="ZONE",
        help="the community's IANA time zone, e.g. Asia/Shanghai (default: DEFAULT_TIMEZONE)",
    )
    setup.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and print what would be created, without saving anything",
    )
    setup.add_argument(
        "--skip-duplicates",
        action="store_true",
        help="import a register with repeated rooms, skipping the repeats (they are listed)",
    )
    purge = sub.add_parser(
        "purge", help="delete or anonymise personal data past retention (docs/privacy.md)"
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    audit = sub.add_parser("audit", help="audit log commands")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="check the audit log's hash chain (exit 1 at the first broken entry)"
    )
    sandbox = sub.add_parser(
        "sandbox",
        help="try the bot in the terminal, no Telegram token needed",
        description="Run the real bot against a built-in Telegram double, with a demo "
        "community, and chat with it in the terminal. Type :help inside for the commands.",
    )
    sandbox.add_argument(
        "--database",
        default="sqlite+aiosqlite:///data/sandbox.db",
        metavar="URL",
        help="the sandbox's own database (default: data/sandbox.db)",
    )
    sandbox.add_argument(
        "--lang",
        default="zh-CN",
        choices=["zh-CN", "en"],
        help="language of the sandbox's own texts and personas (default: zh-CN)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run" and args.workers > 1:
            return _supervise(args)
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "check":
            return asyncio.run(_check(args))
        if args.command == "db":
            return asyncio.run(_db_upgrade())
        if args.command == "backup":
            from bot.backup import backup

            return _report(backup(_settings(), args.path))
        if args.command == "restore":
            from bot.backup import restore

            return _report(restore(_settings(), args.path, confirmed=args.yes))
        if args.command == "setup":
            return asyncio.run(_setup(args))
        if args.command == "purge":
            return asyncio.run(_purge(dry_run=args.dry_run))
        if args.command == "audit":
            return asyncio.run(_audit_verify())
        if args.command == "sandbox":
            return _sandbox(args)
    except CliError as exc:
        print(f"community-guard: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return 2


def _sandbox(args: argparse.Namespace) -> int:
    from bot.app import StartupError
    from bot.sandbox import run_sandbox
    from bot.settings import normalise_database_url

    try:
        database = normalise_database_url(args.database)
    except ValueError as exc:
        raise CliError(f"--database {exc}") from None
    try:
        return asyncio.run(run_sandbox(database, args.lang))
    except StartupError as exc:
        raise CliError(str(exc)) from None


def counted(count: int, one: str, many: str | None = None) -> str:
    """ "1 room", "0 rooms", "2 rooms": the catalog's English plural rule (messages.plural)."""
    return str(plural(count, one, many))


def _report(message: str) -> int:
    print(message)
    return 0


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


async def _check(args: argparse.Namespace) -> int:
    from bot.checks import FAIL, run_checks

    settings = _settings()
    verdicts = await run_checks(settings, args.timeout, telegram=not args.no_telegram)
    for verdict in verdicts:
        print(verdict.line())
    return 1 if any(v.status == FAIL for v in verdicts) else 0


async def _require_redis(settings: Settings) -> None:
    from bot.checks import FAIL, check_redis

    verdict = await check_redis(settings, settings.startup_timeout)
    if verdict.status == FAIL:
        raise CliError(f"cannot use Redis at {verdict.detail}")


async def _prepare(app: object, settings: Settings) -> None:
    """Ask Telegram who we are (within STARTUP_TIMEOUT) and install the menus, or fail
    with one line."""
    from bot.app import Application
    from bot.checks import bot_api_problem

    assert isinstance(app, Application)
    try:
        # Only the first call is timed: a Bot API that accepts connections and never
        # answers is found at once; the menus (one call per officer) may take longer.
        async with asyncio.timeout(settings.startup_timeout):
            await app.bot.me()
        await app.prepare()
    except Exception as exc:
        problem = bot_api_problem(exc, settings, settings.startup_timeout)
        await app.close()
        if problem is None:
            raise
        raise CliError(problem) from None


async def _run(args: argparse.Namespace) -> int:
    from bot.app import Application, StartupError

    settings = _settings()
    _configure_logging(settings)
    if settings.webhook_url and not args.polling:
        problem = settings.webhook_problem()
        if problem is not None:
            raise CliError(problem)
    await _require_redis(settings)
    try:
        app = await Application.create(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    await _prepare(app, settings)
    app.start_workers()
    # SIGTERM/SIGINT: stop taking updates, let handlers in flight finish and commit,
    # stop the sender and the scheduler, close everything, exit 0 (docs/design-core.md).
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # pragma: no cover - Windows
            loop.add_signal_handler(sig, _stop_on_signal, app, sig)
    try:
        if settings.webhook_url and not args.polling:
            from bot.webhook import run_webhook

            await run_webhook(app)
        else:
            log.info("starting long polling")
            await app.run_polling()
    finally:
        await app.close()
    log.info("stopped")
    return 0


def _database_error(exc: BaseException, settings: Settings, doing: str) -> CliError:
    from bot.checks import first_line, safe_url

    return CliError(
        f"cannot {doing} the database at {safe_url(settings.database_url)}: {first_line(exc)}"
    )


def _stop_on_signal(app: Any, sig: signal.Signals) -> None:
    log.info("%s received: stopping (handlers in flight may finish)", sig.name)
    app.request_stop()


def _supervise(args: argparse.Namespace) -> int:
    """`run --workers N`: N copies of `run`, all bound to the webhook port
    (SO_REUSEPORT: the kernel spreads connections), each able to handle any update;
    a bot/leader.py election picks the one that runs the scheduler and the sender.
    A child that dies is started again; SIGTERM/SIGINT stop them all."""
    import os
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
    failed = False
    while not stopping:
        time.sleep(0.2)
        for index, child in enumerate(children):
            code = child.poll()
            if code == 2 and not stopping:
                # A configuration or start-up problem (already explained on one line by the
                # worker): restarting cannot help, so every worker stops.
                log.error("worker %d cannot start (exit 2): stopping all workers", index)
                stopping, failed = True, True
            elif code is not None and not stopping:
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
    return 2 if failed else 0


async def _db_upgrade() -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.checks import safe_url, schema_revisions
    from bot.db.migrate import upgrade
    from bot.db.session import create_engine

    settings = _settings()
    try:
        before, head = await schema_revisions(settings, settings.startup_timeout)
        if before != head:
            engine = create_engine(settings.database_url)
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
    except TimeoutError:
        raise CliError(
            f"the database at {safe_url(settings.database_url)} did not answer within "
            f"{settings.startup_timeout:g} s"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        raise _database_error(exc, settings, "migrate") from None
    where = safe_url(settings.database_url)
    if before == head:
        print(f"database {where} already at revision {head} (latest): nothing to do")
    elif before is None:
        print(f"database {where} created at revision {head} (latest)")
    else:
        print(f"database {where} upgraded from revision {before} to {head} (latest)")
    return 0


async def _require_schema(engine: Any) -> None:
    """One line instead of a traceback when the database was never set up, or is behind
    the code (the bot migrates itself on start; these commands do not)."""
    from bot.db.migrate import revisions

    current, head = await revisions(engine)
    if current is None:
        raise CliError(
            "the database has no tables yet: run `community-guard db upgrade` "
            "(or start the bot once) first"
        )
    if current != head:
        raise CliError(
            f"the database is at revision {current}, older than this version's: "
            "run `community-guard db upgrade` first"
        )


async def _purge(*, dry_run: bool) -> int:
    from bot.clock import SystemClock
    from bot.db.session import create_engine, create_sessionmaker
    from bot.services.retention import CATEGORIES, purge

    settings = _settings()
    engine = create_engine(settings.database_url)
    try:
        await _require_schema(engine)
        result = await purge(create_sessionmaker(engine), SystemClock(), settings, dry_run=dry_run)
    finally:
        await engine.dispose()
    verb = "would purge" if dry_run else "purged"
    days = counted(settings.retention_days, "day")
    print(f"{verb} {counted(result.total, 'row')} (retention {days}):")
    for name in CATEGORIES:
        print(f"  {name}: {result.counts[name]}")
    return 0


async def _audit_verify() -> int:
    from bot.db.session import create_engine, create_sessionmaker
    from bot.services.audit import verify

    settings = _settings()
    engine = create_engine(settings.database_url)
    try:
        await _require_schema(engine)
        async with create_sessionmaker(engine)() as session:
            result = await verify(session)
    finally:
        await engine.dispose()
    if not result.ok:
        print(
            f"audit chain BROKEN at entry {result.first_broken_id} ({result.reason}); "
            f"{counted(result.checked, 'entry', 'entries')} checked",
            file=sys.stderr,
        )
        return 1
    print(f"audit chain intact: {counted(result.checked, 'entry', 'entries')} checked")
    return 0


def _setup_timezone(args: argparse.Namespace, settings: Settings) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zone = args.timezone or settings.default_timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(
            f"--timezone: unknown time zone {zone!r} (use an IANA name such as Asia/Shanghai)"
        ) from None
    return str(zone)


def _check_setup_args(args: argparse.Namespace) -> None:
    name = args.community.strip()
    if not name or len(name) > 120:
        raise CliError("--community: give the community's name (1 to 120 characters)")
    args.community = name
    if args.admin_id is not None and not 0 < args.admin_id < 2**53:
        raise CliError("--admin-id: a Telegram user id is a positive number, e.g. 123456789")
    if not args.admin_name.strip() or len(args.admin_name) > 120:
        raise CliError("--admin-name: give a name of 1 to 120 characters")


async def _setup(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.services.register_file import RegisterFileError, read_register

    settings = _settings()
    _check_setup_args(args)
    timezone = _setup_timezone(args, settings)
    try:
        register = read_register(args.csv, skip_duplicates=args.skip_duplicates)
    except RegisterFileError as exc:
        shown = exc.problems[:20]
        for problem in shown[:-1]:
            print(f"community-guard: {problem}", file=sys.stderr)
        more = len(exc.problems) - len(shown)
        last = shown[-1] + (f" (and {counted(more, 'more problem')})" if more else "")
        raise CliError(last) from None
    print(f"{args.csv.name}: {register.source}, {counted(len(register.rows), 'room')}")
    for note in register.notes:
        print(f"  note: {note}")
    try:
        async with asyncio.timeout(max(settings.startup_timeout, 30)):
            result = await _import(args, settings, register.rows, timezone)
    except TimeoutError:
        raise _database_error(TimeoutError("no answer"), settings, "use") from None
    except (SQLAlchemyError, OSError) as exc:
        raise _database_error(exc, settings, "use") from None
    created = result.created
    verb = "would be created" if args.dry_run else "created"
    state = "new" if created["community"] else "already there"
    print(f"community {result.community.name!r} ({state}):")
    for what in ("compounds", "grids", "buildings", "units", "households"):
        print(f"  {counted(created[what], what[:-1], what)} {verb}")
    if result.admin is not None:
        print(
            f"  admin: Telegram user {args.admin_id} ({'would be ' if args.dry_run else ''}"
            f"granted the admin role)"
        )
    if args.dry_run:
        print("dry run: nothing was saved")
    return 0


async def _import(
    args: argparse.Namespace, settings: Settings, rows: list[dict[str, str]], timezone: str
) -> SetupResult:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.checks import missing_sqlite_file
    from bot.clock import SystemClock
    from bot.db.migrate import _upgrade, upgrade
    from bot.db.session import create_engine, create_sessionmaker
    from bot.services.directory import import_register

    async def run(session: AsyncSession) -> SetupResult:
        return await import_register(
            session,
            SystemClock(),
            community_name=args.community,
            timezone=timezone,
            rows=rows,
            admin_telegram_id=args.admin_id,
            admin_name=args.admin_name.strip(),
        )

    url = settings.database_url
    if args.dry_run:
        if missing_sqlite_file(url):
            url = "sqlite+aiosqlite://"  # nothing there yet: everything would be created
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                transaction = await conn.begin()
                await conn.run_sync(_upgrade, "head")
                async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                    result = await run(session)
                await transaction.rollback()
            return result
        finally:
            await engine.dispose()
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with create_sessionmaker(engine).begin() as session:
            return await run(session)
    finally:
        await engine.dispose()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
