"""Residents' reports in the private chat (R-RET, R-VIS, R-TEN, R-SYM, R-TIP, R-SUP):
choosing a report, typed answers, the place picker, and /me (R-ME).

The steps of each report are in handlers/report_kinds.py, the form engine that asks
them in handlers/forms.py; the step buttons, the summary and the confirmation in
handlers/report_steps.py (the next router, so the order handlers are tried in is kept).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.places import Gazetteer
from bot.presentation.callbacks import MenuCb, PlaceCb, PlacePage
from bot.services import reports
from bot.services.identity import Identity
from handlers.forms import (
    ReportFlow,
    advance,
    ask,
    ask_text,
    current_step,
    parse_typed,
    place_markup,
    typed_place,
)
from handlers.replies import drop_buttons, edit_or_send
from handlers.report_kinds import BUTTON_STEPS, STEPS, report_menu_markup
from messages import Translator

router = Router(name="reports")
router.message.filter(F.chat.type == "private")

__all__ = ["ReportFlow", "report_menu_markup", "router", "show_report_menu"]


# ---------------------------------------------------------------- entry points


async def show_report_menu(message: Message, identity: Identity, t: Translator) -> None:
    """The list of reports (from /report, /start report, or the main menu)."""
    if not identity.is_registered:
        await message.answer(t("reports.register_first"))
        return
    await message.answer(t("reports.menu_title"), reply_markup=report_menu_markup(t))


@router.message(Command("report"), StateFilter("*"))
async def report_command(
    message: Message, state: FSMContext, identity: Identity, t: Translator
) -> None:
    await state.clear()
    await show_report_menu(message, identity, t)


@router.callback_query(MenuCb.filter(F.action.startswith("report_")))
async def report_chosen(
    query: CallbackQuery,
    callback_data: MenuCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    kind = callback_data.action.removeprefix("report_")
    if kind not in STEPS:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    if not identity.is_registered or identity.person is None:
        await query.answer(t("reports.register_first"), show_alert=True)
        return
    if kind == "supplies":
        assert identity.person.household_id is not None
        if not await reports.isolated_members(session, identity.person.household_id):
            await edit_or_send(query, t("reports.supplies_not_isolated"))
            return
    await drop_buttons(query)
    await state.clear()
    await state.set_state(ReportFlow.step)
    await state.update_data(kind=kind, index=0, answers={})
    assert isinstance(query.message, Message)
    await query.message.answer(t("reports.intro", kind=t(f"reports.menu_{kind}")))
    await ask(query.message, state, session, identity, t)


# ---------------------------------------------------------------- typed answers


# A command typed inside a report (/me, /household) is that command, not an answer.
@router.message(ReportFlow.step, F.text, ~F.text.startswith("/"))
async def typed(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    step = await current_step(state)
    if step is None or identity.person is None:
        await state.clear()
        await message.answer(t("common.button_expired"))
        return
    raw = message.text or ""
    if step.kind in BUTTON_STEPS:
        await message.answer(t("reports.use_buttons"))
        return
    if step.kind == "place":
        await typed_place(message, state, session, clock, identity, t, raw)
        return
    value = await parse_typed(session, clock, identity, step, raw)
    await advance(message, state, session, identity, t, value)


@router.message(ReportFlow.confirm, F.text, ~F.text.startswith("/"))
async def typed_at_confirm(message: Message, t: Translator) -> None:
    await message.answer(t("reports.use_buttons"))


# ---------------------------------------------------------------- the place picker


@router.callback_query(PlacePage.filter(), ReportFlow.step)
async def place_page(
    query: CallbackQuery, callback_data: PlacePage, state: FSMContext, t: Translator
) -> None:
    data = await state.get_data()
    step = await current_step(state)
    if step is None or step.kind != "place" or callback_data.parent != data.get("place_parent"):
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    index = int(data["index"])
    await edit_or_send(
        query,
        ask_text(t, data, index),
        place_markup(t, callback_data.parent, callback_data.page, index),
    )


@router.callback_query(PlaceCb.filter(), ReportFlow.step)
async def place_picked(
    query: CallbackQuery,
    callback_data: PlaceCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    step = await current_step(state)
    gaz = Gazetteer.load()
    place = gaz.get(callback_data.code)
    parent = str(data.get("place_parent", ""))
    in_list = place is not None and (place.parent_code or "") == parent
    candidate = callback_data.code in data.get("candidates", [])
    if step is None or step.kind != "place" or place is None or not (in_list or candidate):
        await query.answer(t("reports.choice_invalid"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    children = gaz.children(place.code)
    if candidate or not children:
        await edit_or_send(
            query, t("reports.place_chosen", place=gaz.full_name(place.code, t.locale))
        )
        await advance(query.message, state, session, identity, t, place.code)
        return
    # Municipalities: the province's only child is the twin city; skip straight to it.
    if len(children) == 1 and gaz.children(children[0].code):
        place = children[0]
    await state.update_data(place_parent=place.code)
    index = int(data["index"])
    await edit_or_send(
        query,
        ask_text(t, data, index),
        place_markup(t, place.code, 0, index),
    )


# ---------------------------------------------------------------- my status (R-ME)


async def _my_status_text(
    session: AsyncSession, clock: Clock, identity: Identity, t: Translator
) -> str:
    person = identity.person
    assert person is not None
    status = await reports.my_status(session, clock, person)
    gaz = Gazetteer.load()
    path = await reports.reporter_context(session, person)
    tz = local_now(clock, path.community.timezone).tzinfo
    return t(
        "reports.me",
        reports=[
            {"id": r.id, "kind": t(f"reports.menu_{r.kind}"),
             "date": r.created_at.astimezone(tz).strftime("%Y-%m-%d"),
             "place": gaz.full_name(r.origin_code, t.locale) if r.origin_code else "",
             "risk": t(f"reports.level_{r.risk_level}") if r.risk_level else ""}
            for r in status.reports
        ],
        isolated=status.isolation is not None,
        isolations=[
            {"name": "" if i.person.id == person.id else i.person.name,
             "start": i.isolation.start_date.isoformat(),
             "end": i.isolation.end_date.isoformat(), "day_number": i.day_number,
             "days": i.total_days, "days_left": i.days_left,
             "checkins": [{"day": c.day.isoformat(), "number": c.day_number, "status": c.status,
                           "temperature": str(c.temperature) if c.temperature is not None else ""}
                          for c in i.checkins]}
            for i in status.isolations
        ],
    )  # fmt: skip


@router.message(Command("me"), StateFilter("*"))
async def me(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    await state.clear()
    if not identity.is_registered:
        await message.answer(t("reports.register_first"))
        return
    await message.answer(await _my_status_text(session, clock, identity, t))


@router.callback_query(MenuCb.filter(F.action == "me"))
async def me_from_menu(
    query: CallbackQuery, session: AsyncSession, clock: Clock, identity: Identity, t: Translator
) -> None:
    if not identity.is_registered:
        await edit_or_send(query, t("reports.register_first"))
        return
    await edit_or_send(query, await _my_status_text(session, clock, identity, t))
