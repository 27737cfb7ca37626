"""/chart [weeks]: officers get the chart of the last weeks as an image."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.parsing import parse_int_in_range
from bot.services import charts, staffscope
from bot.services.errors import DomainError
from bot.services.identity import OFFICER_ROLES, Identity
from messages import Catalog, Translator

router = Router(name="charts")
router.message.filter(F.chat.type == "private")


@router.message(Command("chart"), StateFilter("*"))
async def chart_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    locale: str,
    t: Translator,
) -> None:
    community = await staffscope.acting_community(session, identity, OFFICER_ROLES)
    if not identity.allows(OFFICER_ROLES, community_id=community.id):
        raise DomainError("common.not_allowed")
    weeks = parse_int_in_range(command.args, 1, charts.MAX_WEEKS) if command.args else 4
    png = await charts.community_chart(session, clock, community, catalog, locale, weeks)
    await message.answer_photo(
        BufferedInputFile(png, "chart.png"), caption=t("charts.caption", weeks=weeks)
    )
