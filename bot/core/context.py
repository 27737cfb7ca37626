"""What the core knows about the update being handled, visible to the Bot API request
middleware (which runs in the handler's task) through a ContextVar."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class UpdateContext:
    update_id: int
    #: The user who sent the update (for a reply that has to go through the outbox).
    user_id: int | None = None
    #: Set once an answerCallbackQuery was sent for this update.
    callback_answered: bool = False
    #: Replies that went to the outbox because Telegram refused them twice.
    deferred: int = 0


current_update: ContextVar[UpdateContext | None] = ContextVar("current_update", default=None)
