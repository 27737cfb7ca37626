"""/seal and /seals for officers (R-SEAL): put a compound, building or unit under a
status, end it, and list what is in force."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services import sealing, staffscope
from bot.services.errors import NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from messages import Catalog, Translator

router = Router(name="sealing")
router.message.filter(F.chat.type == "private")


@router.message(Command("seal"), StateFilter("*"))
async def seal_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    community = await staffscope.acting_community(session, identity, OFFICER_ROLES)
    parsed = await sealing.parse_command(session, clock, community, command.args or "")
    if not identity.allows(
        OFFICER_ROLES, community_id=community.id, compound_id=parsed.place.compound.id
    ):
        raise NotAllowed()
    ended, _started = await sealing.set_status(
        session, clock, catalog, community=community, command=parsed, by=identity.person
    )
    residents = len(await sealing.residents(session, parsed.place))
    await message.answer(
        t(
            "seal.done",
            place=parsed.place.label,
            level=parsed.level.value,
            until=parsed.planned_end.isoformat() if parsed.planned_end else "",
            ended=ended.level if ended else "",
            residents=residents,
        )
    )


@router.message(Command("seals"), StateFilter("*"))
async def seals_command(
    message: Message, session: AsyncSession, identity: Identity, t: Translator, clock: Clock
) -> None:
    community = await staffscope.acting_community(session, identity, OFFICER_ROLES)
    rows = [
        {
            "place": place.label,
            "level": status.level,
            "start": status.starts_at.astimezone(sealing.zone_of(community)).strftime(
                "%Y-%m-%d %H:%M"
            ),
            "until": status.planned_end.isoformat() if status.planned_end else "",
        }
        for status, place in await sealing.active(session, community.id)
        if identity.allows(OFFICER_ROLES, community_id=community.id, compound_id=place.compound.id)
    ]
    await message.answer(t("seal.list", rows=rows))
