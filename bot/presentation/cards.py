"""Buttons of the cards that services and jobs queue (case cards, …)."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.db.models import Case, CaseKind, CaseStatus
from bot.presentation.callbacks import (
    CaseCb,
    CaseListCb,
    CaseOpenCb,
    DowntimeCb,
    MonCaseCb,
    PrivacyDecision,
)
from messages import Translator

# The type services name when they pass buttons along (they never import aiogram).
Markup = InlineKeyboardMarkup


def case_card_markup(
    t: Translator, case: Case, *, details: bool = False
) -> InlineKeyboardMarkup | None:
    """Acknowledge / take / resolve, as far as the case's status still allows; on the
    anonymised card of a group, also "details" (answered in the presser's private chat)."""
    from bot.household_cards import details_button

    extra = [[details_button(t, case.id)]] if details else []
    if case.status == CaseStatus.RESOLVED:
        return InlineKeyboardMarkup(inline_keyboard=extra) if extra else None
    row = []
    if case.status == CaseStatus.OPEN:
        row.append(("ack", "cases.button_ack"))
    if case.status in (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED):
        row.append(("take", "cases.button_take"))
    row.append(("resolve", "cases.button_resolve"))
    rows = [
        [
            InlineKeyboardButton(
                text=t(key), callback_data=CaseCb(action=a, case_id=case.id).pack()
            )
            for a, key in row
        ]
    ]
    if case.kind in MONITORING_KINDS:
        # The officer continues in a private chat: a group never gets personal data.
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("monitoring.button_from_case"),
                    callback_data=MonCaseCb(case_id=case.id).pack(),
                )
            ]
        )
    rows.extend(extra)
    return InlineKeyboardMarkup(inline_keyboard=rows)


# Cases whose card offers "start monitoring" (R-CAT: from a tip-off, a tenant report,
# a gate event, a re-matched report, an unknown person of an assignment list).
MONITORING_KINDS = frozenset(
    {
        CaseKind.RETURN, CaseKind.VISIT, CaseKind.TENANT, CaseKind.TIPOFF, CaseKind.SYMPTOM,
        CaseKind.GATE_FEVER, CaseKind.GATE_RISK, CaseKind.GATE_MONITORED,
        CaseKind.RISK_MATCH, CaseKind.NOT_IN_REGISTER,
    }
)  # fmt: skip


def case_list_markup(
    t: Translator,
    entries: Sequence[tuple[int, str]],
    *,
    page: int,
    pages: int,
    kind: str = "",
    place: str = "",
) -> InlineKeyboardMarkup | None:
    """/cases: one button per case (id, label) opening its card, then ◀ ▶ between pages
    (0-based `page`), which keep the filters the list was typed with."""
    rows = [
        [InlineKeyboardButton(text=label, callback_data=CaseOpenCb(case_id=case_id).pack())]
        for case_id, label in entries
    ]
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=t("cases.page_prev"),
                callback_data=CaseListCb(page=page - 1, kind=kind, place=place).pack(),
            )
        )
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(
                text=t("cases.page_next"),
                callback_data=CaseListCb(page=page + 1, kind=kind, place=place).pack(),
            )
        )
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def downtime_markup(t: Translator, community_id: int, since: int) -> InlineKeyboardMarkup:
    """The one button of the "the bot was down" message in the officers' chat."""
    data = DowntimeCb(community_id=community_id, since=since).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("downtime.button_confirm"), callback_data=data)]
        ]
    )


def privacy_request_markup(t: Translator, request_id: int) -> InlineKeyboardMarkup:
    """Confirm / decline a resident's deletion request (sent to officers in private)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=t("privacy.button_confirm"),
                    callback_data=PrivacyDecision(request_id=request_id, confirm=True).pack(),
                ),
                InlineKeyboardButton(
                    text=t("privacy.button_decline"),
                    callback_data=PrivacyDecision(request_id=request_id, confirm=False).pack(),
                ),
            ]
        ]
    )
