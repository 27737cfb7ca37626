"""Consent per purpose with its text version; a new version asks again (issue 11)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.services import registration


async def test_a_new_text_version_asks_again(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with sessionmaker.begin() as session:
        await registration.record_consent(
            session, clock, telegram_user_id=42, locale="zh-CN", granted=True
        )
        assert await registration.has_consent(session, 42)
        assert not await registration.needs_new_consent(session, 42)
        # Nobody registered by staff (no decision on record) is asked.
        assert not await registration.needs_new_consent(session, 43)
        monkeypatch.setitem(registration.CONSENT_VERSIONS, "health", "2027-01-v2")
        assert not await registration.has_consent(session, 42)
        assert not await registration.has_consent(session, 42, ("health",))
        assert await registration.has_consent(session, 42, ("personal",))
        assert await registration.needs_new_consent(session, 42)
        await registration.record_consent(
            session, clock, telegram_user_id=42, locale="zh-CN", granted=True
        )
        assert await registration.has_consent(session, 42)
        assert not await registration.needs_new_consent(session, 42)
