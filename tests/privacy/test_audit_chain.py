"""The audit log is a hash chain (issue 11): a changed or deleted entry is found, the
first broken id is named, concurrent writers never fork the chain, and the purge's
checkpoint keeps it verifiable."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditCheckpoint, AuditEntry
from bot.services import audit, retention
from bot.settings import Settings


async def _write(sm: async_sessionmaker[AsyncSession], clock: FakeClock, n: int) -> list[int]:
    ids = []
    for i in range(n):
        async with sm.begin() as session:
            entry = await audit.record(
                session, at=clock.now(), action="test.write", entity="person", entity_id=i,
                details={"name": {"old": f"张{i}", "new": f"李{i}"}, 3: "int key"},
            )  # fmt: skip
            ids.append(entry.id)
        clock.advance(timedelta(seconds=1))
    return ids


async def _verify(sm: async_sessionmaker[AsyncSession]) -> audit.Verification:
    async with sm() as session:
        return await audit.verify(session)


async def test_chain_detects_a_changed_and_a_deleted_entry(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    ids = await _write(sessionmaker, clock, 6)
    result = await _verify(sessionmaker)
    assert result.ok and result.checked == 6
    async with sessionmaker() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert rows[0].prev_hash == audit.GENESIS
        assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))

    async with sessionmaker.begin() as session:
        await session.execute(
            update(AuditEntry).where(AuditEntry.id == ids[2]).values(details={"name": "x"})
        )
    assert await _verify(sessionmaker) == audit.Verification(False, 3, ids[2], "content changed")

    async with sessionmaker.begin() as session:
        await session.execute(delete(AuditEntry).where(AuditEntry.id == ids[2]))
    result = await _verify(sessionmaker)
    assert (result.ok, result.first_broken_id, result.reason) == (
        False, ids[3], "previous hash differs"
    )  # fmt: skip


async def test_changed_time_or_actor_is_detected(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    ids = await _write(sessionmaker, clock, 3)
    async with sessionmaker.begin() as session:
        await session.execute(
            update(AuditEntry).where(AuditEntry.id == ids[1]).values(actor_telegram_id=666)
        )
    assert (await _verify(sessionmaker)).first_broken_id == ids[1]


async def test_concurrent_writers_keep_one_chain(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async def writer(i: int) -> None:
        async with sessionmaker.begin() as session:
            await audit.record(
                session, at=clock.now(), action="test.concurrent", entity="case", entity_id=i
            )
            await asyncio.sleep(0)  # hold the transaction open across a switch

    await asyncio.gather(*(writer(i) for i in range(12)))
    result = await _verify(sessionmaker)
    assert result.ok and result.checked == 12


async def test_purge_checkpoint_keeps_the_chain_verifiable(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    from tests.support.chat import settings_for  # noqa: F401  (settings built below)

    await _write(sessionmaker, clock, 5)
    clock.advance(timedelta(days=400))
    kept = await _write(sessionmaker, clock, 2)
    settings = Settings(_env_file=None, purge_batch_size=2)  # type: ignore[call-arg]
    result = await retention.purge(sessionmaker, clock, settings)
    assert result.counts["audit_entries"] == 5
    async with sessionmaker() as session:
        left = (await session.scalars(select(AuditEntry.id).order_by(AuditEntry.id))).all()
        checkpoints = (await session.scalars(select(AuditCheckpoint))).all()
    # The two recent entries and the purge's own entry are left; 3 batches of <= 2.
    assert left[:2] == kept and len(left) == 3
    assert [c.removed for c in checkpoints] == [2, 2, 1]
    verification = await _verify(sessionmaker)
    assert verification.ok and verification.checked == 3
    # Deleting the first entry after the checkpoint is still caught.
    async with sessionmaker.begin() as session:
        await session.execute(delete(AuditEntry).where(AuditEntry.id == kept[0]))
    assert (await _verify(sessionmaker)).first_broken_id == kept[1]
