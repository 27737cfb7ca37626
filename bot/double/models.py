"""Public value types of the Bot API double.

Everything here is plain data: the double's behaviour lives in ``state``, ``methods`` and
``server``. The shapes mirror the Bot API JSON so that tests can compare against what
Telegram would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ChatType = Literal["private", "group", "supergroup", "channel"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

#: Methods that deliver a message and therefore count against Telegram's flood limits.
SENDING_METHODS: frozenset[str] = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendMediaGroup",
        "sendContact",
        "sendLocation",
        "copyMessage",
        "forwardMessage",
    }
)


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A Telegram user the tests act as (``is_bot`` is always False for people)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        if self.language_code is not None:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True, slots=True)
class FakeChat:
    """A chat known to the double (private chats are created when a user writes first)."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``Chat`` object."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's documented flood limits; ``enabled=False`` turns all of them off."""

    per_bot_per_second: int = 30
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    paid_broadcast_per_second: int = 1000
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A multipart file part as received from the bot."""

    filename: str
    content: bytes
    content_type: str | None = None

    def __repr__(self) -> str:  # keeps call logs readable when a test fails
        return f"UploadedFile({self.filename!r}, {len(self.content)} bytes)"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file known to the double, downloadable via getFile + /file/bot<token>/<path>."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None

    @property
    def file_size(self) -> int:
        """Size in bytes, as Telegram reports it."""
        return len(self.content)


@dataclass(frozen=True)
class SentMessage:
    """Snapshot of a message the bot sent, as Telegram would show it in the chat.

    ``text``/``caption`` are the rendered strings (HTML tags stripped), ``raw_text``/
    ``raw_caption`` are exactly what the bot sent, ``reply_markup`` is whatever markup
    the bot sent (inline or reply keyboard), ``data`` is the Bot API ``Message`` JSON.
    """

    chat_id: int
    message_id: int
    date: int
    kind: str
    text: str | None = None
    caption: str | None = None
    raw_text: str | None = None
    raw_caption: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    pinned: bool = False
    edited: bool = False
    document: dict[str, Any] | None = None
    photo: list[dict[str, Any]] | None = None
    media_group_id: str | None = None
    reply_to_message_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str | None:
        """Text for text messages, caption for media messages."""
        return self.text if self.text is not None else self.caption


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request the bot made, with the JSON the double answered."""

    seq: int
    method: str
    params: dict[str, Any]
    at: float
    response: dict[str, Any]
    status: int = 200
    #: Messages this call created (sends, copies, forwards, album items).
    messages: tuple[SentMessage, ...] = ()
    #: Messages this call changed (editMessage*), as they look after the edit.
    edited: tuple[SentMessage, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether Telegram would have answered ``ok: true``."""
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        """The ``result`` field of a successful answer (None for errors)."""
        return self.response.get("result")

    @property
    def error_code(self) -> int | None:
        """The ``error_code`` of a failed answer."""
        code = self.response.get("error_code")
        return int(code) if code is not None else None

    @property
    def description(self) -> str | None:
        """The ``description`` of the answer, if any."""
        value = self.response.get("description")
        return str(value) if value is not None else None

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter (int, ``@username`` or None)."""
        return self.params.get("chat_id")


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """What the bot answered to a callback query (answerCallbackQuery)."""

    callback_query_id: str
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


class ApiError(Exception):
    """An error answer of the Bot API (``ok: false``)."""

    def __init__(
        self,
        error_code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_response(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    """400 with Telegram's ``Bad Request: ...`` prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """403 with Telegram's ``Forbidden: ...`` prefix."""
    return ApiError(403, f"Forbidden: {detail}")
