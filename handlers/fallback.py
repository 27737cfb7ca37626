"""Last resort: answers anything no feature handled, so no one is left without a reply."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services import checkins
from bot.services.identity import Identity
from handlers.menu import show_main_menu
from messages import Translator

router = Router(name="fallback")


@router.callback_query()
async def stale_button(query: CallbackQuery, t: Translator) -> None:
    """Unparseable (forged) data, or a button of a finished conversation."""
    await query.answer(t("common.button_expired"), show_alert=True)


@router.message(F.chat.type == "private", StateFilter(None))
async def unknown_private(
    message: Message, session: AsyncSession, clock: Clock, identity: Identity, t: Translator
) -> None:
    if (
        identity.person is not None
        and not (message.text or "").startswith("/")
        and await checkins.pending_today(session, clock, identity.person)
    ):
        # "🤒", "正常", "fine": while today's check-in waits, say how to answer it.
        await message.answer(t("checkin.pending_hint"))
    elif identity.is_registered:
        await show_main_menu(message, identity, t)
    else:
        await message.answer(t("common.unknown_unregistered"))


# Steps that wait for a photo or a file: typed text there is of the wrong kind, but no
# button would answer either.
FILE_STEPS = frozenset(
    {
        "MonitorFlow:import_file",
        "RoundInput:photo",
        "RoundInput:positives",
        "SupplyFlow:photo",
        "SupplyFlow:delivery_photo",
    }
)


@router.message(F.chat.type == "private")
async def unexpected_in_conversation(message: Message, state: FSMContext, t: Translator) -> None:
    """Inside a conversation, something of the wrong kind (a sticker where a name
    was asked): keep the state, say what is expected. Typed text reaches here only at a
    step no typed answer can take: only its buttons answer it (an unknown command is not
    an answer of any kind)."""
    typed = message.text is not None and not message.text.startswith("/")
    if typed and await state.get_state() not in FILE_STEPS:
        await message.answer(t("common.press_button"))
        return
    await message.answer(t("common.unexpected_input"))


@router.edited_message(F.chat.type == "private")
async def edited_private(message: Message, t: Translator) -> None:
    """An edit is not an answer (a temperature corrected by editing would be lost
    silently): say so, privately. Edits in groups are left alone."""
    await message.answer(t("common.edit_not_read"))
