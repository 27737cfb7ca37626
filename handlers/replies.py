"""Answering from a button press: edit the message in place when we can."""

from __future__ import annotations

import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


def query_bot(query: CallbackQuery) -> Bot:
    bot = query.bot
    if bot is None:  # pragma: no cover - aiogram always binds the bot to updates
        raise RuntimeError("callback query without a bot")
    return bot


def query_chat_id(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message is not None else query.from_user.id


async def edit_or_send(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the pressed message's text and buttons; send anew if it cannot be edited."""
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as exc:
            if "not modified" in str(exc):
                return
    await query_bot(query).send_message(query_chat_id(query), text, reply_markup=markup)


async def drop_buttons(query: CallbackQuery) -> None:
    """Remove the buttons of a message whose question has been answered."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
