"""Settings read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Telegram tokens look like "123456789:AA...": a numeric bot id, a colon, a secret.
_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{10,}$")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/community_guard.db"


class Settings(BaseSettings):
    """Everything configurable about one deployment. See the README's settings table."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr = Field(default=SecretStr(""))
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = "cg"
    # seconds a per-user update lock in Redis lives (a killed process's lock expires)
    redis_lock_timeout: int = 10
    telegram_api_base: str | None = None
    default_timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"

    # webhook mode (polling when webhook_url is empty)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    webhook_path: str = "/telegram/webhook"
    # scale-out (docs/scale-out.md): several processes share the webhook port
    # (SO_REUSEPORT); `run --workers N` sets these for its children.
    webhook_reuse_port: bool = False
    webhook_register: bool = True
    # a leader silent this long loses its lock session (bot/leader.py; 0: never)
    leader_session_timeout: int = 12

    # sender limits (Telegram's published limits, with some headroom)
    send_rate_per_second: float = 25.0
    send_rate_per_chat_per_second: float = 1.0
    send_rate_per_group_per_minute: float = 19.0
    allow_paid_broadcast: bool = False
    paid_broadcast_rate_per_second: float = 900.0
    send_max_attempts: int = 8

    # privacy
    retention_days: int = 180

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return value

    def token_problem(self) -> str | None:
        """Why the token cannot be used, or None when it looks right."""
        token = self.bot_token.get_secret_value()
        if not token:
            return (
                "BOT_TOKEN is not set (get one from @BotFather, or try `community-guard sandbox`)"
            )
        if not _TOKEN_RE.match(token):
            return (
                "BOT_TOKEN is malformed (expected digits, a colon and the secret, "
                "e.g. 123456:ABC...)"
            )
        return None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
