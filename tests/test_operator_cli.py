"""The operator's side (issue 12): every failure is one clear line and a non-zero exit;
`check`, `db upgrade`, `backup`/`restore`, `setup` with real-world registers and a dry
run; `--version` and `--help`."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from alembic.script import ScriptDirectory
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.cli import _parser, main
from bot.db.migrate import alembic_config
from bot.db.models import Community, Household
from bot.db.session import create_engine
from bot.double import BotApiDouble
from bot.settings import Settings
from tests.support.database import REDIS_ENV

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
TOKEN = "123456:ABCDEFGHIJKLMNOP"
ENV_NAMES = (
    "BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "TELEGRAM_API_BASE", "WEBHOOK_URL",
    "WEBHOOK_SECRET", "METRICS_PORT", "METRICS_HOST", "STARTUP_TIMEOUT", "DEFAULT_TIMEZONE",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    monkeypatch.chdir(tmp_path)  # no .env is read from the project


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------- version and help


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == "community-guard 0.1.0\n"


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_option_and_command_has_help_without_internal_notes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parsers = list(_all_parsers(_parser()))
    assert {p.prog for p in parsers} == {
        "community-guard",
        "community-guard run",
        "community-guard check",
        "community-guard db",
        "community-guard db upgrade",
        "community-guard backup",
        "community-guard restore",
        "community-guard setup",
        "community-guard purge",
        "community-guard audit",
        "community-guard audit verify",
        "community-guard sandbox",
    }
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{parser.prog} {choice.dest}"
            else:
                assert action.help, f"{parser.prog} {action.dest}"
        argv = [*parser.prog.split()[1:], "--help"]
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: {parser.prog}")
        for internal in ("Operator-facing", "TODO", "pragma", "R-RUN", "issue"):
            assert internal not in shown


# --------------------------------------------------------------- settings at entry


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "WEBHOOK_URL",
            "http://bot.example.org",
            "setting WEBHOOK_URL: must start with https:// (Telegram delivers webhooks "
            "over HTTPS only)",
        ),
        (
            "DATABASE_URL",
            "mysql://u@h/db",
            "setting DATABASE_URL: driver 'mysql' is not supported: use "
            "postgresql+asyncpg://… or sqlite+aiosqlite:///…",
        ),
        (
            "REDIS_URL",
            "127.0.0.1:6379",
            "setting REDIS_URL: must start with redis://, rediss:// or unix://",
        ),
        (
            "TELEGRAM_API_BASE",
            "api.telegram.org",
            "setting TELEGRAM_API_BASE: must be an http:// or https:// address",
        ),
        (
            "METRICS_PORT",
            "70000",
            "setting METRICS_PORT: Input should be less than or equal to 65535",
        ),
        (
            "SEND_RATE_PER_SECOND",
            "0",
            "setting SEND_RATE_PER_SECOND: Input should be greater than 0",
        ),
    ],
)
def test_bad_settings_are_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv(name, value)
    assert main(["run"]) == 2
    assert one_line(capsys.readouterr().err) == f"community-guard: {expected}"


def test_postgresql_urls_without_driver_are_converted() -> None:
    for url in ("postgresql://u:p@h:5432/db", "postgres://u:p@h:5432/db"):
        assert Settings(_env_file=None, database_url=url).database_url == (
            "postgresql+asyncpg://u:p@h:5432/db"
        )
    assert Settings(_env_file=None, database_url="sqlite:///data/x.db").database_url == (
        "sqlite+aiosqlite:///data/x.db"
    )


# --------------------------------------------------------------- run: start-up failures


@pytest.fixture
async def html_server() -> AsyncIterator[str]:
    """A web server answering every request with an HTML page (a wrong API base)."""

    async def page(_request: web.Request) -> web.Response:
        return web.Response(
            text="<html><body>Welcome to nginx!</body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and never answers (a stuck proxy)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()


async def test_run_with_a_non_json_api_base_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    html_server: str,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}")
    monkeypatch.setenv("TELEGRAM_API_BASE", html_server)
    assert await asyncio.to_thread(main, ["run"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"community-guard: {html_server} does not answer like a Telegram Bot API (not JSON); "
        "check TELEGRAM_API_BASE"
    )


async def test_run_with_a_bot_api_that_never_answers_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    silent_server: str,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}")
    monkeypatch.setenv("TELEGRAM_API_BASE", silent_server)
    monkeypatch.setenv("STARTUP_TIMEOUT", "1")
    assert await asyncio.to_thread(main, ["run"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"community-guard: the Telegram Bot API ({silent_server}) did not answer within 1 s"
    )


def test_run_with_unreachable_redis_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["run"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "community-guard: cannot use Redis at redis://127.0.0.1:1/0: Error 111 connecting to "
        "127.0.0.1:1. Connect call failed ('127.0.0.1', 1)."
    )


# --------------------------------------------------------------- check


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cg.db'}"


async def test_check_all_well(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    redis_url = os.environ.get(REDIS_ENV)
    if redis_url:
        monkeypatch.setenv("REDIS_URL", redis_url)
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    assert capsys.readouterr().out == (f"database {url} created at revision {HEAD} (latest)\n")
    async with BotApiDouble(token=TOKEN) as double:
        monkeypatch.setenv("BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", double.base_url)
        assert await asyncio.to_thread(main, ["check", "--timeout", "3"]) == 0
    redis_lines = (
        [f"ok    redis     {redis_url}: answers PING"]
        if redis_url
        else ["skip  redis     not configured (REDIS_URL is empty)"]
    )
    assert capsys.readouterr().out.splitlines() == [
        f"ok    settings  valid: SQLite, long polling, {'Redis' if redis_url else 'no Redis'}",
        f"ok    database  {url}: schema at {HEAD} (latest)",
        *redis_lines,
        "ok    telegram  token accepted: @community_guard_bot (id 123456)",
        "skip  bot       health endpoint off (set METRICS_PORT to check the bot)",
    ]


async def test_check_names_each_failure(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    html_server: str,
) -> None:
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE", html_server)
    monkeypatch.setenv("METRICS_PORT", "1")
    assert await asyncio.to_thread(main, ["check", "--timeout", "2"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "ok    settings  valid: SQLite, long polling, Redis, metrics on 127.0.0.1:1",
        f"ok    database  no database file at {tmp_path / 'data' / 'cg.db'} yet; `run` or "
        "`setup` creates it",
        "FAIL  redis     redis://127.0.0.1:1/0: Error 111 connecting to 127.0.0.1:1. Connect "
        "call failed ('127.0.0.1', 1).",
        f"FAIL  telegram  {html_server} does not answer like a Telegram Bot API (not JSON); "
        "check TELEGRAM_API_BASE",
    ]
    assert out[4].startswith("FAIL  bot       http://127.0.0.1:1/healthz: not running? (")
    assert len(out) == 5
    monkeypatch.delenv("BOT_TOKEN")
    assert await asyncio.to_thread(main, ["check", "--timeout", "2"]) == 1
    assert capsys.readouterr().out.splitlines()[3] == (
        "FAIL  telegram  BOT_TOKEN is not set (get one from @BotFather, or try "
        "`community-guard sandbox`)"
    )


async def test_check_a_database_behind_the_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bot.db.migrate import upgrade

    url = sqlite_url(tmp_path)
    engine = create_engine(url)
    await upgrade(engine, "0001")
    await engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    assert await asyncio.to_thread(main, ["check", "--no-telegram"]) == 1
    assert capsys.readouterr().out.splitlines()[1] == (
        f"FAIL  database  {url}: schema at 0001, latest is {HEAD} (run `community-guard db "
        "upgrade`)"
    )
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    assert capsys.readouterr().out == (
        f"database {url} upgraded from revision 0001 to {HEAD} (latest)\n"
    )


@pytest.mark.parametrize("command", [["audit", "verify"], ["purge", "--dry-run"]])
async def test_maintenance_on_a_database_not_set_up_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: list[str],
) -> None:
    from bot.db.migrate import upgrade

    url = sqlite_url(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", url)
    assert await asyncio.to_thread(main, command) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "community-guard: the database has no tables yet: run `community-guard db upgrade` "
        "(or start the bot once) first\n",
    )
    engine = create_engine(url)
    await upgrade(engine, "0001")
    await engine.dispose()
    assert await asyncio.to_thread(main, command) == 2
    assert capsys.readouterr().err == (
        "community-guard: the database is at revision 0001, older than this version's: "
        "run `community-guard db upgrade` first\n"
    )


# --------------------------------------------------------------- setup


def test_setup_refuses_an_unknown_time_zone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    demo = Path(__file__).parents[1] / "bot" / "demo" / "register.csv"
    args = ["setup", "--csv", str(demo), "--community", "东湖社区", "--timezone", "Mars/Olympus"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == (
        "community-guard: --timezone: unknown time zone 'Mars/Olympus' (use an IANA name such "
        "as Asia/Shanghai)"
    )
    assert not (tmp_path / "data").exists()
    assert main(["setup", "--csv", str(demo), "--community", " ", "--admin-id", "5"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "community-guard: --community: give the community's name (1 to 120 characters)"
    )
    assert main(["setup", "--csv", str(demo), "--community", "x", "--admin-id", "-5"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "community-guard: --admin-id: a Telegram user id is a positive number, e.g. 123456789"
    )


def test_setup_with_the_database_down_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    register = tmp_path / "r.csv"
    register.write_text("小区,楼栋,单元,房号\n阳光花园,1栋,1单元,101\n", encoding="gbk")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert main(["setup", "--csv", str(register), "--community", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "r.csv: CSV (GBK/GB18030), 1 room\n"
    assert one_line(captured.err) == (
        "community-guard: cannot use the database at postgresql+asyncpg://nobody:***@"
        "127.0.0.1:1/none: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    )


GBK_REGISTER = (
    "东湖社区住户登记表,,,,\r\n"
    "小区,楼栋,单元,房号,网格\r\n"
    "阳光花园,1栋,1单元,101,第一网格\r\n"
    "阳光花园,1栋,1单元,102,第一网格\r\n"
    "阳光花园,2栋,1单元,101,第二网格\r\n"
    "幸福里,A座,1单元,101,\r\n"
)


async def count(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        communities = await conn.scalar(select(func.count()).select_from(Community))
        households = await conn.scalar(select(func.count()).select_from(Household))
    await engine.dispose()
    return communities or 0, households or 0


async def test_setup_dry_run_then_import(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    database_url: str,
) -> None:
    register = tmp_path / "登记表.csv"
    register.write_bytes(GBK_REGISTER.encode("gbk"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    args = ["setup", "--csv", str(register), "--community", "东湖社区", "--admin-id", "42"]
    assert await asyncio.to_thread(main, [*args, "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "登记表.csv: CSV (GBK/GB18030), 4 rooms\n"
        "community '东湖社区' (new):\n"
        "  2 compounds would be created\n"
        "  2 grids would be created\n"
        "  3 buildings would be created\n"
        "  3 units would be created\n"
        "  4 households would be created\n"
        "  admin: Telegram user 42 (would be granted the admin role)\n"
        "dry run: nothing was saved\n"
    )
    assert await count(database_url) == (0, 0)
    assert await asyncio.to_thread(main, args) == 0
    assert capsys.readouterr().out == (
        "登记表.csv: CSV (GBK/GB18030), 4 rooms\n"
        "community '东湖社区' (new):\n"
        "  2 compounds created\n"
        "  2 grids created\n"
        "  3 buildings created\n"
        "  3 units created\n"
        "  4 households created\n"
        "  admin: Telegram user 42 (granted the admin role)\n"
    )
    assert await count(database_url) == (1, 4)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["小区", "楼栋", "单元", "房号", "备注"])
    sheet.append(["阳光花园", "1栋", "1单元", 101, ""])
    sheet.append(["阳光花园", "1栋", "1单元", 103, "新增"])
    workbook.save(tmp_path / "more.xlsx")
    more = ["setup", "--file", str(tmp_path / "more.xlsx"), "--community", "东湖社区"]
    assert await asyncio.to_thread(main, [*more, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "more.xlsx: XLSX (first sheet 'Sheet'), 2 rooms",
        "  note: ignored column(s): 备注",
        "community '东湖社区' (already there):",
        "  0 compounds would be created",
        "  0 grids would be created",
        "  0 buildings would be created",
        "  0 units would be created",
        "  1 household would be created",
        "dry run: nothing was saved",
    ]
    assert await count(database_url) == (1, 4)


def test_setup_reports_duplicates_and_can_skip_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    register = tmp_path / "dup.csv"
    register.write_text(
        "\ufeffcompound,building,unit,room\na,1,1,101\na,1,1,102\na,1,1,101\na,1,1,102\n"
        "a,1,1,101\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    args = ["setup", "--csv", str(register), "--community", "x"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "community-guard: dup.csv: line 4 repeats line 2: a 1 1 101",
        "community-guard: dup.csv: line 5 repeats line 3: a 1 1 102",
        "community-guard: dup.csv: line 6 repeats line 2: a 1 1 101",
    ]
    assert main([*args, "--skip-duplicates"]) == 0
    assert capsys.readouterr().out.splitlines()[:4] == [
        "dup.csv: CSV (UTF-8 with BOM), 2 rooms",
        "  note: skipped: dup.csv: line 4 repeats line 2: a 1 1 101",
        "  note: skipped: dup.csv: line 5 repeats line 3: a 1 1 102",
        "  note: skipped: dup.csv: line 6 repeats line 2: a 1 1 101",
    ]


# --------------------------------------------------------------- backup and restore


async def test_backup_and_restore(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    database_url: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    register = tmp_path / "r.csv"
    register.write_text("compound,building,unit,room\na,1,1,101\na,1,1,102\n", encoding="utf-8")
    assert await asyncio.to_thread(main, ["setup", "--csv", str(register), "--community", "A"]) == 0
    target = (
        tmp_path / "saved" / ("cg.sqlite3" if database_url.startswith("sqlite") else "cg.pgdump")
    )
    assert await asyncio.to_thread(main, ["backup", str(target)]) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    assert out.startswith(f"backup written to {target} (") and target.is_file()
    assert await asyncio.to_thread(main, ["backup", str(target)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"community-guard: {target} already exists; choose another file"
    )
    assert await asyncio.to_thread(main, ["setup", "--csv", str(register), "--community", "B"]) == 0
    assert await count(database_url) == (2, 4)
    where = make_url(database_url).render_as_string(hide_password=True)
    assert await asyncio.to_thread(main, ["restore", str(target)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"community-guard: this replaces all data in {where} with {target}; stop the bot, "
        "then run again with --yes"
    )
    assert await count(database_url) == (2, 4)
    assert await asyncio.to_thread(main, ["restore", str(target), "--yes"]) == 0
    assert capsys.readouterr().out == (
        f"restored {target} into {where}; run `community-guard db upgrade` if the backup is "
        "older than this version\n"
    )
    assert await count(database_url) == (1, 2)


def test_restore_refuses_a_file_that_is_not_a_backup(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database", encoding="utf-8")
    assert main(["restore", str(junk), "--yes"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"community-guard: {junk} is not a Community Guard SQLite backup (file is not a database)"
    )
    assert main(["restore", str(tmp_path / "none"), "--yes"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"community-guard: no backup file at {tmp_path / 'none'}"
    )


async def test_check_a_bot_api_that_never_answers(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    silent_server: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE", silent_server)
    assert await asyncio.to_thread(main, ["check", "--timeout", "1"]) == 1
    assert capsys.readouterr().out.splitlines()[3] == (
        f"FAIL  telegram  the Telegram Bot API ({silent_server}) did not answer within 1 s"
    )


def test_sandbox_with_an_unusable_database_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sandbox", "--database", "postgresql://nobody@127.0.0.1:1/x"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "community-guard: cannot use the database at postgresql+asyncpg://nobody@127.0.0.1:1/x: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    assert main(["sandbox", "--database", "mysql://x"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "community-guard: --database driver 'mysql' is not supported: use "
        "postgresql+asyncpg://… or sqlite+aiosqlite:///…"
    )


def test_db_upgrade_and_backup_with_the_database_down_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://nobody:secret@127.0.0.1:1/none")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")
    assert main(["db", "upgrade"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "community-guard: cannot migrate the database at postgresql+asyncpg://nobody:***@"
        "127.0.0.1:1/none: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    assert main(["check", "--no-telegram"]) == 1
    assert capsys.readouterr().out.splitlines()[1] == (
        "FAIL  database  postgresql+asyncpg://nobody:***@127.0.0.1:1/none: [Errno 111] Connect "
        "call failed ('127.0.0.1', 1)"
    )
    assert main(["backup", "cg.pgdump"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("community-guard: pg_dump failed: pg_dump: error: connection to ")
    assert "secret" not in line


# --------------------------------------------------------------- counts in English


def test_counts_agree_with_their_number(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """0, 1 and 2 of everything the operator commands count: "1 room", "2 rooms"."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("compound,building,unit,room,grid\na,1,1,101,g\n", encoding="utf-8")
    two.write_text("compound,building,unit,room,grid\nb,1,1,101,h\nc,1,1,101,i\n", encoding="utf-8")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out == "audit chain intact: 0 entries checked\n"
    assert main(["setup", "--csv", str(one), "--community", "x"]) == 0
    assert capsys.readouterr().out == (
        "one.csv: CSV (UTF-8), 1 room\n"
        "community 'x' (new):\n"
        "  1 compound created\n"
        "  1 grid created\n"
        "  1 building created\n"
        "  1 unit created\n"
        "  1 household created\n"
    )
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out == "audit chain intact: 1 entry checked\n"
    assert main(["setup", "--csv", str(two), "--community", "x", "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "two.csv: CSV (UTF-8), 2 rooms\n"
        "community 'x' (already there):\n"
        "  2 compounds would be created\n"
        "  2 grids would be created\n"
        "  2 buildings would be created\n"
        "  2 units would be created\n"
        "  2 households would be created\n"
        "dry run: nothing was saved\n"
    )
    assert main(["setup", "--csv", str(one), "--community", "x"]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == [
        "  0 compounds created",
        "  0 grids created",
        "  0 buildings created",
        "  0 units created",
        "  0 households created",
    ]
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out == "audit chain intact: 2 entries checked\n"
    for days, shown in ((1, "1 day"), (2, "2 days")):
        monkeypatch.setenv("RETENTION_DAYS", str(days))
        assert main(["purge", "--dry-run"]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        assert first == f"would purge 0 rows (retention {shown}):"
    # More problems than are shown: "and 1 more problem", "and 2 more problems".
    for more, shown in ((1, "1 more problem"), (2, "2 more problems")):
        dup = tmp_path / "dup.csv"
        dup.write_text("compound,building,unit,room\n" + "a,1,1,101\n" * (21 + more))
        assert main(["setup", "--csv", str(dup), "--community", "x"]) == 2
        last = capsys.readouterr().err.splitlines()[-1]
        assert last == (
            f"community-guard: dup.csv: line 22 repeats line 2: a 1 1 101 (and {shown})"
        )


def test_backup_sizes_agree_with_their_number(tmp_path: Path) -> None:
    from bot.backup import _size

    shown = []
    for size in (0, 1, 2, 2048):
        path = tmp_path / f"{size}.bin"
        path.write_bytes(b"x" * size)
        shown.append(_size(path))
    assert shown == ["0 bytes", "1 byte", "2 bytes", "2.0 KiB"]
