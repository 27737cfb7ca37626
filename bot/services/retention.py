"""The retention purge (R-PRIV, issue 11): personal data whose purpose has ended is
deleted or anonymised after the retention period, counted from the end of the purpose.

What, when (``cutoff = now - RETENTION_DAYS`` unless said otherwise):

- cases: resolved before the cutoff (their events and deliveries go with them);
- isolations and their check-ins: released / ended before the cutoff, and no case
  still refers to them (an open case keeps its isolation);
- reports: made before the cutoff, and no isolation or case still refers to them;
- gate passages and screening visits: recorded before the cutoff;
- outbox payloads: sent / failed / cancelled before ``now - OUTBOX_RETENTION_DAYS``
  (the row stays, so a job that runs again does not resend; its text is emptied);
- FSM drafts: untouched since ``now - FSM_RETENTION_DAYS``;
- removed members and visitors (a person with no household and no role): name, phone
  and relation blanked;
- declined-consent traces and the language preference of people who never registered;
- closed deletion requests; CDC assignment lists (import batches); audit entries older
  than ``now - AUDIT_RETENTION_DAYS`` (a checkpoint keeps the chain verifiable, audit.py).

Never while an isolation is active or a case is open: those rows, and the reports and
people they refer to, are kept. Before identities go, daily counts (per community, local
day and category) are added to ``daily_counts``, in the same transaction as the delete,
so history survives without names and a rerun never counts twice.

Batched: each batch of ``PURGE_BATCH_SIZE`` rows is its own short transaction, and the
event loop is yielded between batches, so the bot keeps answering. Idempotent: the
candidates are recomputed each batch and a purged row is no longer a candidate.
"""

from __future__ import annotations

import asyncio
import time as monotonic
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import (
    AuditCheckpoint,
    AuditEntry,
    Building,
    Case,
    CaseStatus,
    CheckIn,
    Community,
    Compound,
    Consent,
    DailyCount,
    DataRequest,
    Delivery,
    DeliveryStatus,
    FsmRecord,
    GateEntry,
    Household,
    ImportBatch,
    Isolation,
    IsolationStatus,
    Person,
    PurgeRun,
    Report,
    RoleGrant,
    ScreeningVisit,
    Unit,
    UserPreference,
)
from bot.services import audit
from bot.settings import Settings

CATEGORIES: tuple[str, ...] = (
    "cases",
    "isolations",
    "checkins",
    "reports",
    "gate_entries",
    "screening_visits",
    "outbox_payloads",
    "fsm_drafts",
    "removed_members",
    "declined_consents",
    "preferences",
    "data_requests",
    "import_batches",
    "audit_entries",
)
# pg_advisory_xact_lock key taken by each purge batch ("CGPU"): two purgers (the daily
# task and the CLI) never work on the same batch at once.
PURGE_LOCK = 0x43475055
PURGED_METHOD = "purged"

BatchHook = Callable[[str, int, float], None]


@dataclass(frozen=True)
class Cutoffs:
    data: datetime
    outbox: datetime
    fsm: datetime
    audit: datetime

    @classmethod
    def of(cls, now: datetime, settings: Settings) -> Cutoffs:
        return cls(
            now - timedelta(days=settings.retention_days),
            now - timedelta(days=settings.outbox_retention_days),
            now - timedelta(days=settings.fsm_retention_days),
            now - timedelta(days=settings.audit_retention_days),
        )


@dataclass
class PurgeResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    finished: bool = True
    batches: int = 0
    longest_batch_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _open_case_about(column: Any) -> Any:
    return exists().where(column, Case.status != CaseStatus.RESOLVED.value)


class _Purge:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        *,
        dry_run: bool,
        max_batches: int | None,
        on_batch: BatchHook | None,
    ) -> None:
        self.sm = sessionmaker
        self.clock = clock
        self.settings = settings
        self.dry_run = dry_run
        self.max_batches = max_batches
        self.on_batch = on_batch
        self.now = clock.now()
        self.cut = Cutoffs.of(self.now, settings)
        self.result = PurgeResult()
        self.zones: dict[int, ZoneInfo] = {}

    # --- machinery ------------------------------------------------------------------

    async def load_zones(self) -> None:
        async with self.sm() as session:
            rows = await session.execute(select(Community.id, Community.timezone))
            self.zones = {cid: ZoneInfo(tz) for cid, tz in rows}

    def local_day(self, community_id: int | None, at: datetime | date) -> date:
        if isinstance(at, datetime):
            zone = self.zones.get(community_id or 0, ZoneInfo(self.settings.default_timezone))
            return at.astimezone(zone).date()
        return at

    async def lock(self, session: AsyncSession) -> None:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PURGE_LOCK})

    async def category(
        self,
        name: str,
        candidates: Select[Any],
        apply: Callable[[AsyncSession, Sequence[Any]], Awaitable[int]],
        *,
        rows_per_candidate: int = 1,
    ) -> None:
        """Count (dry run) or purge the candidates of one category, batch by batch.
        `rows_per_candidate` shrinks the batch when each candidate takes more rows with
        it (an isolation and its check-ins), so every transaction stays short."""
        if not self.result.finished:
            return
        if self.dry_run:
            async with self.sm() as session:
                found = await session.scalar(
                    select(func.count()).select_from(candidates.subquery())
                )
            self.result.counts[name] += int(found or 0)
            return
        batch_size = max(1, self.settings.purge_batch_size // rows_per_candidate)
        while True:
            if self.max_batches is not None and self.result.batches >= self.max_batches:
                self.result.finished = False
                return
            started = monotonic.perf_counter()
            async with self.sm.begin() as session:
                await self.lock(session)
                ids = (await session.scalars(candidates.limit(batch_size))).all()
                done = await apply(session, ids) if ids else 0
            seconds = monotonic.perf_counter() - started
            if not ids:
                return
            self.result.batches += 1
            self.result.counts[name] += done
            self.result.longest_batch_seconds = max(self.result.longest_batch_seconds, seconds)
            if self.on_batch is not None:
                self.on_batch(name, done, seconds)
            # Let the bot's updates in between batches.
            await asyncio.sleep(0)
            if len(ids) < batch_size:
                return

    async def bump(self, session: AsyncSession, counts: Counter[tuple[int, date, str]]) -> None:
        """Add identity-free daily counts (same transaction as the delete)."""
        for (community_id, day, category), n in sorted(counts.items()):
            row = await session.scalar(
                select(DailyCount).where(
                    DailyCount.community_id == community_id,
                    DailyCount.day == day,
                    DailyCount.category == category,
                )
            )
            if row is None:
                session.add(
                    DailyCount(community_id=community_id, day=day, category=category, count=n)
                )
            else:
                row.count += n
        await session.flush()

    # --- categories -----------------------------------------------------------------

    async def cases(self) -> None:
        candidates = (
            select(Case.id)
            .where(Case.status == CaseStatus.RESOLVED.value, Case.resolved_at < self.cut.data)
            .order_by(Case.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            rows = await session.execute(
                select(Case.community_id, Case.created_at, Case.kind).where(Case.id.in_(ids))
            )
            await self.bump(
                session,
                Counter((c, self.local_day(c, at), f"case_{kind}") for c, at, kind in rows),
            )
            await session.execute(delete(Case).where(Case.id.in_(ids)))
            return len(ids)

        await self.category("cases", candidates, apply)

    async def isolations(self) -> None:
        cutoff_day = self.cut.data.date()
        candidates = (
            select(Isolation.id)
            .where(
                Isolation.status != IsolationStatus.ACTIVE.value,
                Isolation.end_date < cutoff_day,
                or_(Isolation.ended_at.is_(None), Isolation.ended_at < self.cut.data),
                ~exists().where(Case.isolation_id == Isolation.id),
            )
            .order_by(Isolation.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            bumps: Counter[tuple[int, date, str]] = Counter()
            for community_id, day, status, n in await session.execute(
                select(Isolation.community_id, CheckIn.day, CheckIn.status, func.count())
                .join(Isolation, Isolation.id == CheckIn.isolation_id)
                .where(CheckIn.isolation_id.in_(ids))
                .group_by(Isolation.community_id, CheckIn.day, CheckIn.status)
            ):
                bumps[(community_id, day, f"checkin_{status}")] += int(n)
            for community_id, start in await session.execute(
                select(Isolation.community_id, Isolation.start_date).where(Isolation.id.in_(ids))
            ):
                bumps[(community_id, start, "isolation_started")] += 1
            await self.bump(session, bumps)
            gone = await session.execute(delete(CheckIn).where(CheckIn.isolation_id.in_(ids)))
            self.result.counts["checkins"] += int(gone.rowcount or 0)  # type: ignore[attr-defined]
            await session.execute(delete(Isolation).where(Isolation.id.in_(ids)))
            return len(ids)

        # About a check-in per day of isolation goes with each isolation.
        await self.category("isolations", candidates, apply, rows_per_candidate=8)
        if self.dry_run:
            async with self.sm() as session:
                found = await session.scalar(
                    select(func.count(CheckIn.id)).where(
                        CheckIn.isolation_id.in_(candidates.order_by(None))
                    )
                )
            self.result.counts["checkins"] += int(found or 0)

    async def reports(self) -> None:
        candidates = (
            select(Report.id)
            .where(
                Report.created_at < self.cut.data,
                ~exists().where(Isolation.report_id == Report.id),
                ~exists().where(Case.report_id == Report.id),
            )
            .order_by(Report.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            rows = await session.execute(
                select(Report.community_id, Report.created_at, Report.kind).where(
                    Report.id.in_(ids)
                )
            )
            await self.bump(
                session,
                Counter((c, self.local_day(c, at), f"report_{kind}") for c, at, kind in rows),
            )
            await session.execute(delete(Report).where(Report.id.in_(ids)))
            return len(ids)

        await self.category("reports", candidates, apply)

    async def gate_entries(self) -> None:
        candidates = select(GateEntry.id).where(GateEntry.at < self.cut.data).order_by(GateEntry.id)

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            rows = await session.execute(
                select(Compound.community_id, GateEntry.at, GateEntry.subject_kind,
                       GateEntry.direction)
                .join(Compound, Compound.id == GateEntry.compound_id)
                .where(GateEntry.id.in_(ids))
            )  # fmt: skip
            await self.bump(
                session,
                Counter(
                    (c, self.local_day(c, at), f"gate_{kind}_{direction}")
                    for c, at, kind, direction in rows
                ),
            )
            await session.execute(delete(GateEntry).where(GateEntry.id.in_(ids)))
            return len(ids)

        await self.category("gate_entries", candidates, apply)

    async def screening_visits(self) -> None:
        candidates = (
            select(ScreeningVisit.id)
            .where(ScreeningVisit.at < self.cut.data)
            .order_by(ScreeningVisit.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            rows = await session.execute(
                select(Compound.community_id, ScreeningVisit.at, ScreeningVisit.outcome)
                .join(Household, Household.id == ScreeningVisit.household_id)
                .join(Unit, Unit.id == Household.unit_id)
                .join(Building, Building.id == Unit.building_id)
                .join(Compound, Compound.id == Building.compound_id)
                .where(ScreeningVisit.id.in_(ids))
            )
            await self.bump(
                session,
                Counter(
                    (c, self.local_day(c, at), f"screening_{outcome}") for c, at, outcome in rows
                ),
            )
            await session.execute(delete(ScreeningVisit).where(ScreeningVisit.id.in_(ids)))
            return len(ids)

        await self.category("screening_visits", candidates, apply)

    async def outbox(self) -> None:
        final = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)
        candidates = (
            select(Delivery.id)
            .where(
                Delivery.status.in_([s.value for s in final]),
                Delivery.created_at < self.cut.outbox,
                Delivery.method != PURGED_METHOD,
            )
            .order_by(Delivery.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(payload={}, error=None, method=PURGED_METHOD)
            )
            return len(ids)

        await self.category("outbox_payloads", candidates, apply)

    async def fsm_drafts(self) -> None:
        candidates = (
            select(FsmRecord.key).where(FsmRecord.updated_at < self.cut.fsm).order_by(FsmRecord.key)
        )

        async def apply(session: AsyncSession, keys: Sequence[str]) -> int:
            await session.execute(delete(FsmRecord).where(FsmRecord.key.in_(keys)))
            return len(keys)

        await self.category("fsm_drafts", candidates, apply)

    async def removed_members(self) -> None:
        candidates = (
            select(Person.id)
            .where(
                Person.household_id.is_(None),
                Person.name != "",
                func.coalesce(Person.updated_at, Person.created_at) < self.cut.data,
                ~exists().where(RoleGrant.person_id == Person.id, RoleGrant.revoked_at.is_(None)),
                ~exists().where(
                    Isolation.person_id == Person.id,
                    Isolation.status == IsolationStatus.ACTIVE.value,
                ),
                ~_open_case_about(Case.subject_id == Person.id),
            )
            .order_by(Person.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await session.execute(
                update(Person)
                .where(Person.id.in_(ids))
                .values(name="", phone=None, relation=None, updated_at=self.now)
            )
            return len(ids)

        await self.category("removed_members", candidates, apply)

    async def declined_consents(self) -> None:
        candidates = (
            select(Consent.id)
            .where(Consent.granted.is_(False), Consent.at < self.cut.data)
            .order_by(Consent.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await session.execute(delete(Consent).where(Consent.id.in_(ids)))
            return len(ids)

        await self.category("declined_consents", candidates, apply)

    async def preferences(self) -> None:
        candidates = (
            select(UserPreference.telegram_user_id)
            .where(
                UserPreference.updated_at < self.cut.data,
                ~exists().where(Person.telegram_user_id == UserPreference.telegram_user_id),
            )
            .order_by(UserPreference.telegram_user_id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await session.execute(
                delete(UserPreference).where(UserPreference.telegram_user_id.in_(ids))
            )
            return len(ids)

        await self.category("preferences", candidates, apply)

    async def data_requests(self) -> None:
        candidates = (
            select(DataRequest.id)
            .where(DataRequest.status != "open", DataRequest.decided_at < self.cut.data)
            .order_by(DataRequest.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await session.execute(delete(DataRequest).where(DataRequest.id.in_(ids)))
            return len(ids)

        await self.category("data_requests", candidates, apply)

    async def import_batches(self) -> None:
        """Assignment lists from the CDC (names, phones) once applied or abandoned."""
        candidates = (
            select(ImportBatch.id)
            .where(ImportBatch.created_at < self.cut.data)
            .order_by(ImportBatch.id)
        )

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await session.execute(delete(ImportBatch).where(ImportBatch.id.in_(ids)))
            return len(ids)

        await self.category("import_batches", candidates, apply)

    async def audit_entries(self) -> None:
        """Only a prefix of the chain (by id) is removed, and a checkpoint records the
        last removed entry's hash in the same transaction."""
        async with self.sm() as session:
            first_kept = await session.scalar(
                select(func.min(AuditEntry.id)).where(AuditEntry.at >= self.cut.audit)
            )
        candidates = select(AuditEntry.id).order_by(AuditEntry.id)
        if first_kept is not None:
            candidates = candidates.where(AuditEntry.id < first_kept)

        async def apply(session: AsyncSession, ids: Sequence[int]) -> int:
            await audit.lock_chain(session)
            last = await session.get(AuditEntry, max(ids))
            assert last is not None
            session.add(
                AuditCheckpoint(
                    upto_id=last.id, row_hash=last.row_hash or audit.GENESIS,
                    removed=len(ids), at=self.now,
                )
            )  # fmt: skip
            await session.execute(delete(AuditEntry).where(AuditEntry.id <= last.id))
            return len(ids)

        await self.category("audit_entries", candidates, apply)

    async def run(self) -> PurgeResult:
        await self.load_zones()
        for step in (
            self.cases, self.isolations, self.reports, self.gate_entries,
            self.screening_visits, self.outbox, self.fsm_drafts, self.removed_members,
            self.declined_consents, self.preferences, self.data_requests, self.import_batches,
            self.audit_entries,
        ):  # fmt: skip
            await step()
            if not self.result.finished:
                break
        return self.result


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    settings: Settings,
    *,
    dry_run: bool = False,
    max_batches: int | None = None,
    on_batch: BatchHook | None = None,
) -> PurgeResult:
    """Purge (or, with `dry_run`, count) everything past retention. With `max_batches`
    the work stops after that many batches (`finished` is False): the daily task
    continues on the next tick. The run is recorded (PurgeRun) and audited."""
    job = _Purge(
        sessionmaker, clock, settings, dry_run=dry_run, max_batches=max_batches,
        on_batch=on_batch,
    )  # fmt: skip
    result = await job.run()
    if not dry_run:
        await record_run(sessionmaker, clock, result)
    return result


async def record_run(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, result: PurgeResult
) -> PurgeRun:
    """Add this pass's counts to today's open run (or a new one); close and audit it
    when the purge is finished."""
    now = clock.now()
    async with sessionmaker.begin() as session:
        run = await session.scalar(
            select(PurgeRun)
            .where(PurgeRun.finished_at.is_(None), PurgeRun.dry_run.is_(False))
            .order_by(PurgeRun.id.desc())
            .limit(1)
        )
        if run is None:
            run = PurgeRun(started_at=now, dry_run=False, counts=dict.fromkeys(CATEGORIES, 0))
            session.add(run)
        run.counts = {k: int(run.counts.get(k, 0)) + result.counts.get(k, 0) for k in CATEGORIES}
        if result.finished:
            run.finished_at = now
            await session.flush()
            await audit.record(
                session, at=now, action="privacy.purge", entity="purge_run", entity_id=run.id,
                details={"counts": run.counts},
            )  # fmt: skip
        await session.flush()
        return run


async def last_run(session: AsyncSession) -> PurgeRun | None:
    return await session.scalar(
        select(PurgeRun)
        .where(PurgeRun.finished_at.is_not(None), PurgeRun.dry_run.is_(False))
        .order_by(PurgeRun.finished_at.desc(), PurgeRun.id.desc())
        .limit(1)
    )
