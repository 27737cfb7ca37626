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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject

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
