"""A Telegram Bot API test double served over real HTTP.

See ``BotApiDouble`` for the entry point; the value types are re-exported here.
"""

from bot.double.faults import Fault, Faults
from bot.double.models import (
    SENDING_METHODS,
    ApiCall,
    ApiError,
    CallbackAnswer,
    ChatType,
    FakeChat,
    FakeUser,
    MemberStatus,
    RateLimits,
    SentMessage,
    StoredFile,
    UploadedFile,
)
from bot.double.server import BotApiDouble

__all__ = [
    "SENDING_METHODS",
    "ApiCall",
    "ApiError",
    "BotApiDouble",
    "CallbackAnswer",
    "ChatType",
    "FakeChat",
    "FakeUser",
    "Fault",
    "Faults",
    "MemberStatus",
    "RateLimits",
    "SentMessage",
    "StoredFile",
    "UploadedFile",
]
