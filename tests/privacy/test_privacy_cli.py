"""`community-guard audit verify` and `community-guard purge [--dry-run]` (issue 11)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli import main

DEMO = Path(__file__).parents[2] / "bot" / "demo" / "register.csv"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "TELEGRAM_API_BASE", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_audit_verify_and_purge(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "cg.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    assert main(["setup", "--csv", str(DEMO), "--community", "东湖社区", "--admin-id", "42"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audit chain intact: ") and "entries checked" in out

    assert main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "would purge 0 rows (retention 180 days):"
    assert "  reports: 0" in out.splitlines() and "  audit_entries: 0" in out.splitlines()
    assert main(["purge"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "purged 0 rows (retention 180 days):"

    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT min(id) FROM audit_log").fetchone()[0]
        conn.execute("UPDATE audit_log SET action = 'forged' WHERE id = ?", (first,))
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"audit chain BROKEN at entry {first} (content changed); 1 entry checked"
