"""Sliding-window flood control mimicking Telegram's documented limits."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from bot.double.models import ApiError, RateLimits


class _Window:
    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._hits: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.seconds:
            self._hits.popleft()

    def wait_time(self, now: float, limit: int | None = None) -> float:
        """Seconds until one more hit fits (0 when it fits now)."""
        self._trim(now)
        allowed = self.limit if limit is None else limit
        if len(self._hits) < allowed:
            return 0.0
        # The hit that must expire for a new one to fit.
        blocking = self._hits[len(self._hits) - allowed]
        return blocking + self.seconds - now

    def hit(self, now: float) -> None:
        self._hits.append(now)


class RateLimiter:
    """Per-bot, per-private-chat and per-group limits; only delivered messages count."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._bot = _Window(limits.per_bot_per_second, 1.0)
        self._chats: dict[int, _Window] = {}

    def _chat_window(self, chat_id: int, is_private: bool) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            if is_private:
                window = _Window(self.limits.per_chat_per_second, 1.0)
            else:
                window = _Window(self.limits.per_group_per_minute, 60.0)
            self._chats[chat_id] = window
        return window

    def check(self, chat_id: int, is_private: bool, paid_broadcast: bool = False) -> None:
        """Raise 429 if one more message to ``chat_id`` would exceed a limit."""
        if not self.limits.enabled:
            return
        now = self._clock()
        bot_limit = (
            self.limits.paid_broadcast_per_second
            if paid_broadcast
            else self.limits.per_bot_per_second
        )
        wait = max(
            self._bot.wait_time(now, bot_limit),
            self._chat_window(chat_id, is_private).wait_time(now),
        )
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )

    def record(self, chat_id: int, is_private: bool) -> None:
        """Count one delivered message."""
        if not self.limits.enabled:
            return
        now = self._clock()
        self._bot.hit(now)
        self._chat_window(chat_id, is_private).hit(now)
