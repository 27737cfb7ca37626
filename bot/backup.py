"""`community-guard backup` / `restore`.

SQLite: Python's sqlite3 online backup API, a consistent copy even while the bot runs
(WAL). PostgreSQL: `pg_dump --format=custom` / `pg_restore --clean`, from the PostgreSQL
client tools, with the password handed over in PGPASSWORD (never on the command line).

Operator-facing text (plain English), like the rest of the CLI."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bot.settings import Settings
from messages import plural


def _cli_error(message: str) -> Exception:
    from bot.cli import CliError

    return CliError(message)


def _default_path(settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = "sqlite3" if settings.is_sqlite else "pgdump"
    return Path("backups") / f"community-guard-{stamp}.{suffix}"


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return str(plural(int(size), "byte")) if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def _read_only(path: Path) -> str:
    """A read-only SQLite URI for a path (spaces, # and ? quoted)."""
    return path.resolve().as_uri() + "?mode=ro"


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise _cli_error("DATABASE_URL names no SQLite file to back up or restore")
    return Path(database)


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it."""
    url: URL = make_url(settings.database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise _cli_error(
            f"{name} not found: install the PostgreSQL client tools "
            "(Debian/Ubuntu: apt install postgresql-client)"
        )
    return found


def _run_tool(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[0] if lines else f"exit code {done.returncode}"
        raise _cli_error(f"{what} failed: {reason}")


def backup(settings: Settings, path: Path | None) -> str:
    target = path or _default_path(settings)
    if target.exists():
        raise _cli_error(f"{target} already exists; choose another file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        source = _sqlite_path(settings)
        if not source.exists():
            raise _cli_error(f"no database file at {source}")
        with (
            sqlite3.connect(_read_only(source), uri=True) as src,
            sqlite3.connect(target) as dst,
        ):
            src.backup(dst)
        src.close()
        dst.close()
    else:
        dsn, env = _libpq(settings)
        _run_tool(
            [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}", dsn],
            env,
            "pg_dump",
        )
    return f"backup written to {target} ({_size(target)})"


def _check_sqlite_backup(path: Path) -> None:
    try:
        with sqlite3.connect(_read_only(path), uri=True) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise _cli_error(f"{path} is not a Community Guard SQLite backup ({exc})") from None
    if row is None:
        raise _cli_error(f"{path} is not a Community Guard SQLite backup (no schema revision)")


def restore(settings: Settings, path: Path, *, confirmed: bool) -> str:
    if not path.is_file():
        raise _cli_error(f"no backup file at {path}")
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    if settings.is_sqlite:
        _check_sqlite_backup(path)
    if not confirmed:
        raise _cli_error(
            f"this replaces all data in {where} with {path}; stop the bot, then run again "
            "with --yes"
        )
    if settings.is_sqlite:
        target = _sqlite_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            sqlite3.connect(_read_only(path), uri=True) as src,
            sqlite3.connect(target) as dst,
        ):
            src.backup(dst)
        src.close()
        dst.close()
    else:
        dsn, env = _libpq(settings)
        _run_tool(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={dsn}",
                str(path),
            ],
            env,
            "pg_restore",
        )
    return (
        f"restored {path} into {where}; run `community-guard db upgrade` if the backup "
        "is older than this version"
    )
