"""The command menus Telegram shows (setMyCommands): private chats, groups, officers."""

from __future__ import annotations

import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Person, Role, RoleGrant
from messages import LOCALES, Catalog

PRIVATE_COMMANDS: tuple[str, ...] = (
    "start", "report", "me", "profile", "household", "invite", "mycode", "supply", "care",
    "shifts", "deliveries", "privacy", "mydata", "language", "cancel", "help",
)  # fmt: skip
GROUP_COMMANDS: tuple[str, ...] = ("report", "register", "help")
OFFICER_COMMANDS: tuple[str, ...] = (
    "bind", "officers_here", "cases", "risk", "clinic", "compounds", "compound", "grid", "grant",
    "revoke", "roles", "isolations", "isolation", "monitor", "checkins", "settings", "set",
    "notice", "notices", "ledger", "coverage", "screen", "gate", "gate_add", "gate_poster", "chart",
    "audit", "register_for", "invite_member", "move_member", "community", "round_new", "round",
    "round_tick", "round_todo", "round_positives", "seal", "seals", "supplies", "distribute",
    "care_add", "care_list", "shift_add",
)  # fmt: skip
STAFF_ROLES = {Role.ADMIN.value, Role.OFFICER.value}


def _commands(catalog: Catalog, locale: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=catalog.render(locale, f"commands.{name}"))
        for name in names
    ]


async def install_commands(bot: Bot, catalog: Catalog, session: AsyncSession) -> None:
    """Menus per scope and language; zh-CN is the default (no language_code)."""
    for locale in LOCALES:
        language = None if locale == "zh-CN" else locale.split("-")[0]
        await bot.set_my_commands(
            _commands(catalog, locale, PRIVATE_COMMANDS),
            scope=BotCommandScopeAllPrivateChats(),
            language_code=language,
        )
        await bot.set_my_commands(
            _commands(catalog, locale, GROUP_COMMANDS),
            scope=BotCommandScopeAllGroupChats(),
            language_code=language,
        )
    officers = await session.execute(
        select(Person.telegram_user_id, Person.language)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(
            RoleGrant.revoked_at.is_(None),
            RoleGrant.role.in_(STAFF_ROLES),
            Person.telegram_user_id.is_not(None),
        )
        .distinct()
    )
    for telegram_user_id, language in officers:
        if telegram_user_id is None:
            continue
        await install_officer_commands(bot, catalog, telegram_user_id, language or "zh-CN")


async def install_officer_commands(
    bot: Bot, catalog: Catalog, telegram_user_id: int, locale: str
) -> None:
    """An officer's private chat shows the officer commands too."""
    # An officer who never opened the bot has no chat yet; the menu comes later.
    with contextlib.suppress(TelegramAPIError):
        await bot.set_my_commands(
            _commands(catalog, locale, PRIVATE_COMMANDS + OFFICER_COMMANDS),
            scope=BotCommandScopeChat(chat_id=telegram_user_id),
        )
