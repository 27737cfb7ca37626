"""`community-guard check` and the start-up checks of `run`: is each thing the bot needs
there and answering? Short timeouts, one line per item, no tracebacks.

Operator-facing text (plain English), like the rest of the CLI.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from bot.settings import Settings

OK, SKIP, FAIL = "ok", "skip", "FAIL"


@dataclass(frozen=True)
class Verdict:
    item: str
    status: str  # OK, SKIP or FAIL
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.item:<9} {self.detail}"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_settings(settings: Settings) -> Verdict:
    database = "SQLite" if settings.is_sqlite else "PostgreSQL"
    mode = "webhook" if settings.webhook_url else "long polling"
    extras = [database, mode, "Redis" if settings.redis_url else "no Redis"]
    if settings.metrics_port:
        extras.append(f"metrics on {settings.metrics_host}:{settings.metrics_port}")
    return Verdict("settings", OK, "valid: " + ", ".join(extras))


async def schema_revisions(settings: Settings, seconds: float) -> tuple[str | None, str]:
    """(the database's current revision or None, the latest revision) — raises on failure."""
    from bot.db.migrate import revisions
    from bot.db.session import create_engine

    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(seconds):
            return await revisions(engine)
    finally:
        await engine.dispose()


def missing_sqlite_file(database_url: str) -> str | None:
    """The path of a SQLite database file that does not exist yet, else None."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return None if os.path.exists(url.database or "") else url.database


async def check_database(settings: Settings, seconds: float) -> Verdict:
    path = missing_sqlite_file(settings.database_url)
    if path:
        return Verdict(
            "database", OK, f"no database file at {path} yet; `run` or `setup` creates it"
        )
    try:
        current, head = await schema_revisions(settings, seconds)
    except TimeoutError:
        return Verdict(
            "database", FAIL, f"{safe_url(settings.database_url)}: no answer within {seconds:g} s"
        )
    except Exception as exc:
        return Verdict("database", FAIL, f"{safe_url(settings.database_url)}: {first_line(exc)}")
    where = safe_url(settings.database_url)
    if current != head:
        return Verdict(
            "database",
            FAIL,
            f"{where}: schema at {current or 'nothing'}, latest is {head} "
            "(run `community-guard db upgrade`)",
        )
    return Verdict("database", OK, f"{where}: schema at {head} (latest)")


async def check_redis(settings: Settings, seconds: float) -> Verdict:
    if not settings.redis_url:
        return Verdict("redis", SKIP, "not configured (REDIS_URL is empty)")
    from redis.asyncio import from_url

    where = safe_url(settings.redis_url)
    client = from_url(settings.redis_url, socket_connect_timeout=seconds, socket_timeout=seconds)
    try:
        async with asyncio.timeout(seconds + 1):
            await client.ping()  # type: ignore[misc]
    except TimeoutError:
        return Verdict("redis", FAIL, f"{where}: no answer within {seconds:g} s")
    except Exception as exc:
        return Verdict("redis", FAIL, f"{where}: {first_line(exc)}")
    finally:
        await client.aclose()
    return Verdict("redis", OK, f"{where}: answers PING")


def bot_api_problem(exc: BaseException, settings: Settings, seconds: float) -> str | None:
    """The one-line explanation of a failed Bot API call, or None if not ours to explain."""
    from aiogram.exceptions import (
        ClientDecodeError,
        TelegramAPIError,
        TelegramNetworkError,
        TelegramUnauthorizedError,
    )

    api = settings.telegram_api_base or "https://api.telegram.org"
    if isinstance(exc, TelegramUnauthorizedError):
        return "Telegram rejected BOT_TOKEN (401 Unauthorized); check it with @BotFather"
    if isinstance(exc, TimeoutError):
        return f"the Telegram Bot API ({api}) did not answer within {seconds:g} s"
    if isinstance(exc, ClientDecodeError):
        return f"{api} does not answer like a Telegram Bot API (not JSON); check TELEGRAM_API_BASE"
    if isinstance(exc, TelegramNetworkError):
        return f"cannot reach the Telegram Bot API ({api}): {exc.message}"
    if isinstance(exc, TelegramAPIError):
        return f"the Telegram Bot API ({api}) refused getMe: {exc.message}"
    return None


async def check_bot_api(settings: Settings, seconds: float) -> Verdict:
    problem = settings.token_problem()
    if problem:
        return Verdict("telegram", FAIL, problem)
    from bot.app import make_bot

    bot = make_bot(settings)
    try:
        async with asyncio.timeout(seconds):
            me = await bot.get_me(request_timeout=int(seconds) + 5)
    except Exception as exc:
        explained = bot_api_problem(exc, settings, seconds)
        return Verdict("telegram", FAIL, explained or first_line(exc))
    finally:
        await bot.session.close()
    return Verdict("telegram", OK, f"token accepted: @{me.username} (id {me.id})")


async def check_metrics(settings: Settings, seconds: float) -> Verdict:
    """The running bot's own health endpoint (only when METRICS_PORT is set)."""
    if not settings.metrics_port:
        return Verdict("bot", SKIP, "health endpoint off (set METRICS_PORT to check the bot)")
    import aiohttp

    host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::", "") else settings.metrics_host
    url = f"http://{host}:{settings.metrics_port}/healthz"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as http,
            http.get(url) as response,
        ):
            body = (await response.text()).strip()
    except TimeoutError:
        return Verdict("bot", FAIL, f"{url}: no answer within {seconds:g} s")
    except aiohttp.ClientError as exc:
        return Verdict("bot", FAIL, f"{url}: not running? ({first_line(exc)})")
    if response.status != 200:
        return Verdict("bot", FAIL, f"{url}: {response.status} {body}")
    return Verdict("bot", OK, f"{url}: {body}")


async def run_checks(settings: Settings, seconds: float, *, telegram: bool = True) -> list[Verdict]:
    verdicts = [describe_settings(settings)]
    verdicts.append(await check_database(settings, seconds))
    verdicts.append(await check_redis(settings, seconds))
    if telegram:
        verdicts.append(await check_bot_api(settings, seconds))
    else:
        verdicts.append(Verdict("telegram", SKIP, "not checked (--no-telegram)"))
    verdicts.append(await check_metrics(settings, seconds))
    return verdicts
