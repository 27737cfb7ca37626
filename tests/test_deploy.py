"""The deployment files, checked statically (no container runtime here): the compose
file's services, health checks and settings names; the Dockerfile's stages, user, fonts
and entry point; the systemd unit. And the image's entry script for real: it migrates,
starts the bot, and `check` (the container's health check) passes against it, with the
compose file's own settings (database, Redis and ports mapped to this machine)."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.double import BotApiDouble
from bot.settings import Settings
from tests.support.database import REDIS_ENV

ROOT = Path(__file__).parents[1]
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
TOKEN = "123456:ABCDEFGHIJKLMNOP"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_services_health_checks_and_volumes() -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {"postgres", "redis", "bot"}
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        check = service["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and check["interval"], name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    bot = services["bot"]
    assert bot["healthcheck"]["test"] == ["CMD", "community-guard", "check", "--timeout", "5"]
    assert bot["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert bot["build"] == "." and bot["env_file"] == ".env" and bot["init"] is True
    # Every named volume used is declared; data of each service lives in one.
    declared = set(data["volumes"])
    used = {
        v.split(":")[0]
        for service in services.values()
        for v in service.get("volumes", [])
        if not v.startswith(".")
    }
    assert used == declared == {"postgres-data", "redis-data", "bot-data"}
    assert "bot-data:/app/data" in bot["volumes"]
    # Published ports only on the loopback interface (a reverse proxy goes in front).
    assert all(p.startswith("127.0.0.1:") for p in bot["ports"])


def test_compose_settings_are_real_settings() -> None:
    bot = compose()["services"]["bot"]
    environment: dict[str, str] = bot["environment"]
    assert set(environment) <= SETTING_NAMES, set(environment) - SETTING_NAMES
    url = environment["DATABASE_URL"]
    assert re.fullmatch(
        r"postgresql\+asyncpg://community_guard:\$\{POSTGRES_PASSWORD:\?[^}]+\}"
        r"@postgres:5432/community_guard",
        url,
    )
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    postgres = compose()["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_DB"] == "community_guard"
    assert postgres["POSTGRES_USER"] == "community_guard"
    # The published ports are the ones the bot listens on.
    ports = {p.split(":")[-1] for p in bot["ports"]}
    assert ports == {environment["WEBHOOK_PORT"], environment["METRICS_PORT"]}
    # The values are valid settings (password and host names filled in).
    filled = {
        k: v.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "pw")
        for k, v in environment.items()
    }
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in filled.items()})
    assert settings.metrics_port == 9100 and not settings.is_sqlite


def test_env_example_names_only_settings() -> None:
    names = set()
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z_]+)=", line)
        if match:
            names.add(match.group(1))
    assert names - {"POSTGRES_PASSWORD"} <= SETTING_NAMES, names - SETTING_NAMES
    assert {"BOT_TOKEN", "DATABASE_URL", "METRICS_PORT", "POSTGRES_PASSWORD"} <= names


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert [s[1] for s in stages] == ["build", "runtime"]
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert "fonts-wqy-microhei" in text and "postgresql-client" in text
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user == ["community-guard"]
    assert 'CMD ["community-guard", "check", "--timeout", "5"]' in text
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    entry = ROOT / "deploy" / "docker-entrypoint.sh"
    assert os.access(entry, os.X_OK)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "data", ".git"} <= set(ignored)


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "community-guard.service", encoding="utf-8")
    service = unit["Service"]
    assert service["User"] == "community-guard"
    assert service["ExecStartPre"].endswith("/.venv/bin/community-guard db upgrade")
    assert service["ExecStart"].endswith("/.venv/bin/community-guard run")
    assert service["EnvironmentFile"].endswith("/.env")
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_entry(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(ROOT / "deploy" / "docker-entrypoint.sh"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_entry_script_runs_the_bot_and_its_health_check_passes(
    tmp_path: Path, database_url: str
) -> None:
    environment: dict[str, str] = dict(compose()["services"]["bot"]["environment"])
    metrics_port = free_port()
    # The compose file's settings, with this machine in place of the other containers.
    environment["DATABASE_URL"] = database_url
    redis_url = os.environ.get(REDIS_ENV)
    if redis_url:
        environment["REDIS_URL"] = redis_url
    else:
        del environment["REDIS_URL"]
    environment["METRICS_PORT"] = str(metrics_port)
    environment["WEBHOOK_PORT"] = str(free_port())
    async with BotApiDouble(token=TOKEN) as double:
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "MPLCONFIGDIR": str(tmp_path / "mpl"),
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": double.base_url,
            "LOG_LEVEL": "WARNING",
            **environment,
        }
        process = await asyncio.create_subprocess_exec(
            "sh",
            str(ROOT / "deploy" / "docker-entrypoint.sh"),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            # The first long poll's arrival (not its answer, 25 s later) says the bot is up;
            # leadership may follow a moment after, so the check is asked until it says so.
            await double.wait_polling(since=0, timeout=120)
            for _ in range(200):
                code, out, err = await run_entry(env, "check", "--timeout", "5")
                if "leader" in out:
                    break
                await asyncio.sleep(0.3)  # a real process's start, not the bot's clock
            assert (code, err) == (0, "")
            lines = out.splitlines()
            assert [line.split()[:2] for line in lines] == [
                ["ok", "settings"],
                ["ok", "database"],
                ["ok" if redis_url else "skip", "redis"],
                ["ok", "telegram"],
                ["ok", "bot"],
            ]
            assert lines[4] == (
                f"ok    bot       http://127.0.0.1:{metrics_port}/healthz: ok: leader, "
                "0 updates handled, 0 deliveries pending"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            out_b, _err_b = await asyncio.wait_for(process.communicate(), 30)
    # The entry script migrated the database first and said so.
    assert re.match(r"database \S+ (created at|already at) revision", out_b.decode())


@pytest.mark.parametrize("command", [["--version"], ["check", "--help"]])
async def test_entry_script_passes_commands_through(command: list[str]) -> None:
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    code, out, _err = await run_entry(env, *command)
    assert code == 0
    assert out.startswith("community-guard 0.1.0" if command == ["--version"] else "usage:")
