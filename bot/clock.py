"""Time as a dependency: production reads the system clock, tests move a fake one."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def local_today(clock: Clock, tz: str) -> date:
    """Today's date in the community's time zone (never the server's)."""
    return clock.now().astimezone(ZoneInfo(tz)).date()


def local_day(at: datetime, tz: str) -> date:
    """The local date in zone `tz` of a stored instant (a naive one is UTC, as stored)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz)).date()


def local_now(clock: Clock, tz: str) -> datetime:
    return clock.now().astimezone(ZoneInfo(tz))


def local_days_utc(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants [local midnight starting `first`, local midnight ending `last`)
    in zone `tz`. The one helper for "these local days" (a day is 23 or 25 hours long
    where the clocks change: both ends are computed in the zone, never as +24 h)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end
