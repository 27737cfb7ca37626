"""Domain errors carry a message key (rendered by handlers), never user-facing text."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain refused an action; `key` names the message to show."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


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
