"""What a failed handler does to the conversation's form (FSM state and data).

The error path (bot/errors.py) answers a DomainError or a ParseError after the update's
transaction rolled back, so by default the FSM state and data are as they were before
the update: a form step that raised asks again, with everything entered so far kept.

Two kinds of handler want the form ended instead, and say so with an aiogram handler
flag (``@router.message(..., flags=LEAVES_FORM)``), which `FormOnError` notes in the
update's context for the error path:

- ``LEAVES_FORM``: a command (or a last step) that first leaves whatever form the user
  was in (``state.clear()``). That clear is part of the update's transaction and would
  be rolled back with the rest, so on any domain or parse error the error path ends the
  form itself: a failed command leaves the user where a successful one would have.
- ``ENDS_ON_REFUSAL``: a form step whose DomainError (a rule refused: the case was
  closed meanwhile, the role was revoked, the isolation ended) ends the form, because
  asking again would not help. A ParseError (input not understood) keeps the form, and
  the user simply types again.

A command typed in the middle of any form leaves it (``/household`` in the middle of a
report), before the handlers are tried: `FormLeftByCommand` clears the form, so no form
step takes the command for its answer, and says so after the command's answer when
something had been entered: "the report you were writing was set aside; /report to start
again" (`LEFT_FORMS`), so the next typed answer getting the main menu is no surprise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, TelegramObject

from bot.core.context import current_update
from bot.parsing import ParseError
from bot.services.errors import DomainError

FLAG: Final = "end_form"
LEAVES_FORM: Final = {FLAG: "always"}
ENDS_ON_REFUSAL: Final = {FLAG: "refusal"}


class FormOnError(BaseMiddleware):
    """Inner middleware (messages, buttons): notes the chosen handler's `end_form` flag."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        ctx = current_update.get()
        if ctx is not None:
            ctx.end_form = get_flag(data, FLAG)
        return await handler(event, data)


async def after_error(data: dict[str, Any], exc: BaseException) -> None:
    """Called by the error path after the rollback, before the user is told."""
    ctx = current_update.get()
    mode = ctx.end_form if ctx is not None else None
    ends = mode == "always" and isinstance(exc, DomainError | ParseError)
    ends = ends or (mode == "refusal" and isinstance(exc, DomainError))
    # A command that left a form (FormLeftByCommand) leaves it also when it is refused.
    left = ctx is not None and ctx.leaves_form
    ends = ends or (left and isinstance(exc, DomainError | ParseError))
    state = data.get("state")
    if not ends or not isinstance(state, FSMContext):
        return
    # Outside the update's (closed) session: DatabaseStorage writes in a transaction of
    # its own; BufferedStorage holds the write in the context until told to flush it.
    await state.clear()
    if ctx is not None:
        await ctx.committed()


@dataclass(frozen=True)
class LeftForm:
    """What a command says when it leaves a form: `key` says so (and how to start again);
    `restart` are the commands that start it over (they say enough themselves); the form
    counts as entered from a state not in `empty_states`, or, when `entered_keys` is
    given, when one of them holds something in its data."""

    key: str
    restart: frozenset[str] = frozenset()
    empty_states: frozenset[str] = frozenset()
    entered_keys: tuple[str, ...] = ()

    def entered(self, raw_state: str, data: Mapping[str, Any]) -> bool:
        if raw_state in self.empty_states:
            return False
        if self.entered_keys:
            return any(data.get(k) for k in self.entered_keys)
        return True


def _left(key: str, *restart: str, **kwargs: Any) -> LeftForm:
    return LeftForm(f"core.form_left_{key}", frozenset(restart), **kwargs)


#: By state ("Group:step") first, then by StatesGroup name (the part before ":"). A form
#: not listed here is left all the same, with the generic `GENERIC` note;
#: tests/core/test_forms_left.py checks that every StatesGroup of handlers/ is listed.
LEFT_FORMS: Final[Mapping[str, LeftForm]] = {
    "ReportFlow": _left("report", "report", entered_keys=("answers",)),
    "Registration": _left("registration", "start", "register",
                          empty_states=frozenset({"Registration:consent"})),
    "Compose": _left("notice", "notice", entered_keys=("text",)),
    # After the visit was saved, its note is optional: leaving it sets nothing aside.
    "Screening": _left("screening", "screen", empty_states=frozenset({"Screening:note"})),
    "MonitorFlow": _left("monitoring", "monitor",
                         empty_states=frozenset({"MonitorFlow:import_file"})),
    "RoundInput:positives": _left("positives", "round_positives"),
    # The photo after a resident's own mark is optional; the mark is saved.
    "RoundInput": _left("round", "round_tick", empty_states=frozenset({"RoundInput:photo"})),
    "IsolationReason": _left("isolation", "isolation"),
    "SupplyFlow:delivery_photo": _left("delivery", "deliveries"),
    "SupplyFlow": _left("supply", "supply"),
    "GateFlow:self_temperature": _left("gate_self", "start"),  # scanning again is /start
    "GateFlow": _left("gate", "gate"),
    "CareFlow": _left("care", "care"),
    "ProfileEdit": _left("profile", "profile"),
    "CaseNote": _left("case_note", "cases"),
    "CheckinInput": _left("checkin"),
}  # fmt: skip
GENERIC: Final = LeftForm("core.form_left")
#: Commands that keep the form (the user reads help or picks a language, then goes on
#: answering) and `/cancel`, which leaves the form and says so itself.
KEEPS_FORM: Final = frozenset({"help", "language", "cancel"})


def left_form(raw_state: str) -> LeftForm:
    return LEFT_FORMS.get(raw_state) or LEFT_FORMS.get(_group(raw_state) or "") or GENERIC


def _group(raw_state: str | None) -> str | None:
    return raw_state.split(":", 1)[0] if raw_state else None


def command_of(text: str | None, bot_username: str) -> str | None:
    """The command of a message ("/cases@bot args" -> "cases"), None when it is not one
    or is addressed to another bot."""
    if not text or not text.startswith("/"):
        return None
    head = text.split(maxsplit=1)[0][1:]
    name, _, mention = head.partition("@")
    if mention and mention.lower() != bot_username.lower():
        return None
    return name.lower() or None


def registered_commands(routers: Iterable[Router]) -> frozenset[str]:
    """Every command a message handler of `routers` (and their sub-routers) answers."""
    names: set[str] = set()
    for top in routers:
        for router in top.chain_tail:
            for handler in router.message.handlers:
                for item in handler.filters or ():
                    if isinstance(item.callback, Command):
                        commands = item.callback.commands
                        names.update(c.lower() for c in commands if isinstance(c, str))
    return frozenset(names)


class FormLeftByCommand(BaseMiddleware):
    """Outer middleware (messages): a command typed in a private chat while a form is
    open leaves the form *before* the handlers are tried, so no form step can take the
    command for its answer and the command runs as it would outside any form. When
    something had been entered, a short note follows the command's own answer (see
    `LEFT_FORMS`). Commands in `KEEPS_FORM` and unknown ones (not in `commands`) keep
    the form. A command that fails leaves the form all the same (`after_error`)."""

    def __init__(self, commands: frozenset[str]) -> None:
        self.commands = commands - KEEPS_FORM

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        raw_state = data.get("raw_state")
        state = data.get("state")
        if (
            not raw_state
            or not isinstance(event, Message)
            or event.chat.type != "private"
            or not isinstance(state, FSMContext)
        ):
            return await handler(event, data)
        name = command_of(event.text, data.get("bot_username") or "")
        if name is None or name not in self.commands:
            return await handler(event, data)
        form = left_form(raw_state)
        say_so = name not in form.restart and form.entered(raw_state, await state.get_data())
        await state.clear()
        data["raw_state"] = None
        ctx = current_update.get()
        if ctx is not None:
            ctx.leaves_form = True
        result = await handler(event, data)
        if say_so and _group(await state.get_state()) != _group(raw_state):
            await event.answer(data["t"](form.key))
        return result
