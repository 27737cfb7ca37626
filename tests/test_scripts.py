"""scripts/run installs only when needed (no environment, or pyproject.toml changed) and
otherwise starts without touching the network; the same for scripts/test. A stand-in
virtual environment records what the scripts call."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
WANT = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()

FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$(dirname "$0")/../calls.log"
"""
FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
echo "ran $(basename "$0") $*"
"""


def fake_venv(tmp_path: Path, stamp: str | None, stamp_name: str) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name, body in (
        ("python", FAKE_PYTHON),
        ("community-guard", FAKE_TOOL),
        ("pytest", FAKE_TOOL),
    ):
        path = venv / "bin" / name
        path.write_text(body, encoding="utf-8")
        path.chmod(0o755)
    if stamp is not None:
        (venv / stamp_name).write_text(stamp + "\n", encoding="utf-8")
    return venv


def run_script(script: str, venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        # The caller's TEST_WORKERS (e.g. TEST_WORKERS=2 scripts/test) is not this test's.
        **{k: v for k, v in os.environ.items() if k != "TEST_WORKERS"},
        "VENV": str(venv),
        # Any attempt to reach a package index would fail loudly.
        "PIP_INDEX_URL": "http://127.0.0.1:1/simple",
        "PIP_NO_INDEX": "1",
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def calls(venv: Path) -> list[str]:
    log = venv / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_run_starts_without_installing_when_nothing_changed(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, WANT, ".community-guard-installed")
    done = run_script("run", venv, "check", "--no-telegram")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "ran community-guard check --no-telegram\n",
        "",
    )
    assert calls(venv) == ["community-guard check --no-telegram"]
    # No arguments: run the bot.
    assert run_script("run", venv).stdout == "ran community-guard run\n"


@pytest.mark.parametrize("stamp", [None, "0" * 64])
def test_run_installs_when_new_or_changed(tmp_path: Path, stamp: str | None) -> None:
    venv = fake_venv(tmp_path, stamp, ".community-guard-installed")
    done = run_script("run", venv, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"scripts/run: installing Community Guard into {venv} (first start, or "
        "pyproject.toml changed)...\n"
    )
    assert calls(venv) == ["python -m pip install -q -e .", "community-guard --version"]
    assert (venv / ".community-guard-installed").read_text(encoding="utf-8") == WANT + "\n"
    # The next start installs nothing.
    assert run_script("run", venv, "--version").stderr == ""
    assert calls(venv)[2:] == ["community-guard --version"]


def test_run_says_so_when_installing_fails(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, None, ".community-guard-installed")
    (venv / "bin" / "python").write_text(
        "#!/bin/sh\necho 'ERROR: Could not find a version that satisfies the requirement "
        "aiogram'\nexit 1\n",
        encoding="utf-8",
    )
    done = run_script("run", venv)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"scripts/run: installing the dependencies failed (full log: {venv}/.install.log); "
        "is the package index reachable?"
    )
    assert not (venv / ".community-guard-installed").exists()


def test_test_script_installs_only_when_needed(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, WANT, ".community-guard-installed-dev")
    done = run_script("test", venv, "-k", "nothing")
    assert calls(venv) == ["python -m pytest -q -n auto -k nothing"]
    assert done.returncode == 0
    fresh = fake_venv(tmp_path / "fresh", None, ".community-guard-installed-dev")
    run_script("test", fresh)
    assert calls(fresh) == ["python -m pip install -q -e .[dev]", "python -m pytest -q -n auto"]
