"""Small pure pieces of isolation monitoring: callback sizes and settings validation."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from bot.presentation.callbacks import CheckinCb, IsolationCb
from bot.services.community_settings import parse_setting
from bot.services.errors import DomainError

BIG = 2**63 - 1


def test_callback_data_fits_telegram_limit() -> None:
    for answer in ("normal", "fever", "other", "type"):
        assert len(CheckinCb(answer=answer, checkin_id=BIG).pack().encode()) <= 64
    for action in ("extend", "early", "hospital"):
        packed = IsolationCb(action=action, isolation_id=BIG, days=30).pack()
        assert len(packed.encode()) <= 64
    assert CheckinCb.unpack("ci:normal:12") == CheckinCb(answer="normal", checkin_id=12)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("checkin_time", "8:30", time(8, 30)),
        ("checkin_time", "08：05", time(8, 5)),
        ("reminder_times", "19:00，12:30 12:30", ["12:30", "19:00"]),
        ("reminder_times", "-", []),
        ("misses_for_case", "2", 2),
        ("fever_threshold", "37,5", Decimal("37.5")),
        ("isolation_days", "21", 21),
        ("timezone", "America/New_York", "America/New_York"),
    ],
)
def test_settings_accepted(name: str, value: str, expected: object) -> None:
    assert parse_setting(name, value) == expected


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("checkin_time", "24:00", "settings.bad_time"),
        ("checkin_time", "noon", "settings.bad_time"),
        ("reminder_times", "1,2,3", "settings.bad_time"),
        ("misses_for_case", "0", "settings.bad_number"),
        ("misses_for_case", "-1", "settings.bad_number"),
        ("isolation_days", "61", "settings.bad_number"),
        ("fever_threshold", "abc", "settings.bad_threshold"),
        ("fever_threshold", "36.0", "settings.bad_threshold"),
        ("timezone", "Mars/Base", "settings.bad_timezone"),
        ("timezone", "../etc/passwd", "settings.bad_timezone"),
        ("colour", "blue", "settings.unknown"),
    ],
)
def test_settings_refused(name: str, value: str, key: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_setting(name, value)
    assert caught.value.key == key
