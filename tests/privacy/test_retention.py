"""The retention purge (issue 11): what has outlived its purpose is deleted or blanked,
nothing while an isolation or a case is open, daily counts survive without identities,
a dry run counts the same rows, and a second run finds nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    AuditEntry,
    Case,
    CheckIn,
    Consent,
    DailyCount,
    Delivery,
    FsmRecord,
    GateEntry,
    ImportBatch,
    Isolation,
    Person,
    PurgeRun,
    Report,
    UserPreference,
)
from bot.services import retention
from bot.settings import Settings
from messages import Catalog
from scheduler import JobContext
from scheduler.privacy import daily_purge
from tests.conftest import SHANGHAI
from tests.support.community import SeededCommunity
from tests.support.ledger_rows import add_person, seed_ledger_rows

OLD = datetime(2021, 8, 1, 10, 0, tzinfo=SHANGHAI)  # > 180 days before 2022-03-10
RECENT = datetime(2022, 3, 1, 10, 0, tzinfo=SHANGHAI)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, purge_batch_size=2, **values)  # type: ignore[arg-type]


async def _seed(sm: async_sessionmaker[AsyncSession], community: SeededCommunity) -> dict[str, int]:
    async with sm.begin() as session:
        old = await seed_ledger_rows(
            session, community_id=community.community_id,
            compound_id=community.compound_ids["阳光花园"],
            household_id=community.household("阳光花园/1栋/1单元/101"),
            at=OLD, day=OLD.date(), officer_id=None,
        )  # fmt: skip
        recent = await seed_ledger_rows(
            session, community_id=community.community_id,
            compound_id=community.compound_ids["幸福里"],
            household_id=community.household("幸福里/A座/1单元/101"),
            at=RECENT, day=RECENT.date(), officer_id=None,
        )  # fmt: skip
        removed = await add_person(
            session, "王五", community.household("阳光花园/1栋/1单元/101"), OLD
        )
        removed.household_id = None
        removed.phone = "13900000000"
        removed.updated_at = OLD
        session.add_all([
            Consent(telegram_user_id=777, text_version="v", locale="zh-CN", granted=False, at=OLD),
            UserPreference(telegram_user_id=777, language="en", updated_at=OLD),
            FsmRecord(key="bot:777:777", state="Registration:name", data={"name": "赵六"},
                      updated_at=OLD),
            ImportBatch(community_id=community.community_id, filename="cdc.xlsx",
                        rows=[{"name": "钱七", "phone": "13700000000"}], created_at=OLD),
            Delivery(kind="checkin_prompt", chat_id=777, payload={"text": "张三 体温"},
                     dedup_key="old-delivery", status="sent", not_before=OLD, created_at=OLD),
        ])  # fmt: skip
    return {"old_person": old["person"], "recent_person": recent["person"], "removed": removed.id,
            "old_case": old["case"], "old_report": old["report"]}  # fmt: skip


async def _count(sm: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sm() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_purge_respects_open_isolations_and_cases_then_purges_after_they_end(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    ids = await _seed(sessionmaker, community)
    settings = _settings()
    # The old isolation is still active and the old case still open: both stay, with the
    # report and check-in they hold. Old gate passages, drafts, traces and payloads go.
    dry = await retention.purge(sessionmaker, clock, settings, dry_run=True)
    first = await retention.purge(sessionmaker, clock, settings)
    assert first.counts == dry.counts
    assert {k: v for k, v in first.counts.items() if v} == {
        "gate_entries": 1, "outbox_payloads": 1, "fsm_drafts": 1, "removed_members": 1,
        "declined_consents": 1, "preferences": 1, "import_batches": 1,
    }  # fmt: skip
    assert await _count(sessionmaker, Report) == 2
    assert await _count(sessionmaker, Isolation) == 2 and await _count(sessionmaker, CheckIn) == 2
    assert await _count(sessionmaker, Case) == 2 and await _count(sessionmaker, GateEntry) == 1
    async with sessionmaker() as session:
        removed = await session.get(Person, ids["removed"])
        assert removed is not None and (removed.name, removed.phone) == ("", None)
        delivery = await session.scalar(
            select(Delivery).where(Delivery.dedup_key == "old-delivery")
        )
        assert delivery is not None and delivery.payload == {} and delivery.method == "purged"
        # The person with an active isolation keeps their name.
        kept = await session.get(Person, ids["old_person"])
        assert kept is not None and kept.name == "张<b>三</b>"

    # The isolation is released and the case resolved, both long ago.
    async with sessionmaker.begin() as session:
        await session.execute(
            update(Isolation).where(Isolation.person_id == ids["old_person"])
            .values(status="released", ended_at=OLD + timedelta(days=14))
        )  # fmt: skip
        await session.execute(
            update(Case).where(Case.id == ids["old_case"])
            .values(status="resolved", resolved_at=OLD + timedelta(days=1))
        )  # fmt: skip
    second = await retention.purge(sessionmaker, clock, settings)
    assert {k: v for k, v in second.counts.items() if v} == {
        "cases": 1, "isolations": 1, "checkins": 1, "reports": 1,
    }  # fmt: skip
    # Only the recent rows are left.
    assert await _count(sessionmaker, Report) == 1 and await _count(sessionmaker, Case) == 1
    assert await _count(sessionmaker, Isolation) == 1 and await _count(sessionmaker, CheckIn) == 1
    # Aggregates stay, without identities, on the community's local day.
    async with sessionmaker() as session:
        counts = {
            (r.day, r.category): r.count
            for r in await session.scalars(select(DailyCount).order_by(DailyCount.category))
        }
    assert counts == {
        (date(2021, 8, 1), "case_gate_fever"): 1,
        (date(2021, 8, 1), "checkin_answered"): 1,
        (date(2021, 8, 1), "gate_visitor_in"): 1,
        (date(2021, 8, 1), "isolation_started"): 1,
        (date(2021, 8, 1), "report_return"): 1,
    }
    # Idempotent: nothing left to do, and the aggregates are not counted twice.
    third = await retention.purge(sessionmaker, clock, settings)
    assert third.total == 0
    assert await _count(sessionmaker, DailyCount) == 5
    async with sessionmaker() as session:
        runs = (await session.scalars(select(PurgeRun).order_by(PurgeRun.id))).all()
        entries = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "privacy.purge")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [r.counts["reports"] for r in runs] == [0, 1, 0] and all(r.finished_at for r in runs)
    assert [e.details["counts"]["gate_entries"] for e in entries] == [1, 0, 0]


async def test_the_daily_task_runs_in_slices_once_a_day(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    await _seed(sessionmaker, community)
    async with sessionmaker.begin() as session:
        for i in range(30):
            session.add(GateEntry(compound_id=community.compound_ids["阳光花园"], direction="in",
                                  subject_kind="visitor", name=f"访客{i}", at=OLD))  # fmt: skip
    ctx = JobContext(sessionmaker, clock, _settings(), catalog)
    clock.set(datetime(2022, 3, 10, 2, 0, tzinfo=SHANGHAI))
    assert await daily_purge(ctx) is None  # before PURGE_HOUR (03:00 local)
    clock.set(datetime(2022, 3, 10, 3, 5, tzinfo=SHANGHAI))
    first = await daily_purge(ctx)
    assert first is not None and not first.finished and first.batches == 20
    second = await daily_purge(ctx)
    assert second is not None and second.finished
    assert await daily_purge(ctx) is None  # done for today
    assert await _count(sessionmaker, GateEntry) == 1  # the recent one
    async with sessionmaker() as session:
        run = await retention.last_run(session)
    assert run is not None and run.counts["gate_entries"] == 31
