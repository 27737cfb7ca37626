"""/ledger: officers export a day's (or a range's) ledger as XLSX and zipped CSV (R-LED)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import FSInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.parsing import ParseError
from bot.services import ledger, staffscope
from bot.services.errors import DomainError
from bot.services.identity import OFFICER_ROLES, Identity
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
        community = await staffscope.acting_community(session, identity, OFFICER_ROLES)
        first, last, name = staffscope.split_range_and_name(
            command.args or "", clock, community.timezone
        )
        compound = await staffscope.compound_by_name(session, community.id, name) if name else None
        if not identity.allows(
            OFFICER_ROLES,
            community_id=community.id,
            compound_id=compound.id if compound else None,
        ):
            raise DomainError("common.not_allowed")
    except ParseError as exc:
        await message.answer(t(f"errors.{exc.code}", **exc.params) + "\n" + t("ledger.usage"))
        return
    except DomainError as exc:
        await message.answer(t(exc.key, **exc.params))
        return
    request = ledger.LedgerRequest(community, first, last, compound)
    with tempfile.TemporaryDirectory(prefix="ledger-") as folder:
        files = await ledger.export_ledger(
            session, clock, request, label=t, directory=Path(folder), actor=identity.person
        )
        scope = compound.name if compound else t("ledger.whole_community")
        await message.answer_document(
            FSInputFile(files.xlsx),
            caption=t(
                "ledger.caption",
                first=first.isoformat(),
                last=last.isoformat(),
                scope=scope,
                counts=files.counts,
            ),
        )
        await message.answer_document(FSInputFile(files.csv_zip), caption=t("ledger.csv_caption"))
