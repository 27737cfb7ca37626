"""The officers' confirmation after the bot was down (bot/services/downtime.py)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.presentation.callbacks import DowntimeCb
from bot.services import downtime
from bot.services.errors import DomainError
from bot.services.identity import OFFICER_ROLES, Identity
from handlers.replies import drop_buttons, query_bot, query_chat_id
from messages import Translator

router = Router(name="downtime")


@router.callback_query(DowntimeCb.filter())
async def confirm_resume(
    query: CallbackQuery,
    callback_data: DowntimeCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    # The role is read from the database for this community, whoever pressed in the chat.
    if not identity.allows(OFFICER_ROLES, community_id=callback_data.community_id):
        await query.answer(t("common.not_allowed"), show_alert=True)
        return
    try:
        await downtime.confirm(
            session, clock, community_id=callback_data.community_id,
            since_stamp=callback_data.since, actor=identity.person,
        )  # fmt: skip
    except DomainError as exc:
        await query.answer(t(exc.key, **exc.params), show_alert=True)
        await drop_buttons(query)
        return
    name = identity.person.name if identity.person is not None else ""
    await query.answer()
    await drop_buttons(query)
    await query_bot(query).send_message(query_chat_id(query), t("downtime.confirmed", name=name))
