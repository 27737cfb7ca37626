"""Update middlewares: one database session per update; who is acting and their locale."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.fsm_storage import current_session
from bot.services.identity import adopt_telegram_name, load_identity
from bot.services.registration import preferred_language
from messages import Catalog, locale_from_telegram, normalise_locale

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """Opens one `AsyncSession` per update; commits when the handler succeeds."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            data["session"] = session
            token = current_session.set(session)
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            finally:
                current_session.reset(token)
            await session.commit()
            return result


class IdentityMiddleware(BaseMiddleware):
    """Loads the acting person and their role grants from the database, and the locale.

    Roles are read on every update, so a revoked role stops working at once, and no
    check ever relies on membership of a chat.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        user: User | None = data.get("event_from_user")
        identity = await load_identity(session, user.id if user else None)
        if identity.person is not None and user is not None:
            adopt_telegram_name(identity.person, user.full_name)
        locale = None
        if identity.person is not None and identity.person.language:
            locale = identity.person.language
        elif user is not None:
            locale = await preferred_language(session, user.id)
        if locale is None:
            locale = locale_from_telegram(user.language_code if user else None)
        locale = normalise_locale(locale)
        data["identity"] = identity
        data["locale"] = locale
        data["t"] = self.catalog.translator(locale)
        return await handler(event, data)
