"""Settings read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import hashlib
import hmac
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Telegram tokens look like "123456789:AA...": a numeric bot id, a colon, a secret.
_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{10,}$")

# Telegram accepts 1-256 characters A-Z a-z 0-9 _ - as a webhook's secret_token.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MIN_WEBHOOK_SECRET = 32

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/community_guard.db"


def normalise_database_url(value: str) -> str:
    """Accept the URLs people copy from elsewhere and name the async driver we use:
    `postgresql://` and `postgres://` become `postgresql+asyncpg://`, `sqlite://` becomes
    `sqlite+aiosqlite://`. Anything else is refused with a hint."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise ValueError(
            "is not a database URL (e.g. sqlite+aiosqlite:///data/community_guard.db or "
            "postgresql+asyncpg://user:password@host:5432/dbname)"
        )
    scheme = scheme.lower()
    if scheme in {"postgresql", "postgres", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(
        f"driver {scheme!r} is not supported: use postgresql+asyncpg://… or sqlite+aiosqlite:///…"
    )


class Settings(BaseSettings):
    """Everything configurable about one deployment. See the README's settings table."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr = Field(default=SecretStr(""))
    database_url: str = DEFAULT_DATABASE_URL
    #: PostgreSQL connections kept per process (+ overflow under bursts). A handler
    #: holds one only for its database work (it commits before calling Telegram).
    database_pool_size: int = Field(default=20, ge=1, le=500)
    database_max_overflow: int = Field(default=20, ge=0, le=500)
    redis_url: str | None = None
    redis_prefix: str = "cg"
    #: One bot per district (issue 17): the ids of the communities this bot serves,
    #: comma-separated ("3,7,12"); empty: all. Its scheduler works only for them.
    communities: str = ""
    # seconds a per-user update lock in Redis lives (a killed process's lock expires)
    redis_lock_timeout: int = 10
    telegram_api_base: str | None = None
    default_timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"

    # webhook mode (polling when webhook_url is empty)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    # Empty: "/telegram/<32 hex characters derived from WEBHOOK_SECRET>", a path nobody
    # can guess, stable across restarts and instances.
    webhook_path: str | None = None
    # scale-out (docs/scale-out.md): several processes share the webhook port
    # (SO_REUSEPORT); `run --workers N` sets these for its children.
    webhook_reuse_port: bool = False
    webhook_register: bool = True
    # a leader silent this long loses its lock session (bot/leader.py; 0: never)
    leader_session_timeout: int = 12

    # sender limits: Telegram's published limits. The sender counts them in sliding
    # windows on the actual send times (bot/sender.py), so no headroom is needed.
    send_rate_per_second: float = Field(default=30.0, gt=0)
    send_rate_per_chat_per_second: float = Field(default=1.0, gt=0)
    send_rate_per_group_per_minute: float = Field(default=20.0, gt=0)
    allow_paid_broadcast: bool = False
    paid_broadcast_rate_per_second: float = Field(default=900.0, gt=0)
    send_max_attempts: int = Field(default=8, ge=1)
    #: Sends in flight at once (chats being sent to concurrently).
    send_concurrency: int = Field(default=64, ge=1, le=1024)

    # privacy (docs/privacy.md): days after the end of the purpose (isolation released,
    # case closed, passage recorded...) before personal data is deleted or anonymised
    retention_days: int = Field(default=180, ge=1)
    outbox_retention_days: int = Field(default=30, ge=1)
    fsm_retention_days: int = Field(default=7, ge=1)
    audit_retention_days: int = Field(default=365, ge=1)
    # a deletion request with nothing legally open is carried out after this many days
    # unless an officer confirms (or declines) it earlier
    deletion_auto_days: int = Field(default=7, ge=0)
    purge_batch_size: int = Field(default=1000, ge=1)
    # local hour (DEFAULT_TIMEZONE) after which the daily purge runs
    purge_hour: int = Field(default=3, ge=0, le=23)

    # cases (docs/officers.md): reminders of an unacknowledged urgent case in the officers'
    # chat; after the last one the community's officers and admins are told privately once
    case_realert_max: int = Field(default=3, ge=1, le=48)

    # operations
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    startup_timeout: float = Field(default=10.0, gt=0, le=300)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("redis_url", "telegram_api_base", "webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("telegram_api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/") if value else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^/\s]+", value):
            raise ValueError(
                "must start with https:// (Telegram delivers webhooks over HTTPS only)"
            )
        return value

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str | None) -> str | None:
        if value and not value.startswith("/"):
            raise ValueError("must start with /")
        return value or None

    # the handler core (docs/design-core.md)
    # on SIGTERM/SIGINT, how long handlers in flight and the sender may take to finish
    shutdown_timeout: float = Field(default=20.0, ge=0)
    # a reply Telegram refuses with 429 is retried once when retry_after is at most this;
    # otherwise (or when the retry fails too) it goes into the outbox
    reply_retry_max_seconds: float = Field(default=5.0, ge=0)

    # supplies under a seal (R-SUPPLY): a request neither delivered nor confirmed after
    # this many minutes is overdue and becomes a case
    supply_overdue_minutes: int = 240
    # care (R-CARE): a daily contact check unanswered after this many hours becomes a
    # call task (a case) for the grid worker
    care_check_answer_hours: int = 4
    # duty rosters (R-ROSTER): the reminder (and the unfilled-shift alert) this many
    # minutes before a shift; the unconfirmed-shift alert this many minutes after its start
    shift_reminder_minutes: int = 60
    shift_confirm_grace_minutes: int = 15

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

    @property
    def webhook_secret_value(self) -> str:
        """WEBHOOK_SECRET as text ("" when unset)."""
        return self.webhook_secret.get_secret_value() if self.webhook_secret else ""

    def webhook_problem(self) -> str | None:
        """Why webhook mode must not start, or None. Without a long secret anyone who
        finds the URL could forge updates (a resident's report, an officer's button)."""
        secret = self.webhook_secret_value
        if len(secret) < MIN_WEBHOOK_SECRET or not _SECRET_RE.match(secret):
            return (
                f"WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} characters of "
                "A-Z a-z 0-9 _ - in webhook mode; generate one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return None

    def webhook_route(self) -> str:
        """The webhook's path: WEBHOOK_PATH, or one with a part derived from the secret."""
        if self.webhook_path:
            return "/" + self.webhook_path.lstrip("/")
        secret = self.webhook_secret_value
        digest = hmac.new(secret.encode(), b"webhook-path", hashlib.sha256).hexdigest()
        return f"/telegram/{digest[:32]}"

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
    def bot_id(self) -> int:
        """The bot's id (the token's number, public): keys its leader lock, fencing
        epoch, inbox and outbox rows, so several bots can share one database. 0
        without a well-formed token."""
        number = self.bot_token.get_secret_value().partition(":")[0]
        return int(number) if number.isdigit() else 0

    @property
    def community_ids(self) -> frozenset[int] | None:
        """COMMUNITIES as ids; None: every community."""
        parts = [p.strip() for p in self.communities.split(",") if p.strip()]
        return frozenset(int(p) for p in parts) if parts else None

    @field_validator("communities")
    @classmethod
    def _communities(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise ValueError("COMMUNITIES must be community ids separated by commas, e.g. 3,7,12")
        return ",".join(parts)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
