"""Buttons of issue 10's features: join requests, the household screen, case details,
the community picker. Callback data stays far below Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from messages import Translator


class JoinDecisionCb(CallbackData, prefix="jr"):
    """Approve (ok) / reject (no) a pending join request."""

    action: str
    request_id: int


class HouseholdCb(CallbackData, prefix="hh"):
    """/household: invite / invite_m (bound to member id) / revoke (invitation id) /
    remove / head (member id) / leave / leave_yes."""

    action: str
    id: int = 0


class CaseDetailsCb(CallbackData, prefix="cdt"):
    """ "Details" on an anonymised case card: answered in the presser's private chat."""

    case_id: int


class CommunityPickCb(CallbackData, prefix="cmm"):
    community_id: int


def request_markup(t: Translator, request_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=t("households.button_approve"),
                    callback_data=JoinDecisionCb(action="ok", request_id=request_id).pack(),
                ),
                InlineKeyboardButton(
                    text=t("households.button_reject"),
                    callback_data=JoinDecisionCb(action="no", request_id=request_id).pack(),
                ),
            ]
        ]
    )


def details_button(t: Translator, case_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=t("cases.button_details"), callback_data=CaseDetailsCb(case_id=case_id).pack()
    )
