"""Scripted failures: one-shot error answers, slow answers and dropped connections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.double.models import ApiError

_DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

FaultKind = Literal["error", "delay", "drop"]


@dataclass(slots=True)
class Fault:
    """One scripted misbehaviour; ``remaining=None`` means until ``Faults.clear()``."""

    kind: FaultKind
    method: str | None
    chat_id: int | str | None
    remaining: int | None
    error: ApiError | None = None
    seconds: float = 0.0

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


class Faults:
    """Fault injection registry, reachable as ``double.faults``.

    Faults are consumed in the order they were added; ``method=None`` matches any method
    and ``chat_id=None`` any chat.
    """

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None = "sendMessage",
        chat_id: int | str | None = None,
        error_code: int = 403,
        description: str | None = None,
        times: int | None = 1,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching calls with an error (``None`` = forever)."""
        if description is None:
            description = _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
            if error_code == 429 and retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        parameters: dict[str, Any] = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        fault = Fault(
            kind="error",
            method=method,
            chat_id=chat_id,
            remaining=times,
            error=ApiError(error_code, description, parameters or None),
        )
        self._faults.append(fault)
        return fault

    def delay(
        self,
        method: str | None,
        seconds: float,
        times: int | None = None,
        chat_id: int | str | None = None,
    ) -> Fault:
        """Sleep ``seconds`` server-side before answering (default: every matching call)."""
        fault = Fault(
            kind="delay", method=method, chat_id=chat_id, remaining=times, seconds=seconds
        )
        self._faults.append(fault)
        return fault

    def drop(
        self, method: str | None, times: int | None = 1, chat_id: int | str | None = None
    ) -> Fault:
        """Close the connection without answering (client sees a disconnect)."""
        fault = Fault(kind="drop", method=method, chat_id=chat_id, remaining=times)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every scripted fault."""
        self._faults.clear()

    def take(self, method: str, params: dict[str, Any]) -> list[Fault]:
        """Consume the faults that apply to this call: delays first, then one error/drop."""
        taken: list[Fault] = []
        terminal_taken = False
        for fault in self._faults:
            if not fault.matches(method, params):
                continue
            if fault.kind != "delay":
                if terminal_taken:
                    continue
                terminal_taken = True
            if fault.remaining is not None:
                fault.remaining -= 1
            taken.append(fault)
        self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return taken
