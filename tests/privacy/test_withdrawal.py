"""A withdrawal of consent stops processing (issue 11): no new report is taken from the
household until the request is closed, and the decision is recorded per purpose."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Consent, Person, Report
from bot.services import data_requests, reports
from bot.services.errors import DomainError
from bot.settings import Settings
from messages import Catalog
from tests.support.community import SeededCommunity


async def test_withdrawal_stops_reports(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    async with sessionmaker.begin() as session:
        head = Person(telegram_user_id=5001, name="张三", is_head=True, created_at=clock.now(),
                      household_id=community.household("阳光花园/1栋/1单元/101"))  # fmt: skip
        session.add(head)
        await session.flush()
        req, blockers, new = await data_requests.request(
            session, clock, catalog, settings, person=head, kind="withdrawal", locale="zh-CN"
        )
        assert new and blockers == [] and req.status == "open"
        with pytest.raises(DomainError) as refused:
            await reports.submit_symptom(
                session, clock, catalog, reporter=head, subject_id=head.id,
                symptoms=["cough"], temperature=Decimal("37.0"), since=date(2022, 3, 9),
            )  # fmt: skip
        assert refused.value.key == "privacy.withdrawn"
        assert (await session.scalars(select(Report))).all() == []
        consents = (await session.scalars(select(Consent).order_by(Consent.id))).all()
        assert [(c.purpose, c.granted) for c in consents] == [
            ("personal", False), ("health", False)
        ]  # fmt: skip


async def test_staff_must_lose_their_roles_before_erasure(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    from bot.services.identity import load_identity
    from tests.support.community import OFFICER_ID

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    async with sessionmaker.begin() as session:
        officer = (await load_identity(session, OFFICER_ID)).person
        assert officer is not None
        officer.household_id = community.household("阳光花园/1栋/1单元/102")
        with pytest.raises(DomainError) as refused:
            await data_requests.request(
                session, clock, catalog, settings, person=officer, kind="deletion", locale="en"
            )
        assert refused.value.key == "privacy.staff_first"
