"""/ledger: officers export a day's (or a range's) ledger as XLSX and zipped CSV (R-LED)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import FSInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Compound
from bot.parsing import ParseError
from bot.services import ledger, scope, staffscope
from bot.services.errors import DomainError
from bot.services.identity import Identity
from messages import Translator

router = Router(name="ledger")
router.message.filter(F.chat.type == "private")


@router.message(Command("ledger"), StateFilter("*"))
async def ledger_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    try:
        # One rule (bot.services.scope): officers and admins for the community or a
        # compound, property managers / lead-unit contacts for their compound.
        acting = await scope.resolve(session, identity, "ledger", chat_id=message.chat.id)
        community = acting.community
        first, last, name = staffscope.split_range_and_name(
            command.args or "", clock, community.timezone
        )
        compound = await staffscope.compound_by_name(session, community.id, name) if name else None
        if compound is None and not acting.whole_community and len(acting.compound_ids) == 1:
            compound = await session.get(Compound, next(iter(acting.compound_ids)))
        if compound is None and not acting.whole_community:
            raise DomainError("common.not_allowed")
        if compound is not None and not acting.reaches(compound_id=compound.id):
            raise DomainError("common.not_allowed")
    except ParseError as exc:
        # Kept: the usage line follows what was not understood.
        await message.answer(t(f"errors.{exc.code}", **exc.params) + "\n" + t("ledger.usage"))
        return
    request = ledger.LedgerRequest(community, first, last, compound)
    with tempfile.TemporaryDirectory(prefix="ledger-") as folder:
        files = await ledger.export_ledger(
            session, clock, request, label=t, directory=Path(folder), actor=identity.person
        )
        where = compound.name if compound else t("ledger.whole_community")
        await message.answer_document(
            FSInputFile(files.xlsx),
            caption=t(
                "ledger.caption",
                first=first.isoformat(),
                last=last.isoformat(),
                scope=where,
                counts=files.counts,
            ),
        )
        await message.answer_document(FSInputFile(files.csv_zip), caption=t("ledger.csv_caption"))
