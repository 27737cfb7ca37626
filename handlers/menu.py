"""The registered resident's main menu. Feature routers add their entries to
MENU_ENTRIES (action name → message key); the menu shows them as buttons."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup, Message

from bot.presentation.callbacks import MenuCb
from bot.presentation.keyboards import buttons
from bot.services.identity import Identity
from messages import Translator

# (action, message key of the button label), in display order.
MENU_ENTRIES: tuple[tuple[str, str], ...] = (
    ("report_return", "reports.menu_return"),
    ("report_visit", "reports.menu_visit"),
    ("report_tenant", "reports.menu_tenant"),
    ("report_symptom", "reports.menu_symptom"),
    ("report_tipoff", "reports.menu_tipoff"),
    ("report_supplies", "reports.menu_supplies"),
    ("me", "menu.me"),
    ("profile", "menu.profile"),
)


def main_menu_markup(t: Translator) -> InlineKeyboardMarkup:
    rows = [
        [(t(key), MenuCb(action=action)) for action, key in MENU_ENTRIES[i : i + 2]]
        for i in range(0, len(MENU_ENTRIES), 2)
    ]
    return buttons(rows)


async def show_main_menu(message: Message, identity: Identity, t: Translator) -> None:
    name = identity.person.name if identity.person else ""
    await message.answer(t("menu.title", name=name), reply_markup=main_menu_markup(t))
