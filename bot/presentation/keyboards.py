"""Small builders for keyboards used by several routers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from messages import Translator

T = TypeVar("T")
PAGE_SIZE = 12


def paged_choices(
    items: Sequence[T],
    *,
    label: Callable[[T], str],
    data: Callable[[T], CallbackData],
    page: int,
    page_data: Callable[[int], CallbackData],
    t: Translator,
    columns: int = 3,
    extra: Sequence[InlineKeyboardButton] = (),
) -> InlineKeyboardMarkup:
    """A grid of choices, PAGE_SIZE at a time, with previous/next buttons when long."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    builder = InlineKeyboardBuilder()
    for item in items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        builder.button(text=label(item), callback_data=data(item))
    builder.adjust(columns)
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(text=t("common.prev"), callback_data=page_data(page - 1).pack())
        )
    if pages > 1:
        nav.append(
            InlineKeyboardButton(
                text=t("common.page", page=page + 1, pages=pages),
                callback_data=page_data(page).pack(),
            )
        )
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(text=t("common.next"), callback_data=page_data(page + 1).pack())
        )
    if nav:
        builder.row(*nav)
    if extra:
        builder.row(*extra)
    return builder.as_markup()


def buttons(rows: Sequence[Sequence[tuple[str, CallbackData]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=cb.pack()) for text, cb in row]
            for row in rows
        ]
    )


def url_button(text: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, url=url)]])


def share_contact_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=t("registration.share_phone_button"), request_contact=True)]
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=t("registration.phone_placeholder"),
    )


def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"
