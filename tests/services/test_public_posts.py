"""R-PUB: the daily posting per compound, with small counts suppressed and nothing
that identifies a person in the group text."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    Delivery,
    GateEntry,
    GroupChat,
    Isolation,
    IsolationStatus,
    Person,
    Report,
    ReportKind,
)
from bot.services.public_posts import CompoundCounts, queue_daily_posts, render_post, shown
from messages import Catalog
from scheduler import JobContext, tick
from tests.conftest import SHANGHAI
from tests.support.community import SeededCommunity


def test_suppression_rule() -> None:
    # Banded: 0 stays 0, 1..k-1 is "fewer than k", k and more round down to a multiple of k.
    assert [shown(n, 3) for n in (0, 1, 2, 3, 5, 6, 10)] == [0, None, None, 3, 3, 6, 9]
    assert shown(4, 5) is None and shown(5, 5) == 5 and shown(9, 5) == 5


def test_rendered_text_shows_bands_of_last_week_in_both_languages(catalog: Catalog) -> None:
    counts = CompoundCounts(returns=1, visitors=0, in_isolation=7, released=2)
    zh = render_post(
        catalog, "zh-CN", compound="阳光花园", day=date(2022, 3, 10), counts=counts, minimum=3
    )
    assert zh == (
        "📊 <b>阳光花园 防控通报（2022-03-10）</b>\n"
        "上周（2022-02-28–2022-03-06）情况：\n"
        "新返回：少于 3 人\n"
        "来访登记：0 人次\n"
        "周日居家隔离中：6–8 人\n"
        "解除隔离：少于 3 人\n\n"
        "为保护个人隐私，数字按周统计、按每 3 人一档公布，少于 3 的不公布具体值。"
        "请大家做好个人防护，有情况请私聊我报告。"
    )
    en = render_post(
        catalog, "en", compound="<b>X</b>", day=date(2022, 3, 10), counts=counts, minimum=3
    )
    assert "New returns: fewer than 3" in en and "In home isolation on Sunday: 6–8" in en
    assert "Last week (2022-02-28–2022-03-06):" in en
    assert "&lt;b&gt;X&lt;/b&gt;" in en  # names of compounds are escaped


async def seed_activity(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    cid = community.community_id
    sunshine = community.compound_ids["阳光花园"]
    happy = community.compound_ids["幸福里"]
    today = date(2022, 3, 10)
    async with sessionmaker.begin() as session:
        session.add(
            GroupChat(chat_id=-1001, compound_id=sunshine, title="阳光", bound_at=clock.now())
        )
        session.add(GroupChat(chat_id=-1002, compound_id=happy, title="幸福", bound_at=clock.now()))
        session.add(
            GroupChat(
                chat_id=-1003, compound_id=happy, title="旧群", bound_at=clock.now(), active=False
            )
        )
        people = []
        for i, room in enumerate(["101", "102", "201", "202", "301"]):
            person = Person(
                name=f"隔离人{i}",
                household_id=community.household(f"阳光花园/1栋/1单元/{room}"),
                created_at=clock.now(),
            )
            session.add(person)
            people.append(person)
        lonely = Person(
            name="王独居",
            household_id=community.household("幸福里/A座/1单元/101"),
            created_at=clock.now(),
        )
        session.add(lonely)
        await session.flush()
        # 阳光花园: 4 returns today (shown), 1 yesterday (not today), 4 in isolation,
        # 1 released today (suppressed).
        for person in people[:4]:
            session.add(
                Report(
                    community_id=cid,
                    kind=ReportKind.RETURN,
                    household_id=person.household_id,
                    subject_id=person.id,
                    created_at=clock.now(),
                )
            )
            session.add(
                Isolation(
                    community_id=cid,
                    person_id=person.id,
                    start_date=today,
                    end_date=today + timedelta(days=13),
                    created_at=clock.now(),
                )
            )
        session.add(
            Report(
                community_id=cid,
                kind=ReportKind.RETURN,
                household_id=people[4].household_id,
                created_at=clock.now() - timedelta(days=1),
            )
        )
        session.add(
            Isolation(
                community_id=cid,
                person_id=people[4].id,
                start_date=today - timedelta(days=14),
                end_date=today,
                status=IsolationStatus.RELEASED,
                created_at=clock.now(),
            )
        )
        # 幸福里: a single return and a single isolation: both suppressed.
        session.add(
            Report(
                community_id=cid,
                kind=ReportKind.RETURN,
                household_id=lonely.household_id,
                subject_id=lonely.id,
                created_at=clock.now(),
            )
        )
        session.add(
            Isolation(
                community_id=cid,
                person_id=lonely.id,
                start_date=today,
                end_date=today + timedelta(days=13),
                created_at=clock.now(),
            )
        )
        for _ in range(3):
            session.add(
                GateEntry(
                    compound_id=happy,
                    direction="in",
                    subject_kind="visitor",
                    name="访客甲",
                    at=clock.now(),
                )
            )


async def test_daily_post_per_compound_at_the_local_time(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    await seed_activity(sessionmaker, clock, community)
    async with sessionmaker.begin() as session:
        assert await queue_daily_posts(session, clock, catalog) == 0  # 09:00: not yet
    clock.set(datetime(2022, 3, 10, 20, 0, tzinfo=SHANGHAI))
    from bot.settings import Settings

    ctx = JobContext(sessionmaker, clock, Settings(_env_file=None), catalog)
    await tick(ctx)
    await tick(ctx)  # twice: still one post per group
    async with sessionmaker() as session:
        # The tick runs every feature's task; this test is about the public posting.
        rows = (
            await session.scalars(
                select(Delivery).where(Delivery.kind == "public_post").order_by(Delivery.chat_id)
            )
        ).all()
    assert [(r.chat_id, r.kind, r.is_group) for r in rows] == [
        (-1002, "public_post", True),
        (-1001, "public_post", True),
    ]
    sunshine = rows[1].payload["text"]
    happy = rows[0].payload["text"]
    # This week's activity is not shown before the week is over; last Sunday (3/6) one
    # person (released on 3/10) was in isolation.
    assert "新返回：0 人" in sunshine and "周日居家隔离中：少于 3 人" in sunshine
    assert "新返回：0 人" in happy and "来访登记：0 人次" in happy
    for text in (sunshine, happy):
        for forbidden in ("隔离人", "王独居", "访客甲", "101", "1栋", "1单元", "A座"):
            assert forbidden not in text
    assert rows[0].dedup_key.startswith(f"post:{community.compound_ids['幸福里']}:2022-03-10")
    # The next day, a new post, with the same figures (same week).
    clock.advance(timedelta(days=1))
    async with sessionmaker.begin() as session:
        assert await queue_daily_posts(session, clock, catalog) == 2
    # The Monday after, the week of 3/7-3/13 is shown, banded.
    clock.set(datetime(2022, 3, 14, 20, 0, tzinfo=SHANGHAI))
    async with sessionmaker.begin() as session:
        assert await queue_daily_posts(session, clock, catalog) == 2
        rows = (
            await session.scalars(
                select(Delivery)
                .where(Delivery.kind == "public_post", Delivery.dedup_key.contains("2022-03-14"))
                .order_by(Delivery.chat_id)
            )
        ).all()
    sunshine, happy = rows[1].payload["text"], rows[0].payload["text"]
    # 阳光花园: 5 returns (4 on 3/10, 1 on 3/9), 4 in isolation on Sunday, 1 released.
    assert "新返回：3–5 人" in sunshine and "周日居家隔离中：3–5 人" in sunshine
    assert "解除隔离：少于 3 人" in sunshine and "来访登记：0 人次" in sunshine
    assert "新返回：少于 3 人" in happy and "周日居家隔离中：少于 3 人" in happy
    assert "来访登记：3–5 人次" in happy
