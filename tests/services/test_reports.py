"""Reports services (R-RET, R-VIS, R-TEN, R-SYM, R-TIP, R-SUP) and risk areas."""
# ruff: noqa: C408

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    AuditEntry,
    Case,
    Community,
    Delivery,
    Isolation,
    Person,
    Report,
)
from bot.services import cases, clinics, reports, risk_areas
from bot.services.errors import DomainError
from messages import Catalog
from tests.support.community import ADMIN_ID, SeededCommunity

OFFICER_CHAT = -100777
SHENZHEN_NANSHAN = "440305"


async def _resident(
    session: AsyncSession, clock: FakeClock, community: SeededCommunity, *, tg: int = 5001
) -> tuple[Person, Person]:
    """A head of household with Telegram and a member without."""
    household = community.household("阳光花园/1栋/1单元/101")
    head = Person(
        telegram_user_id=tg, household_id=household, name="张三", phone="+8613800138000",
        is_head=True, created_at=clock.now(),
    )  # fmt: skip
    grandma = Person(
        household_id=household, name="张奶奶", relation="grandparent", created_at=clock.now()
    )
    session.add_all([head, grandma])
    c = await session.get(Community, community.community_id)
    assert c is not None
    c.officer_chat_id = OFFICER_CHAT
    await session.flush()
    return head, grandma


async def _add_risk(
    session: AsyncSession, clock: FakeClock, community: SeededCommunity, text: str
) -> None:
    admin = await session.scalar(select(Person).where(Person.telegram_user_id == ADMIN_ID))
    args = risk_areas.parse_add_args(text, date(2022, 3, 10))
    await risk_areas.add_risk_area(
        session, clock, community_id=community.community_id, args=args, actor=admin
    )


async def test_risk_area_matching_at_any_level_and_dates(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        await _add_risk(session, clock, community, "深圳 high 3-1 3-20")
        await _add_risk(session, clock, community, "广东省 low 2022-03-01")
        cid = community.community_id
        assert (
            await risk_areas.risk_level(session, cid, SHENZHEN_NANSHAN, date(2022, 3, 5)) == "high"
        )
        # outside the dates of the high area: only the province-wide low one applies
        assert (
            await risk_areas.risk_level(session, cid, SHENZHEN_NANSHAN, date(2022, 3, 21)) == "low"
        )
        assert await risk_areas.risk_level(session, cid, "110105", date(2022, 3, 5)) is None
        areas = await risk_areas.list_risk_areas(session, cid)
        await risk_areas.remove_risk_area(
            session, clock, community_id=cid, area_id=areas[-1].id, actor=None
        )
        with pytest.raises(DomainError):
            await risk_areas.remove_risk_area(
                session, clock, community_id=cid, area_id=areas[-1].id, actor=None
            )
        assert (
            await risk_areas.risk_level(session, cid, SHENZHEN_NANSHAN, date(2022, 3, 5)) == "low"
        )
    with pytest.raises(DomainError) as exc:
        risk_areas.parse_add_args("朝阳 high", date(2022, 3, 10))
    assert exc.value.key == "risk.place_ambiguous"
    for bad in ("火星 high", "深圳", "深圳 high 3-20 3-1", "深圳 high 2月30日"):
        with pytest.raises(DomainError):
            risk_areas.parse_add_args(bad, date(2022, 3, 10))


async def test_return_from_risk_area_isolates_every_traveller_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, grandma = await _resident(session, clock, community)
        await _add_risk(session, clock, community, "深圳 medium 3-1")
        kwargs = dict(
            reporter=head,
            origin_code=SHENZHEN_NANSHAN,
            arrival_date=date(2022, 3, 9),
            transport="train",
            traveller_ids=[head.id, grandma.id],
        )
        result = await reports.submit_return(session, clock, catalog, **kwargs)  # type: ignore[arg-type]
        assert result.created and result.risk_level == "medium"
        assert [i.end_date for i in result.isolations] == [date(2022, 3, 22)] * 2
        assert result.case is not None and result.case.urgent
        again = await reports.submit_return(session, clock, catalog, **kwargs)  # type: ignore[arg-type]
        assert not again.created and again.report.id == result.report.id
        assert again.case is not None and again.case.id == result.case.id
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Report)) == 1
        assert await session.scalar(select(func.count()).select_from(Isolation)) == 2
        assert await session.scalar(select(func.count()).select_from(Case)) == 1
        # the whole card goes privately to the grid worker; the officers' chat (a
        # group) gets no name
        card = await session.scalar(select(Delivery).where(Delivery.kind == "case_private"))
        assert (
            card is not None
            and "张奶奶" in card.payload["text"]
            and "2022-03-22" in card.payload["text"]
        )
        group = await session.scalar(select(Delivery).where(Delivery.kind == "case_card"))
        assert group is not None and "张奶奶" not in group.payload["text"]
        actions = set(await session.scalars(select(AuditEntry.action)))
        assert {"report.return", "isolation.start", "case.open"} <= actions


async def test_return_without_risk_is_only_recorded_and_bad_input_refused(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, _ = await _resident(session, clock, community)
        result = await reports.submit_return(
            session, clock, catalog, reporter=head, origin_code="110105",
            arrival_date=date(2022, 3, 9), transport="plane", traveller_ids=[head.id],
        )  # fmt: skip
        assert result.risk_level is None and result.case is None and result.isolations == []
        stranger = Person(name="外人", created_at=clock.now())
        session.add(stranger)
        await session.flush()
        bad_calls = [
            dict(
                origin_code="999999",
                arrival_date=date(2022, 3, 9),
                transport="car",
                traveller_ids=[head.id],
            ),
            dict(
                origin_code="110105",
                arrival_date=date(2022, 3, 11),
                transport="car",
                traveller_ids=[head.id],
            ),
            dict(
                origin_code="110105",
                arrival_date=date(2022, 3, 9),
                transport="rocket",
                traveller_ids=[head.id],
            ),
            dict(
                origin_code="110105",
                arrival_date=date(2022, 3, 9),
                transport="car",
                traveller_ids=[stranger.id],
            ),
        ]
        for bad in bad_calls:
            with pytest.raises(DomainError):
                await reports.submit_return(session, clock, catalog, reporter=head, **bad)  # type: ignore[arg-type]
        with pytest.raises(DomainError):
            await reports.submit_return(
                session, clock, catalog, reporter=stranger, origin_code="110105",
                arrival_date=date(2022, 3, 9), transport="car", traveller_ids=[stranger.id],
            )  # fmt: skip


async def test_visit_from_risk_area_isolates_the_visitor(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, _ = await _resident(session, clock, community)
        await _add_risk(session, clock, community, "广东 high 3-1")
        result = await reports.submit_visit(
            session, clock, catalog, reporter=head, visitor_name="李表哥", visitor_phone="",
            origin_code=SHENZHEN_NANSHAN, arrival_date=date(2022, 3, 10), stay_days=5,
        )  # fmt: skip
        assert result.case is not None and result.isolations[0].end_date == date(2022, 3, 23)
        visitor = await session.get(Person, result.isolations[0].person_id)
        assert visitor is not None and visitor.household_id == head.household_id
        assert visitor.telegram_user_id is None and visitor.reported_by_id == head.id


async def test_symptom_always_urgent_with_clinics(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, grandma = await _resident(session, clock, community)
        c = await session.get(Community, community.community_id)
        assert c is not None
        clinic = clinics.parse_clinic("市一医院发热门诊|解放路1号|027-1234")
        await clinics.add_clinic(session, clock, community=c, clinic=clinic, actor=None)
        result = await reports.submit_symptom(
            session, clock, catalog, reporter=head, subject_id=grandma.id,
            symptoms=["cough", "fever"], temperature=Decimal("38.2"), since=date(2022, 3, 9),
        )  # fmt: skip
        assert result.case is not None and result.case.urgent
        assert result.clinics[0]["name"] == "市一医院发热门诊"
        card = await session.scalar(select(Delivery).where(Delivery.kind == "case_private"))
        assert (
            card is not None and "38.2" in card.payload["text"] and "张奶奶" in card.payload["text"]
        )
        with pytest.raises(DomainError):
            await reports.submit_symptom(
                session, clock, catalog, reporter=head, subject_id=grandma.id,
                symptoms=["plague"], temperature=None, since=date(2022, 3, 9),
            )  # fmt: skip
        removed = await clinics.remove_clinic(session, clock, community=c, number=1, actor=None)
        assert removed["address"] == "解放路1号" and c.fever_clinics == []


async def test_tipoff_card_never_names_the_reporter(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, _ = await _resident(session, clock, community)
        result = await reports.submit_tipoff(
            session, clock, catalog, reporter=head, concern="return",
            about="2栋1单元302", text="<b>昨晚</b>有人从外地回来没报备",
        )  # fmt: skip
        # nobody can find the reporter: not on the report, the case or the audit log
        assert result.report.anonymous and result.report.reporter_id is None
        assert result.report.household_id is None
        assert result.case is not None and result.case.reporter_id is None
        assert result.case.household_id is None and result.case.subject_id is None
        entries = (await session.scalars(select(AuditEntry))).all()
        tipoff = [e for e in entries if e.action == "report.tipoff"]
        assert [(e.actor_id, e.actor_telegram_id) for e in tipoff] == [(None, None)]
        card = await session.scalar(select(Delivery))
        assert card is not None
        text = card.payload["text"]
        assert "张三" not in text and "13800138000" not in text and "101" not in text
        full, _ = await cases.render_card(session, clock, catalog, result.case, full=True)
        assert "张三" not in full and "13800138000" not in full
        assert "&lt;b&gt;昨晚&lt;/b&gt;" in full


async def test_supplies_only_for_households_in_isolation(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, grandma = await _resident(session, clock, community)
        with pytest.raises(DomainError) as exc:
            await reports.submit_supplies(
                session, clock, catalog, reporter=head, need="food", text="米面"
            )
        assert exc.value.key == "reports.supplies_not_isolated"
        await _add_risk(session, clock, community, "深圳 high 3-1")
        await reports.submit_return(
            session, clock, catalog, reporter=head, origin_code=SHENZHEN_NANSHAN,
            arrival_date=date(2022, 3, 9), transport="car", traveller_ids=[grandma.id],
        )  # fmt: skip
        result = await reports.submit_supplies(
            session, clock, catalog, reporter=head, need="medicine", text="降压药"
        )
        assert result.case is not None and result.case.kind == "supplies" and result.case.urgent
        assert result.case.subject_id == grandma.id and result.case.isolation_id is not None


async def test_tenant_registered_and_officers_told(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    async with sessionmaker.begin() as session:
        head, _ = await _resident(session, clock, community)
        result = await reports.submit_tenant(
            session, clock, catalog, reporter=head, names=["王五", "赵六"], origin_code="110105",
            move_in_date=date(2022, 3, 12), phone="+8613900139000", room="2栋1单元201",
        )  # fmt: skip
        assert result.case is not None and not result.case.urgent
        assert result.report.details["names"] == ["王五", "赵六"]
