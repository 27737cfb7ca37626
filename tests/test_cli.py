"""The console script: clear one-line errors, setup from CSV, migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.cli import main
from bot.db.migrate import alembic_config

DEMO = Path(__file__).parents[1] / "bot" / "demo" / "register.csv"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "TELEGRAM_API_BASE", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is read from the project


@pytest.mark.parametrize(
    ("token", "expected"),
    [("", "BOT_TOKEN is not set"), ("not-a-token", "BOT_TOKEN is malformed")],
)
def test_missing_or_malformed_token_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str, expected: str
) -> None:
    monkeypatch.setenv("BOT_TOKEN", token)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:ABCDEFGHIJKLMNOP")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "cannot use the database" in err and len(err.strip().splitlines()) == 1


def test_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Mars/Olympus")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "DEFAULT_TIMEZONE" in err and len(err.strip().splitlines()) == 1


def test_setup_creates_a_community_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}")
    args = ["setup", "--csv", str(DEMO), "--community", "东湖社区", "--admin-id", "42"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "  96 households created\n" in out and "  2 compounds created\n" in out
    assert "admin: Telegram user 42" in out
    assert main(args) == 0
    assert "  0 households created\n" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == (
        f"database sqlite+aiosqlite:///{tmp_path / 'cg.db'} already at revision "
        f"{HEAD} (latest): nothing to do\n"
    )


def test_setup_rejects_a_bad_csv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("compound,building,room\n阳光花园,1栋,101\n", encoding="utf-8")
    assert main(["setup", "--csv", str(bad), "--community", "x"]) == 2
    assert capsys.readouterr().err == (
        "community-guard: bad.csv: line 1: missing column(s) unit — expected headers: "
        "unit (单元/单元号)\n"
    )
    empty_cell = tmp_path / "empty.csv"
    empty_cell.write_text("compound,building,unit,room\n阳光花园,,1单元,101\n", encoding="utf-8")
    assert main(["setup", "--csv", str(empty_cell), "--community", "x"]) == 2
    assert capsys.readouterr().err == (
        "community-guard: empty.csv: line 2, column B (building): empty\n"
    )


def test_unreachable_telegram_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:ABCDEFGHIJKLMNOP")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:1")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Telegram Bot API (http://127.0.0.1:1)" in err
    assert "Traceback" not in err


async def test_token_rejected_by_telegram_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import argparse

    from bot.cli import CliError, _run
    from bot.double import BotApiDouble

    async with BotApiDouble(token="123456:THE-REAL-TOKEN") as double:
        monkeypatch.setenv("BOT_TOKEN", "123456:SOME-OTHER-TOKEN")
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}")
        monkeypatch.setenv("TELEGRAM_API_BASE", double.base_url)
        with pytest.raises(CliError, match="Telegram rejected BOT_TOKEN"):
            await _run(argparse.Namespace(polling=True))


@pytest.mark.parametrize("secret", [None, "too-short"])
def test_webhook_without_a_long_secret_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str | None
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:ABCDEFGHIJKLMNOP")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org")
    if secret is None:
        monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("WEBHOOK_SECRET", secret)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "WEBHOOK_SECRET must be at least 32 characters" in err
    assert "secrets.token_urlsafe(32)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
