"""Every form is left by a command with a note of its own (bot/core/forms.py)."""

from __future__ import annotations

import importlib
import pkgutil

from aiogram.fsm.state import StatesGroup

import handlers
from bot.core.forms import GENERIC, KEEPS_FORM, LEFT_FORMS, command_of, left_form
from messages import Catalog


def _states_groups() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(handlers.__path__):
        module = importlib.import_module(f"handlers.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, StatesGroup)
                and value is not StatesGroup
            ):
                found[value.__name__] = [s.state for s in value.__states__ if s.state]
    return found


def test_every_form_of_the_handlers_has_its_note() -> None:
    groups = _states_groups()
    assert len(groups) >= 13
    for name, states in groups.items():
        for state in states:
            assert left_form(state) is not GENERIC, f"{state}: add {name} to LEFT_FORMS"
    catalog = Catalog()
    for form in (*LEFT_FORMS.values(), GENERIC):
        for locale in ("zh-CN", "en"):
            assert catalog.render(locale, form.key)
        # A restart command is a command that leaves forms (not one that keeps them).
        assert not form.restart & KEEPS_FORM


def test_the_command_of_a_message() -> None:
    assert command_of("/cases@GuardBot 12", "guardbot") == "cases"
    assert command_of("/Cases", "guardbot") == "cases"
    assert command_of("/cases@OtherBot", "guardbot") is None
    assert command_of("cases", "guardbot") is None
    assert command_of("/", "guardbot") is None
