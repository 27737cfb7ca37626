"""Update middlewares: one database session per update; who is acting and their locale."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import Chat, Message, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.core import inbox
from bot.core.context import UpdateContext, current_update
from bot.core.outage import database_unavailable, redis_error
from bot.fsm_storage import current_session
from bot.presentation.callbacks import CheckinCb
from bot.services.checkin_fast import FAST_ANSWER, FastAnswer, FastAnswers
from bot.services.errors import RecordedRefusal
from bot.services.identity import adopt_telegram_name, load_identity, load_identity_marking
from bot.services.registration import preferred_language
from handlers.replies import edit_or_send
from messages import Catalog, locale_from_telegram, normalise_locale

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """One `AsyncSession` per update, and the update's inbox row marked done in it.

    The commit barrier (bot/core/barrier.py) commits this session before any Bot API
    call; what the handler does after its reply is committed here at the end. When the
    handler fails, its transaction rolls back (a RecordedRefusal commits what was written
    before it: the refusal is a fact to keep); the update is marked done anyway (in a
    transaction of its own) unless the failure was the database itself or a stop, in
    which case it stays in the inbox to be replayed.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        identity_marks: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        #: PostgreSQL: the inbox mark is left to IdentityMiddleware (which comes next),
        #: which makes it in the same statement as the identity query (one round trip
        #: less per update); an update already handled is skipped all the same.
        self.identity_marks = identity_marks

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = event.update_id if isinstance(event, Update) else None
        ctx_token = None
        if current_update.get() is None and update_id is not None:
            user: User | None = data.get("event_from_user")
            ctx_token = current_update.set(
                UpdateContext(update_id=update_id, user_id=user.id if user else None)
            )
        try:
            return await self._in_session(handler, event, data, update_id)
        finally:
            if ctx_token is not None:
                current_update.reset(ctx_token)

    async def _in_session(
        self, handler: Handler, event: TelegramObject, data: dict[str, Any], update_id: int | None
    ) -> Any:
        async with self.sessionmaker() as session:
            data["session"] = session
            token = current_session.set(session)
            try:
                if update_id is not None and self.identity_marks:
                    session.info[PENDING_MARK] = (update_id, self.clock)
                elif update_id is not None and not await inbox.mark_done(
                    session, self.clock, update_id
                ):
                    log.info("update %s was already handled; skipped", update_id)
                    await session.rollback()
                    return None
                result = await handler(event, data)
                pending_mark = session.info.pop(PENDING_MARK, None)
                if session.info.pop(ALREADY_HANDLED, False) or (
                    # Not reached IdentityMiddleware (nothing was handled): mark it now.
                    pending_mark is not None
                    and not await inbox.mark_done(session, self.clock, pending_mark[0])
                ):
                    log.info("update %s was already handled; skipped", update_id)
                    await session.rollback()
                    return None
                await session.commit()
                ctx = current_update.get()
                if ctx is not None:
                    await ctx.committed()
            except BaseException as exc:
                if isinstance(exc, RecordedRefusal) and await self._keep_refusal(session):
                    raise
                await session.rollback()
                ctx = current_update.get()
                if ctx is not None:
                    ctx.rolled_back()
                if update_id is not None and not _keep_for_replay(exc):
                    await self._mark_failed(update_id)
                raise
            finally:
                current_session.reset(token)
            return result

    async def _keep_refusal(self, session: AsyncSession) -> bool:
        """A RecordedRefusal keeps what was written before it (its audit row)."""
        try:
            await session.commit()
        except Exception:
            log.exception("could not commit a recorded refusal")
            return False
        ctx = current_update.get()
        if ctx is not None:
            await ctx.committed()
        return True

    async def _mark_failed(self, update_id: int) -> None:
        try:
            async with self.sessionmaker.begin() as session:
                await inbox.mark_done(session, self.clock, update_id)
        except Exception:
            log.exception("could not mark update %s done", update_id)


def _keep_for_replay(exc: BaseException) -> bool:
    """Failures of the infrastructure, not of the update: it stays in the inbox (not
    done) to be handled again (the leader's sweep; for Redis, `RedisWatch`)."""
    return isinstance(exc, asyncio.CancelledError) or database_unavailable(exc) or redis_error(exc)


#: session.info keys: the update whose inbox mark DbSessionMiddleware left to
#: IdentityMiddleware, and IdentityMiddleware's finding that it was handled already.
PENDING_MARK = "inbox_pending_mark"
ALREADY_HANDLED = "inbox_already_handled"


class IdentityMiddleware(BaseMiddleware):
    """Loads the acting person and their role grants from the database, and the locale.

    Roles are read on every update, so a revoked role stops working at once, and no
    check ever relies on membership of a chat.
    """

    def __init__(self, catalog: Catalog, checkin_answers: tuple[str, ...] = ()) -> None:
        self.catalog = catalog
        #: Callback data prefixes of check-in answer buttons ("ci:normal:" + id): their
        #: check-in is read in the same query as the person (one round trip less).
        self.checkin_answers = checkin_answers

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        pending_mark: tuple[int, Clock] | None = session.info.pop(PENDING_MARK, None)
        if pending_mark is not None and user is not None:
            update_id, clock = pending_mark
            identity, marked = await load_identity_marking(
                session,
                clock,
                user.id,
                chat.id if chat else None,
                update_id=update_id,
                checkin_id=self._checkin_of(event),
            )
            if not marked:
                session.info[ALREADY_HANDLED] = True
                return None
        else:
            if pending_mark is not None and not await inbox.mark_done(
                session, pending_mark[1], pending_mark[0]
            ):
                session.info[ALREADY_HANDLED] = True
                return None
            identity = await load_identity(
                session,
                user.id if user else None,
                chat.id if chat else None,
                checkin_id=self._checkin_of(event),
            )
        if identity.person is not None and user is not None:
            adopt_telegram_name(identity.person, user.full_name)
        locale = None
        if identity.person is not None:
            locale = identity.person.language or identity.preferred_language
        elif user is not None:
            locale = await preferred_language(session, user.id)
        if locale is None:
            locale = locale_from_telegram(user.language_code if user else None)
        locale = normalise_locale(locale)
        data["identity"] = identity
        data["locale"] = locale
        data["t"] = self.catalog.translator(locale)
        return await handler(event, data)

    def _checkin_of(self, event: TelegramObject) -> int | None:
        query = event.callback_query if isinstance(event, Update) else None
        if query is None or not self.checkin_answers:
            return None
        data = query.data or ""
        if not data.startswith(self.checkin_answers):
            return None
        tail = data.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() and len(tail) < 19 else None


#: The user Telegram shows as the sender of an anonymous group admin's messages.
GROUP_ANONYMOUS_BOT = 1087968824


class AnonymousSenderMiddleware(BaseMiddleware):
    """A command sent on behalf of a chat (an anonymous group admin, a channel) has no
    person behind it the bot could check roles for: it is answered with how to proceed
    instead of being taken for a resident's or ignored."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if (
            isinstance(event, Message)
            and event.sender_chat is not None
            and event.chat.type in ("group", "supergroup")
            and (event.text or event.caption or "").startswith("/")
        ):
            await event.reply(data["t"]("core.anonymous_admin"))
            return None
        return await handler(event, data)


class ForwardedMessageMiddleware(BaseMiddleware):
    """A forwarded message is someone else's words, not the forwarder's input: it never
    runs a command, answers a form step or a check-in. In a private chat it is answered
    with "type it yourself"; in a group it is left alone. Conversation states in
    `accepts` (e.g. composing a notice, where forwarding an official text is the point)
    still get it."""

    def __init__(self, accepts: Iterable[str] = ()) -> None:
        self.accepts = frozenset(accepts)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message) or event.forward_origin is None:
            return await handler(event, data)
        if data.get("raw_state") in self.accepts:
            return await handler(event, data)
        if event.chat.type == "private":
            await event.answer(data["t"]("common.forward_not_read"))
        return None


class FastCheckinAnswer(BaseMiddleware):
    """The resident's "I am well" press on a check-in prompt, without the general
    per-update machinery (no AsyncSession, no identity and roles query, no FSM, no
    router walk): one call records it with the other presses of the moment
    (bot/services/checkin_fast.py), then the
    same two Bot API calls the general path makes — the prompt edited into the thanks
    text (the text rendered once per locale and kept), then the callback answered.

    Anything else (another answer, a press the statement does not record: someone
    else's, answered already, another day, SQLite) goes on down the chain unchanged,
    so what a user sees and what is stored are those of the general path.
    See docs/design-core.md ("The check-in answer fast path")."""

    def __init__(self, answers: FastAnswers, catalog: Catalog) -> None:
        self.answers = answers
        self.catalog = catalog
        self.prefix = CheckinCb(answer=FAST_ANSWER, checkin_id=0).pack()[:-1]
        self._own_thanks: dict[str, str] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        query = event.callback_query if isinstance(event, Update) else None
        if (
            query is None
            or not self.answers.enabled
            or not (query.data or "").startswith(self.prefix)
            or not isinstance(query.message, Message)
        ):
            return await handler(event, data)
        tail = (query.data or "")[len(self.prefix) :]
        if not (tail.isdigit() and len(tail) < 19):
            return await handler(event, data)
        assert isinstance(event, Update)
        found = await self.answers.record(
            update_id=event.update_id, user_id=query.from_user.id, checkin_id=int(tail)
        )
        if found is None:
            return await handler(event, data)
        locale = normalise_locale(
            found.locale or locale_from_telegram(query.from_user.language_code)
        )
        ctx = UpdateContext(update_id=event.update_id, user_id=query.from_user.id)
        token = current_update.set(ctx)
        try:
            await edit_or_send(query, self._thanks(locale, found))
            if not ctx.callback_answered:
                with contextlib.suppress(TelegramAPIError):
                    await query.answer()
        finally:
            current_update.reset(token)
        return None

    def _thanks(self, locale: str, found: FastAnswer) -> str:
        """handlers/checkin.py's `_result_text` for a "normal" answer."""
        if not found.own:
            return self.catalog.render(
                locale, "checkin.thanks", name=found.name, member=True, temperature=""
            )
        text = self._own_thanks.get(locale)
        if text is None:
            text = self.catalog.render(
                locale, "checkin.thanks", name=found.name, member=False, temperature=""
            )
            self._own_thanks[locale] = text
        return text


class LeanFSMContextMiddleware(FSMContextMiddleware):
    """aiogram's FSM middleware, except for updates known to need no conversation
    state (a button press whose callback data starts with one of `stateless`): those
    neither read the state from storage nor take the per-user lock. Handlers still
    receive `state` (reading it then costs what it always did); `raw_state` is None,
    so only handlers without a state filter see such an update."""

    def __init__(self, base: FSMContextMiddleware, stateless: tuple[str, ...]) -> None:
        super().__init__(base.storage, base.events_isolation, base.strategy)
        self.stateless = stateless

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        query = event.callback_query if isinstance(event, Update) else None
        if query is None or not (query.data or "").startswith(self.stateless):
            return await super().__call__(handler, event, data)
        context = self.resolve_event_context(data["bot"], data)
        data["fsm_storage"] = self.storage
        if context is not None:
            data.update({"state": context, "raw_state": None})
        return await handler(event, data)


def install_lean_fsm(dispatcher: Dispatcher, stateless: tuple[str, ...]) -> None:
    """Swap the dispatcher's FSM middleware for `LeanFSMContextMiddleware`."""
    lean = LeanFSMContextMiddleware(dispatcher.fsm, stateless)
    chain = dispatcher.update.outer_middleware._middlewares
    chain[chain.index(dispatcher.fsm)] = lean
    dispatcher.fsm = lean
