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

A command that *succeeds* also leaves the form it interrupts (``/household`` in the middle
of a report). `FormLeftByCommand` says so when something had been entered: "the report
you were writing was set aside; /report to start again" (`LEFT_FORMS`), so the next typed
answer getting the main menu is no surprise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
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
    """A form worth a word when a command leaves it: `key` says so (and how to start
    again); `restart` are the commands that start it over (they say enough themselves);
    the form counts as entered from a state not in `empty_states`, or when one of
    `entered_keys` holds something in its data."""

    key: str
    restart: frozenset[str]
    empty_states: frozenset[str] = frozenset()
    entered_keys: tuple[str, ...] = ()

    def entered(self, raw_state: str, data: Mapping[str, Any]) -> bool:
        if self.entered_keys:
            return any(data.get(k) for k in self.entered_keys)
        return raw_state not in self.empty_states


#: By the StatesGroup's name (the part of the state before ":").
LEFT_FORMS: Final[Mapping[str, LeftForm]] = {
    "ReportFlow": LeftForm("core.form_left_report", frozenset({"report"}),
                           entered_keys=("answers",)),
    "Registration": LeftForm("core.form_left_registration", frozenset({"start", "register"}),
                             empty_states=frozenset({"Registration:consent"})),
    "Compose": LeftForm("core.form_left_notice", frozenset({"notice"}), entered_keys=("text",)),
}  # fmt: skip
#: Commands that leave a form and say so themselves.
_SAYS_SO = frozenset({"cancel"})


def _group(raw_state: str | None) -> str | None:
    return raw_state.split(":", 1)[0] if raw_state else None


class FormLeftByCommand(BaseMiddleware):
    """Inner middleware (messages): after a command handled while a form with something
    entered was open, if the form was left, tells the user (see `LEFT_FORMS`)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        raw_state = data.get("raw_state")
        form = LEFT_FORMS.get(_group(raw_state) or "")
        state = data.get("state")
        message = event if isinstance(event, Message) else None
        text = message.text if message is not None else None
        if message is None or form is None or not isinstance(state, FSMContext):
            return await handler(event, data)
        if not text or not text.startswith("/"):
            return await handler(event, data)
        name = text.split(maxsplit=1)[0][1:].partition("@")[0].lower()
        assert raw_state is not None
        if (
            name in form.restart
            or name in _SAYS_SO
            or not form.entered(raw_state, await state.get_data())
        ):
            return await handler(event, data)
        result = await handler(event, data)
        if _group(await state.get_state()) != _group(raw_state):
            await message.answer(data["t"](form.key))
        return result
