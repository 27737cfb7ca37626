"""Residents' reports: the step buttons (back, skip, pick, toggle, done), the summary's
Back and the confirmation that saves the report.

A router of its own, tried right after handlers/reports.py (the order of the handlers
is the one they had in a single module).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.places import Gazetteer
from bot.presentation.callbacks import ReportCb
from bot.services import directory
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.forms import (
    ReportFlow,
    advance,
    ask,
    back_row,
    members,
    message_of,
    multi_markup,
    multi_options,
    step_data,
)
from handlers.replies import drop_buttons, edit_or_send
from handlers.report_kinds import STEPS, report_menu_markup, submit
from messages import Catalog, Translator

router = Router(name="report_steps")
router.message.filter(F.chat.type == "private")


# One handler per button of a step; a button that does not belong to the current step
# (an old message, a forged press) reaches `step_button_invalid`.


@router.callback_query(ReportCb.filter(F.action == "back"), ReportFlow.step)
async def step_back(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, _ = await step_data(state, identity)
    index = int(data["index"])
    if index == 0:
        await state.clear()
        await edit_or_send(query, t("reports.menu_title"), report_menu_markup(t))
        return
    await drop_buttons(query)
    await state.update_data(index=index - 1, selected=[], candidates=[])
    await ask(message_of(query), state, session, identity, t)


@router.callback_query(ReportCb.filter(F.action == "skip"), ReportFlow.step)
async def step_skip(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    _, step = await step_data(state, identity)
    if not step.optional:
        raise DomainError("reports.choice_invalid")
    await drop_buttons(query)
    await advance(message_of(query), state, session, identity, t, None)


@router.callback_query(ReportCb.filter(F.action == "place_ok"), ReportFlow.step)
async def step_place_ok(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, step = await step_data(state, identity)
    gaz = Gazetteer.load()
    value = callback_data.value
    if step.kind != "place" or value != data.get("place_parent") or gaz.get(value) is None:
        raise DomainError("reports.choice_invalid")
    await edit_or_send(query, t("reports.place_chosen", place=gaz.full_name(value, t.locale)))
    await advance(message_of(query), state, session, identity, t, value)


@router.callback_query(ReportCb.filter(F.action == "pick"), ReportFlow.step)
async def step_pick(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    _, step = await step_data(state, identity)
    if step.kind == "choice":
        valid = set(step.options)
    elif step.kind == "member":
        valid = {str(pid) for pid, _ in await members(session, identity)}
    else:
        valid = set()
    if callback_data.value not in valid:
        raise DomainError("reports.choice_invalid")
    await drop_buttons(query)
    await advance(message_of(query), state, session, identity, t, callback_data.value)


@router.callback_query(ReportCb.filter(F.action == "toggle"), ReportFlow.step)
async def step_toggle(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, step = await step_data(state, identity)
    value = callback_data.value
    options = (
        {v for v, _ in await multi_options(session, identity, t, step)}
        if step.kind == "multi"
        else set()
    )
    if value not in options:
        raise DomainError("reports.choice_invalid")
    selected = [s for s in data.get("selected", []) if s in options]
    selected = [s for s in selected if s != value] if value in selected else [*selected, value]
    await state.update_data(selected=selected)
    back = back_row(t, int(data["index"]))
    markup = await multi_markup(session, identity, t, step, selected, back)
    if markup is not None:
        await message_of(query).edit_reply_markup(reply_markup=markup)


@router.callback_query(ReportCb.filter(F.action == "done"), ReportFlow.step)
async def step_done(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, step = await step_data(state, identity)
    if step.kind != "multi":
        raise DomainError("reports.choice_invalid")
    options = {v for v, _ in await multi_options(session, identity, t, step)}
    selected = [s for s in data.get("selected", []) if s in options]
    if not selected:
        raise DomainError("reports.choose_one")
    await drop_buttons(query)
    await advance(message_of(query), state, session, identity, t, selected)


@router.callback_query(ReportCb.filter(), ReportFlow.step)
async def step_button_invalid(query: CallbackQuery, state: FSMContext, identity: Identity) -> None:
    await step_data(state, identity)
    raise DomainError("reports.choice_invalid")


# ---------------------------------------------------------------- summary and confirmation


@router.callback_query(ReportCb.filter(F.action == "back"), ReportFlow.confirm)
async def back_from_summary(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    await drop_buttons(query)
    await state.update_data(index=len(STEPS[str(data["kind"])]) - 1, selected=[])
    assert isinstance(query.message, Message)
    await ask(query.message, state, session, identity, t)


@router.callback_query(ReportCb.filter(F.action == "confirm"), ReportFlow.confirm)
async def confirm(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    kind = str(data.get("kind"))
    person = identity.person
    if kind not in STEPS or person is None:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    try:
        result = await submit(session, clock, catalog, person, kind, data.get("answers", {}))
    except (KeyError, ValueError, TypeError):
        await state.clear()
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    await state.clear()
    await drop_buttons(query)
    names = {
        p.id: p.name for p in await directory.household_members(session, person.household_id or 0)
    }
    await edit_or_send(
        query,
        t(
            f"reports.saved_{kind}",
            again=not result.created,
            risk=t(f"reports.level_{result.risk_level}") if result.risk_level else "",
            isolations=[{"name": names.get(i.person_id, ""), "end": i.end_date.isoformat()}
                        for i in result.isolations],
            # Addressed to whoever travelled (a family member by name), not the reporter.
            others=[names.get(i.person_id, "") for i in result.isolations
                    if i.person_id != person.id],
            with_you=any(i.person_id == person.id for i in result.isolations),
            clinics=result.clinics,
            case_id=result.case.id if result.case else None,
        ),
    )  # fmt: skip


@router.callback_query(ReportCb.filter(F.action == "confirm"))
async def confirm_again(query: CallbackQuery, t: Translator) -> None:
    """Submit pressed again after the report was saved (say, its reply never arrived):
    nothing is saved twice, and the resident is told so."""
    await query.answer(t("core.already_submitted"), show_alert=True)
    await drop_buttons(query)
