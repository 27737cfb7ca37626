"""The command menus and /help offer exactly the commands the bot answers."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands import GROUP_COMMANDS, OFFICER_COMMANDS, PRIVATE_COMMANDS, ROLE_COMMANDS
from messages import LOCALES, Catalog

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
# Answered, but deliberately not in a menu: reached from another screen or a setup step.
NOT_IN_MENUS = {
    "bind_officers", "family", "forgetme", "myid", "risk_import", "screen_pending", "unbind",
    "withdraw",
}  # fmt: skip


def _handled_commands() -> set[str]:
    names: set[str] = set()
    for path in HANDLERS.glob("*.py"):
        for args in re.findall(r"Command\(([^)]*)\)", path.read_text(encoding="utf-8")):
            names |= set(re.findall(r'"(\w+)"', args))
    return names


def test_every_menu_command_is_answered_and_every_answered_command_is_offered() -> None:
    menus = set(PRIVATE_COMMANDS) | set(GROUP_COMMANDS) | set(OFFICER_COMMANDS)
    menus |= {c for names in ROLE_COMMANDS.values() for c in names}
    handled = _handled_commands()
    assert menus - handled == set()
    assert handled - menus == NOT_IN_MENUS


def test_every_role_command_is_an_officer_or_duty_command() -> None:
    """What a role's menu and /help section offer is answered (and officers answer all)."""
    staff = {c for names in ROLE_COMMANDS.values() for c in names}
    assert staff <= set(OFFICER_COMMANDS) | {"shifts", "deliveries"}
    assert not staff & set(PRIVATE_COMMANDS)


def test_help_lists_only_private_menu_commands(catalog: Catalog) -> None:
    for locale in LOCALES:
        listed = re.findall(r"^/(\w+) — ", catalog.render(locale, "common.help"), re.M)
        assert {"me", "household", "privacy"} <= set(listed), locale
        assert set(listed) <= set(PRIVATE_COMMANDS), locale


def test_the_residents_help_lists_every_command_of_their_menu() -> None:
    catalog = Catalog()
    for locale in LOCALES:
        text = catalog.render(locale, "common.help")
        listed = re.findall(r"^/(\w+) — ", text, re.M)
        assert listed == list(dict.fromkeys(listed)), locale  # each once
        assert set(listed) == set(PRIVATE_COMMANDS), (locale, set(PRIVATE_COMMANDS) ^ set(listed))
