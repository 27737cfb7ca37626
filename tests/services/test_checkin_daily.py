"""The daily preparation's rows and prompts, whole, on whichever database the tests use:
on PostgreSQL the set-based statements (checkin_daily_pg) plus the per-person path for
the rest, on SQLite the per-person path alone; both must give the same rows and
payloads, each prompt equal to the catalog's render for its recipient (issue 13)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CheckIn, Community, DataRequest, Delivery, Isolation, Person
from bot.services.checkins import PromptMarkup, prepare_checkins
from messages import Catalog
from tests.support.community import SeededCommunity

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOM_A, ROOM_B = "阳光花园/1栋/1单元/101", "阳光花园/1栋/1单元/102"


async def _isolate(
    session: AsyncSession,
    clock: FakeClock,
    community_id: int,
    person: Person,
    start: date,
    recorded: datetime | None = None,
) -> int:
    session.add(person)
    await session.flush()
    isolation = Isolation(
        community_id=community_id, person_id=person.id, start_date=start,
        end_date=start + timedelta(days=13), status="active",
        created_at=recorded or clock.now(),
    )  # fmt: skip
    session.add(isolation)
    await session.flush()
    return isolation.id


async def test_rows_and_whole_prompts_for_every_kind_of_recipient(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    clock.set(datetime(2022, 3, 10, 9, 30, tzinfo=SHANGHAI))
    today = date(2022, 3, 10)
    cid = community.community_id
    async with sessionmaker.begin() as session:
        now = clock.now()

        def person(name: str, tg: int | None, household: str, **more: Any) -> Person:
            return Person(
                telegram_user_id=tg, household_id=community.household(household), name=name,
                created_at=now, **more,
            )  # fmt: skip

        head = person("<b>张&\"三'</b>", 888001, ROOM_A, is_head=True)
        own = await _isolate(session, clock, cid, head, today - timedelta(days=4))
        english = await _isolate(
            session, clock, cid, person("Sam O'Neil", 888002, ROOM_B, language="en"), today
        )
        member = await _isolate(
            session, clock, cid, person("李四", None, ROOM_A, reported_by_id=head.id), today
        )
        # A language outside the catalog's locales ("en-US" renders as English).
        other = await _isolate(
            session, clock, cid, person("Ann", 888003, ROOM_B, language="en-US"), today
        )
        # Recorded two days ago at 23:30 local (15:30 UTC), after the last reminder time
        # (18:00): monitored from the 9th, the local day after it was recorded, not the
        # 7th it arrived, nor the 8th (asked at 23:30, missed at midnight).
        recorded = datetime(2022, 3, 8, 15, 30, tzinfo=ZoneInfo("UTC"))
        late = await _isolate(
            session, clock, cid, person("王五", 888004, ROOM_B), today - timedelta(3), recorded
        )
        withdrawn_household = "阳光花园/1栋/2单元/101"
        withdrawn = await _isolate(
            session, clock, cid, person("赵六", 888005, withdrawn_household), today
        )
        session.add(
            DataRequest(
                kind="withdrawal", status="open",
                household_id=community.household(withdrawn_household), requested_at=now,
                due_at=now + timedelta(days=15),
            )
        )  # fmt: skip
        # Yesterday's row of the first exists already: only today's is added.
        session.add(
            CheckIn(
                isolation_id=own, day=today - timedelta(1), day_number=4, status="answered",
                symptoms=[], reminders_sent=0, created_at=now,
            )
        )  # fmt: skip

    async with sessionmaker.begin() as session:
        row = await session.get(Community, cid)
        assert row is not None
        run = await prepare_checkins(session, clock, catalog, row)
    # Today for six, and the 9th of the late one missed.
    assert (run.created, run.missed, run.prompted) == (7, 1, 5), run

    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(CheckIn.isolation_id, CheckIn.day, CheckIn.day_number, CheckIn.status)
                .where(CheckIn.day >= today - timedelta(3))
                .order_by(CheckIn.isolation_id, CheckIn.day)
            )
        ).all()
        today_ids = dict(
            (await session.execute(
                select(CheckIn.isolation_id, CheckIn.id).where(CheckIn.day == today)
            )).all()
        )  # fmt: skip
        deliveries = {
            d.dedup_key: (d.kind, d.chat_id, d.person_id, d.payload)
            for d in await session.scalars(select(Delivery))
        }
    assert [tuple(r) for r in rows] == [
        (own, today - timedelta(1), 4, "answered"),
        (own, today, 5, "pending"),
        (english, today, 1, "pending"),
        (member, today, 1, "pending"),
        (other, today, 1, "pending"),
        (late, date(2022, 3, 9), 3, "missed"),
        (late, today, 4, "pending"),
        (withdrawn, today, 1, "pending"),
    ]

    markup = PromptMarkup(catalog)

    def prompt(isolation: int, chat: int, person_id: int, locale: str, **text: Any) -> Any:
        checkin = today_ids[isolation]
        payload = {
            "text": catalog.render(locale, "checkin.prompt", **text),
            "parse_mode": "HTML",
            "reply_markup": markup(locale, checkin),
        }
        return f"checkin:{checkin}:prompt", ("checkin_prompt", chat, person_id, payload)

    async with sessionmaker() as session:
        people = {p.name: p.id for p in await session.scalars(select(Person))}
    end = today + timedelta(days=13)
    assert deliveries == dict(
        [
            prompt(own, 888001, people[head.name], "zh-CN", name=head.name, member=False,
                   day_number=5, end_date=(end - timedelta(4)).isoformat()),
            prompt(english, 888002, people["Sam O'Neil"], "en", name="Sam O'Neil", member=False,
                   day_number=1, end_date=end.isoformat()),
            prompt(member, 888001, people[head.name], "zh-CN", name="李四", member=True,
                   day_number=1, end_date=end.isoformat()),
            prompt(other, 888003, people["Ann"], "en-US", name="Ann", member=False,
                   day_number=1, end_date=end.isoformat()),
            prompt(late, 888004, people["王五"], "zh-CN", name="王五", member=False,
                   day_number=4, end_date=(end - timedelta(3)).isoformat()),
        ]
    )  # fmt: skip

    # The same tick again adds nothing.
    async with sessionmaker.begin() as session:
        row = await session.get(Community, cid)
        assert row is not None
        again = await prepare_checkins(session, clock, catalog, row)
    assert (again.created, again.missed, again.prompted) == (0, 0, 0)
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(Delivery)))) == 5


async def test_recorded_after_the_last_reminder_time_first_asked_the_next_day(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
) -> None:
    """Recorded at 17:59 (before the last reminder, 18:00): asked at once, reminded at
    18:00. Recorded at 18:00 or 23:00: first asked the next morning, so nothing is
    counted missed (and no case opened) at midnight for a day never really asked."""
    today = date(2022, 3, 10)
    cid = community.community_id
    ids: dict[str, int] = {}
    for name, tg, at in (
        ("早", 888101, (17, 59)),
        ("晚", 888102, (18, 0)),
        ("夜", 888103, (23, 0)),
    ):
        clock.set(datetime(2022, 3, 10, *at, tzinfo=SHANGHAI))
        async with sessionmaker.begin() as session:
            person = Person(
                telegram_user_id=tg, household_id=community.household(ROOM_A), name=name,
                created_at=clock.now(),
            )  # fmt: skip
            ids[name] = await _isolate(session, clock, cid, person, today)
            row = await session.get(Community, cid)
            assert row is not None
            await prepare_checkins(session, clock, catalog, row)

    async def days() -> list[tuple[int, date, str]]:
        async with sessionmaker() as session:
            found = await session.execute(
                select(CheckIn.isolation_id, CheckIn.day, CheckIn.status).order_by(
                    CheckIn.isolation_id, CheckIn.day
                )
            )
            return [tuple(r) for r in found.all()]  # type: ignore[misc]

    assert await days() == [(ids["早"], today, "pending")]
    # The next morning at the check-in time (09:00): yesterday's one missed, all asked.
    clock.set(datetime(2022, 3, 11, 9, 0, tzinfo=SHANGHAI))
    async with sessionmaker.begin() as session:
        row = await session.get(Community, cid)
        assert row is not None
        run = await prepare_checkins(session, clock, catalog, row)
    tomorrow = today + timedelta(1)
    assert (run.created, run.missed, run.prompted) == (3, 1, 3)
    assert await days() == [
        (ids["早"], today, "missed"),
        (ids["早"], tomorrow, "pending"),
        (ids["晚"], tomorrow, "pending"),
        (ids["夜"], tomorrow, "pending"),
    ]
