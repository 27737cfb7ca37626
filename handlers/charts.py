"""/chart [weeks]: officers get the chart of the last weeks as an image."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.parsing import parse_int_in_range
from bot.services import charts, scope
from bot.services.errors import DomainError
from bot.services.identity import Identity
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
    # the one rule: a community officer gets the community, an officer granted for a
    # compound the chart of that compound (or those compounds)
    acting = await scope.resolve(session, identity, "charts", chat_id=message.chat.id)
    reach = None if acting.whole_community else acting.compound_ids
    if reach is not None and not reach:
        raise DomainError("common.not_allowed")
    weeks = parse_int_in_range(command.args, 1, charts.MAX_WEEKS) if command.args else 4
    png = await charts.community_chart(
        session, clock, acting.community, catalog, locale, weeks, reach
    )
    await message.answer_photo(
        BufferedInputFile(png, "chart.png"), caption=t("charts.caption", weeks=weeks)
    )
