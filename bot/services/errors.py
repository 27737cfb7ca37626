"""Domain errors carry a message key (rendered by handlers), never user-facing text."""

from __future__ import annotations

from typing import Any

#: A parameter echoed in the message (often what the user typed) is cut to this length,
#: so that a 5,000-character argument cannot push the answer past Telegram's 4,096.
PARAM_MAX_LEN = 300


class DomainError(Exception):
    """A rule of the domain refused an action; `key` names the message to show."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = {name: _short(value) for name, value in params.items()}


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > PARAM_MAX_LEN:
        return value[: PARAM_MAX_LEN - 1] + "…"
    return value


class NotAllowed(DomainError):
    """The actor lacks the role (checked in the database) for this action."""

    def __init__(self, key: str = "common.not_allowed", **params: Any) -> None:
        super().__init__(key, **params)


class NotFound(DomainError):
    def __init__(self, key: str = "common.not_found", **params: Any) -> None:
        super().__init__(key, **params)


class RecordedRefusal(DomainError):
    """A refusal that is itself a fact to keep, e.g. the audit row of a passage refused
    at the gate: what the update wrote before it commits (DbSessionMiddleware), then the
    error path answers as for any DomainError."""
