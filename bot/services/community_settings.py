"""Per-community settings (R-ISO, R-CHK, R-PUB, R-COV): isolation monitoring and the
local times of the daily posts, lists and charts; shown and changed by the community's
officers, validated, and audited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Person
from bot.services import audit
from bot.services.errors import DomainError

SETTING_NAMES: tuple[str, ...] = (
    "checkin_time",
    "reminder_times",
    "misses_for_case",
    "fever_threshold",
    "isolation_days",
    "timezone",
    "public_post_time",
    "coverage_list_time",
    "chart_time",
)
#: Settings that are a local time of day (HH:MM), validated at entry.
TIME_SETTINGS: frozenset[str] = frozenset(
    {"checkin_time", "public_post_time", "coverage_list_time", "chart_time"}
)
_TIME = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


@dataclass(frozen=True)
class SettingsView:
    checkin_time: str
    reminder_times: list[str]
    misses_for_case: int
    fever_threshold: str
    isolation_days: int
    timezone: str
    public_post_time: str
    coverage_list_time: str
    chart_time: str


def view(community: Community) -> SettingsView:
    return SettingsView(
        checkin_time=community.checkin_time.strftime("%H:%M"),
        reminder_times=list(community.reminder_times or []),
        misses_for_case=community.misses_for_case,
        fever_threshold=str(community.fever_threshold),
        isolation_days=community.isolation_days,
        timezone=community.timezone,
        public_post_time=community.public_post_time.strftime("%H:%M"),
        coverage_list_time=community.coverage_list_time.strftime("%H:%M"),
        chart_time=community.chart_time.strftime("%H:%M"),
    )


def _time(value: str) -> time:
    match = _TIME.match(value.strip())
    if match is None:
        raise DomainError("settings.bad_time", value=value)
    return time(int(match.group(1)), int(match.group(2)))


def _int(value: str, lo: int, hi: int) -> int:
    if not value.strip().isdigit() or not lo <= int(value) <= hi:
        raise DomainError("settings.bad_number", value=value, lo=lo, hi=hi)
    return int(value)


def parse_setting(name: str, value: str) -> Any:
    """The typed value of one setting, or DomainError with a message key."""
    if name in TIME_SETTINGS:
        return _time(value)
    if name == "reminder_times":
        parts = [p for p in re.split(r"[,，\s]+", value.strip()) if p]
        if value.strip() in {"-", "none", "无"}:
            return []
        times = sorted({_time(p) for p in parts})
        if not times or len(times) > 6:
            raise DomainError("settings.bad_reminders", value=value)
        return [t.strftime("%H:%M") for t in times]
    if name == "misses_for_case":
        return _int(value, 1, 14)
    if name == "isolation_days":
        return _int(value, 1, 60)
    if name == "fever_threshold":
        try:
            threshold = Decimal(value.strip().replace(",", ".")).quantize(Decimal("0.1"))
        except InvalidOperation:
            raise DomainError("settings.bad_threshold", value=value) from None
        if not Decimal("37.0") <= threshold <= Decimal("39.0"):
            raise DomainError("settings.bad_threshold", value=value)
        return threshold
    if name == "timezone":
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise DomainError("settings.bad_timezone", value=value) from None
        return value.strip()
    raise DomainError("settings.unknown", name=name, names=", ".join(SETTING_NAMES))


async def change_setting(
    session: AsyncSession,
    clock: Clock,
    *,
    community: Community,
    name: str,
    value: str,
    actor: Person | None,
) -> SettingsView:
    """Validate and store one setting; audited with the old and new value.
    A new isolation length applies to isolations started from now on."""
    parsed = parse_setting(name, value)
    old = getattr(view(community), name)
    setattr(community, name, parsed)
    new = getattr(view(community), name)
    await audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="community.setting",
        entity="community",
        entity_id=community.id,
        details={"name": name, "from": old, "to": new},
    )
    return view(community)
