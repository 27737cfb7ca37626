"""Buttons of the testing-round messages that services and jobs queue (issue 15)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.presentation.callbacks import RoundCb, RoundMarkCb
from messages import Translator

if TYPE_CHECKING:
    from bot.services.rounds import Pending


def _button(text: str, data: RoundCb | RoundMarkCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def round_household_markup(t: Translator, round_id: int) -> InlineKeyboardMarkup:
    """Under a household's notice: report tested ourselves."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("rounds.button_self"), RoundCb(action="self", round_id=round_id))]
        ]
    )


def round_todo_markup(
    t: Translator, round_id: int, shown: Sequence[Pending], first: int, page: int, pages: int
) -> InlineKeyboardMarkup:
    """Per person of a grid worker's list: visited / exempt / away; then paging."""
    rows: list[list[InlineKeyboardButton]] = []
    for offset, p in enumerate(shown):
        n = first + offset + 1
        rows.append(
            [
                _button(t("rounds.button_visited", n=n),
                        RoundMarkCb(action="v", round_id=round_id, person_id=p.person_id)),
                _button(t("rounds.button_exempt", n=n),
                        RoundMarkCb(action="x", round_id=round_id, person_id=p.person_id)),
                _button(t("rounds.button_away", n=n),
                        RoundMarkCb(action="a", round_id=round_id, person_id=p.person_id)),
            ]
        )  # fmt: skip
    nav = []
    if page > 0:
        nav.append(
            _button(t("common.prev"), RoundCb(action="todo", round_id=round_id, page=page - 1))
        )
    if page < pages - 1:
        nav.append(
            _button(t("common.next"), RoundCb(action="todo", round_id=round_id, page=page + 1))
        )
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def round_officer_markup(t: Translator, round_id: int, status: str) -> InlineKeyboardMarkup:
    """Under the live progress: announce (draft), refresh and close (open)."""
    row = []
    if status == "draft":
        row.append(_button(t("rounds.button_announce"), RoundCb(action="ann", round_id=round_id)))
    if status == "open":
        row.append(_button(t("rounds.button_refresh"), RoundCb(action="prog", round_id=round_id)))
        row.append(_button(t("rounds.button_close"), RoundCb(action="close", round_id=round_id)))
    return InlineKeyboardMarkup(inline_keyboard=[row] if row else [])
