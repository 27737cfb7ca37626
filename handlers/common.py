"""Commands every private chat has: /cancel, /help, /language; /bind and /unbind sent
here instead of in the owners' group are told where they belong."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.commands import role_sections
from bot.presentation.callbacks import LanguageCb
from bot.presentation.keyboards import buttons
from bot.services.identity import Identity
from bot.services.registration import set_language
from handlers.replies import edit_or_send
from messages import LOCALES, Catalog, Translator

router = Router(name="common")
router.message.filter(F.chat.type == "private")


@router.message(Command("cancel"), StateFilter("*"))
async def cancel(message: Message, state: FSMContext, t: Translator) -> None:
    """Leave any conversation; what was being entered is dropped, nothing is saved."""
    had_state = await state.get_state() is not None
    await state.clear()
    key = "common.cancelled" if had_state else "common.nothing_to_cancel"
    await message.answer(t(key), reply_markup=ReplyKeyboardRemove())


@router.message(Command("bind", "unbind"), StateFilter("*"))
async def bind_in_private(message: Message, t: Translator) -> None:
    """Binding is done in the owners' group itself (its chat is what gets bound)."""
    await message.answer(t("groups.bind_in_group"))


@router.message(Command("help"), StateFilter("*"))
async def help_(message: Message, identity: Identity, t: Translator) -> None:
    """The residents' help, then a section per role the user holds (read from the DB)."""
    sections = [
        {
            "role": t(f"common.help_role_{role.value}"),
            # Already rendered (escaped) text: not escaped a second time.
            "commands": [{"name": c, "text": Markup(t(f"commands.{c}"))} for c in names],
        }
        for role, names in role_sections(g.role for g in identity.grants)
    ]
    text = t("common.help")
    if sections:
        text += "\n\n" + t("common.help_staff", sections=sections)
    await message.answer(text)


@router.message(Command("language"), StateFilter("*"))
async def language(message: Message, t: Translator) -> None:
    await message.answer(
        t("common.choose_language"),
        reply_markup=buttons(
            [[(t(f"common.language_name_{loc}"), LanguageCb(locale=loc)) for loc in LOCALES]]
        ),
    )


@router.callback_query(LanguageCb.filter())
async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    t: Translator,
) -> None:
    if callback_data.locale not in LOCALES:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    await set_language(
        session, clock, telegram_user_id=query.from_user.id, language=callback_data.locale
    )
    new_t = catalog.translator(callback_data.locale)
    await edit_or_send(query, new_t("common.language_set"))
