"""The command menus Telegram shows (setMyCommands) and the grouped /help, per role.

Everyone's private chat shows the resident commands; a person holding a role (read from
the database, active grants only) gets a per-chat menu (BotCommandScopeChat) with the
commands of their roles added, set again when a role is granted or revoked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

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
    "privacy", "mydata", "language", "cancel", "help",
)  # fmt: skip
GROUP_COMMANDS: tuple[str, ...] = ("report", "register", "help")
ADMIN_ONLY_COMMANDS: tuple[str, ...] = ("grant", "revoke", "roles", "grid", "audit")
OFFICER_COMMANDS: tuple[str, ...] = (
    "bind", "officers_here", "cases", "case", "risk", "clinic", "compounds", "compound", "grid",
    "grant", "revoke", "roles", "isolations", "isolation", "monitor", "checkins", "settings", "set",
    "notice", "notices", "ledger", "coverage", "screen", "gate", "gate_add", "gate_poster", "chart",
    "audit", "register_for", "invite_member", "move_member", "community", "round_new", "round",
    "round_tick", "round_todo", "round_positives", "seal", "seals", "supplies", "distribute",
    "care_add", "care_list", "shift_add",
)  # fmt: skip
# Volunteers' commands an officer also answers (not asking a multi-community officer to
# choose a community first: handlers/where.py).
DUTY_COMMANDS: tuple[str, ...] = ("shifts", "deliveries")
# The commands each role answers (bot.services: rosters.SIGNUP_ROLES, supplies.DELIVERY_ROLES,
# rounds.MARKER_ROLES, care.CARE_ROLES, …). An admin also holds the officer's commands.
ROLE_COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.OFFICER: tuple(c for c in OFFICER_COMMANDS if c not in ADMIN_ONLY_COMMANDS)
    + DUTY_COMMANDS,
    Role.ADMIN: ADMIN_ONLY_COMMANDS,
    Role.GRID_WORKER: ("cases", "case", "coverage", "screen", "round_tick", "round_todo",
                       "deliveries", "care_list"),
    Role.PROPERTY_MANAGER: ("ledger", "coverage", "screen", "gate", "shift_add", "shifts",
                            "care_list"),
    Role.GUARD: ("gate", "shifts"),
    Role.VOLUNTEER: ("shifts", "deliveries", "round_tick", "round_todo", "care_list"),
}  # fmt: skip
# Order of the /help sections after the resident one.
SECTION_ORDER: tuple[Role, ...] = (
    Role.OFFICER, Role.ADMIN, Role.GRID_WORKER, Role.PROPERTY_MANAGER, Role.GUARD, Role.VOLUNTEER,
)  # fmt: skip


def role_sections(roles: Iterable[Role]) -> list[tuple[Role, tuple[str, ...]]]:
    """The staff sections of /help for the roles held: each command once, in the first
    section that has it; an admin gets the officer section too."""
    held = set(roles)
    if Role.ADMIN in held:
        held.add(Role.OFFICER)
    shown: set[str] = set(PRIVATE_COMMANDS)
    out = []
    for role in SECTION_ORDER:
        if role not in held:
            continue
        names = tuple(c for c in ROLE_COMMANDS[role] if c not in shown)
        shown.update(names)
        if names:
            out.append((role, names))
    return out


def menu_for(roles: Iterable[Role]) -> tuple[str, ...]:
    """The private-chat menu of someone holding `roles`: resident commands, then theirs."""
    return PRIVATE_COMMANDS + tuple(c for _, names in role_sections(roles) for c in names)


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
    rows = await session.execute(
        select(Person.id, Person.telegram_user_id, Person.language, RoleGrant.role)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.revoked_at.is_(None), Person.telegram_user_id.is_not(None))
        .order_by(Person.id)
    )
    staff: dict[int, tuple[int, str, set[Role]]] = {}
    for _, telegram_user_id, language, role in rows:
        if telegram_user_id is None:
            continue
        entry = staff.setdefault(telegram_user_id, (telegram_user_id, language or "zh-CN", set()))
        entry[2].add(Role(role))
    for telegram_user_id, locale, roles in staff.values():
        await install_staff_commands(bot, catalog, telegram_user_id, locale, roles)


async def install_staff_commands(
    bot: Bot, catalog: Catalog, telegram_user_id: int, locale: str, roles: Iterable[Role]
) -> None:
    """The private-chat menu of one person for the roles they hold now; with none left
    the per-chat menu is removed, so the residents' menu applies again."""
    held = set(roles)
    # Someone who never opened the bot has no chat yet; the menu comes later.
    with contextlib.suppress(TelegramAPIError):
        if held:
            await bot.set_my_commands(
                _commands(catalog, locale, menu_for(held)),
                scope=BotCommandScopeChat(chat_id=telegram_user_id),
            )
        else:
            await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=telegram_user_id))


async def refresh_staff_commands(
    bot: Bot, catalog: Catalog, session: AsyncSession, telegram_user_id: int, locale: str
) -> None:
    """Set the menu of `telegram_user_id` again from their active grants (after /grant or
    /revoke)."""
    roles = await session.scalars(
        select(RoleGrant.role)
        .join(Person, RoleGrant.person_id == Person.id)
        .where(Person.telegram_user_id == telegram_user_id, RoleGrant.revoked_at.is_(None))
    )
    await install_staff_commands(bot, catalog, telegram_user_id, locale, {Role(r) for r in roles})
