"""What the core knows about the update being handled, visible to the Bot API request
middleware (which runs in the handler's task) through a ContextVar."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UpdateContext:
    update_id: int
    #: The user who sent the update (for a reply that has to go through the outbox).
    user_id: int | None = None
    #: Set once an answerCallbackQuery was sent for this update.
    callback_answered: bool = False
    #: Replies that went to the outbox because Telegram refused them twice.
    deferred: int = 0
    #: FSM writes held until the update's transaction commits (bot/core/fsm_buffer.py).
    fsm_writes: dict[Any, dict[str, Any]] = field(default_factory=dict)
    fsm_storage: Any = None
    #: The chosen handler's `end_form` flag: what a failure does to the form (core/forms.py).
    end_form: str | None = None
    #: A command left the form the user was in (core/forms.py, FormLeftByCommand).
    leaves_form: bool = False

    async def committed(self) -> None:
        """The update's transaction committed: write the FSM changes it made."""
        if self.fsm_storage is not None and self.fsm_writes:
            await self.fsm_storage.flush(self.fsm_writes)

    def rolled_back(self) -> None:
        self.fsm_writes.clear()


current_update: ContextVar[UpdateContext | None] = ContextVar("current_update", default=None)
