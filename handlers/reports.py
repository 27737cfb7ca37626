"""Residents' reports in the private chat (R-RET, R-VIS, R-TEN, R-SYM, R-TIP, R-SUP).

Each report is a list of steps (STEPS); one FSM state waits for the current step's
answer, one for the confirmation. Every step has Back, /cancel works everywhere, and
the state lives in the FSM storage (database or Redis) so a restart changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now, local_today
from bot.parsing import (
    ParseError,
    clean_name,
    clean_text,
    parse_int_in_range,
    parse_past_date,
    parse_phone,
    parse_temperature,
)
from bot.places import Gazetteer
from bot.presentation.callbacks import MenuCb, PlaceCb, PlacePage, ReportCb
from bot.presentation.keyboards import buttons, paged_choices
from bot.services import directory, rematch, reports
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="reports")
router.message.filter(F.chat.type == "private")

KINDS: tuple[str, ...] = ("return", "visit", "tenant", "symptom", "tipoff", "supplies")


class ReportFlow(StatesGroup):
    step = State()
    confirm = State()


@dataclass(frozen=True)
class Step:
    """One question: `field` is where the answer goes, `kind` how it is asked/parsed."""

    field: str
    kind: str  # place | date | choice | multi | member | text | name | names | phone | temp | int
    options: tuple[str, ...] = ()
    max_len: int = 0
    optional: bool = False


STEPS: dict[str, tuple[Step, ...]] = {
    "return": (
        Step("origin", "place"),
        Step("arrival", "date"),
        Step("transport", "choice", reports.TRANSPORTS),
        Step("travellers", "multi"),
    ),
    "visit": (
        Step("visitor", "name"),
        Step("visitor_phone", "phone", optional=True),
        Step("origin", "place"),
        Step("arrival", "date"),
        Step("stay", "int"),
    ),
    "tenant": (
        Step("who", "choice", ("tenant", "relatives")),
        Step("names", "names", max_len=200),
        Step("origin", "place"),
        Step("arrival", "date"),
        Step("phone", "phone"),
        Step("room", "text", max_len=40, optional=True),
    ),
    "symptom": (
        Step("subject", "member"),
        Step("symptoms", "multi", reports.SYMPTOMS),
        Step("temperature", "temp", optional=True),
        Step("since", "date"),
    ),
    "tipoff": (
        Step("concern", "choice", reports.CONCERNS),
        Step("about", "text", max_len=100),
        Step("text", "text", max_len=reports.TEXT_MAX),
    ),
    "supplies": (
        Step("need", "choice", reports.NEEDS),
        Step("text", "text", max_len=reports.TEXT_MAX),
    ),
}
BUTTON_STEPS = {"choice", "multi", "member"}


# ---------------------------------------------------------------- entry points


def report_menu_markup(t: Translator) -> InlineKeyboardMarkup:
    rows = [
        [(t(f"reports.menu_{k}"), MenuCb(action=f"report_{k}")) for k in KINDS[i : i + 2]]
        for i in range(0, len(KINDS), 2)
    ]
    return buttons(rows)


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


# ---------------------------------------------------------------- asking


def _back_row(t: Translator, index: int) -> list[InlineKeyboardButton]:
    del index  # the first step's Back leads to the report menu
    return [
        InlineKeyboardButton(text=t("reports.back"), callback_data=ReportCb(action="back").pack())
    ]


async def _members(session: AsyncSession, identity: Identity) -> list[tuple[int, str]]:
    person = identity.person
    assert person is not None and person.household_id is not None
    return [(m.id, m.name) for m in await directory.household_members(session, person.household_id)]


def _place_markup(t: Translator, parent: str, page: int, index: int) -> InlineKeyboardMarkup:
    gaz = Gazetteer.load()
    items = gaz.provinces() if not parent else gaz.children(parent)
    extra = list(_back_row(t, index))
    if parent:
        extra.insert(0, InlineKeyboardButton(
            text=t("reports.place_this", place=gaz.full_name(parent, t.locale)),
            callback_data=ReportCb(action="place_ok", value=parent).pack(),
        ))  # fmt: skip
    return paged_choices(
        items,
        label=lambda p: p.display(t.locale),
        data=lambda p: PlaceCb(code=p.code),
        page=page,
        page_data=lambda pg: PlacePage(parent=parent, page=pg),
        t=t,
        columns=3,
        extra=extra,
    )


async def ask(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    edit: CallbackQuery | None = None,
) -> None:
    """Ask the current step's question (or show the summary after the last step)."""
    data = await state.get_data()
    kind, index = str(data["kind"]), int(data["index"])
    steps = STEPS[kind]
    if index >= len(steps):
        await show_summary(message, state, session, identity, t)
        return
    step = steps[index]
    await state.set_state(ReportFlow.step)
    text = t(f"reports.ask_{kind}_{step.field}", step=index + 1, steps=len(steps))
    back = _back_row(t, index)
    skip = (
        [InlineKeyboardButton(text=t("reports.skip"), callback_data=ReportCb(action="skip").pack())]
        if step.optional
        else []
    )
    markup: InlineKeyboardMarkup | None
    if step.kind == "place":
        await state.update_data(place_parent="", candidates=[])
        markup = _place_markup(t, "", 0, index)
    elif step.kind == "choice":
        rows = [
            [(t(f"reports.{step.field}_{o}"), ReportCb(action="pick", value=o))]
            for o in step.options
        ]
        markup = _with(buttons(rows), back)
    elif step.kind == "member":
        rows = [
            [(name, ReportCb(action="pick", value=str(pid)))]
            for pid, name in await _members(session, identity)
        ]
        markup = _with(buttons(rows), back)
    elif step.kind == "multi":
        markup = await _multi_markup(session, identity, t, step, data.get("selected", []), back)
    else:
        markup = _with(InlineKeyboardMarkup(inline_keyboard=[]), skip + back)
    if edit is not None:
        await edit_or_send(edit, text, markup)
    else:
        await message.answer(text, reply_markup=markup)


def _with(
    markup: InlineKeyboardMarkup, row: list[InlineKeyboardButton]
) -> InlineKeyboardMarkup | None:
    rows = [*markup.inline_keyboard, row] if row else list(markup.inline_keyboard)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def _multi_options(
    session: AsyncSession, identity: Identity, t: Translator, step: Step
) -> list[tuple[str, str]]:
    if step.field == "travellers":
        return [(str(pid), name) for pid, name in await _members(session, identity)]
    return [(o, t(f"reports.symptom_{o}")) for o in step.options]


async def _multi_markup(
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    step: Step,
    selected: list[str],
    back: list[InlineKeyboardButton],
) -> InlineKeyboardMarkup | None:
    options = await _multi_options(session, identity, t, step)
    rows = [
        [
            (
                t("reports.option_on" if value in selected else "reports.option_off", label=label),
                ReportCb(action="toggle", value=value),
            )
        ]
        for value, label in options
    ]
    rows.append([(t("reports.done"), ReportCb(action="done"))])
    return _with(buttons(rows), back)


async def _advance(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    value: Any,
) -> None:
    data = await state.get_data()
    kind, index = str(data["kind"]), int(data["index"])
    field = STEPS[kind][index].field
    answers = {**data.get("answers", {}), field: value}
    await state.update_data(answers=answers, index=index + 1, selected=[], candidates=[])
    await ask(message, state, session, identity, t)


async def _current_step(state: FSMContext) -> Step | None:
    data = await state.get_data()
    kind, index = data.get("kind"), data.get("index")
    if kind not in STEPS or not isinstance(index, int) or not 0 <= index < len(STEPS[str(kind)]):
        return None
    return STEPS[str(kind)][index]


# ---------------------------------------------------------------- typed answers


@router.message(ReportFlow.step, F.text)
async def typed(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    step = await _current_step(state)
    if step is None or identity.person is None:
        await state.clear()
        await message.answer(t("common.button_expired"))
        return
    raw = message.text or ""
    if step.kind in BUTTON_STEPS:
        await message.answer(t("reports.use_buttons"))
        return
    if step.kind == "place":
        await _typed_place(message, state, session, clock, identity, t, raw)
        return
    community = await _community_tz(session, identity)
    value: Any
    if step.kind == "date":
        value = parse_past_date(raw, local_today(clock, community)).isoformat()
    elif step.kind == "name":
        value = clean_name(raw)
    elif step.kind == "names":
        names = [
            clean_name(n)
            for n in clean_text(raw, step.max_len).replace("，", ",").replace("、", ",").split(",")
            if n.strip()
        ]
        if not names:
            raise ParseError("name.invalid")
        value = names
    elif step.kind == "text":
        value = clean_text(raw, step.max_len, multiline=True)
    elif step.kind == "phone":
        value = parse_phone(raw)
    elif step.kind == "temp":
        value = str(parse_temperature(raw))
    elif step.kind == "int":
        value = parse_int_in_range(raw, 1, reports.STAY_MAX_DAYS)
    else:  # pragma: no cover - every kind is handled above
        raise ParseError("text.empty")
    await _advance(message, state, session, identity, t, value)


async def _community_tz(session: AsyncSession, identity: Identity) -> str:
    assert identity.person is not None
    path = await reports.reporter_context(session, identity.person)
    return path.community.timezone


async def _needs_district(
    session: AsyncSession, clock: Clock, identity: Identity, code: str
) -> bool:
    assert identity.person is not None
    path = await reports.reporter_context(session, identity.person)
    today = local_today(clock, path.community.timezone)
    return await rematch.districts_at_risk(session, path.community.id, code, today)


async def _typed_place(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    raw: str,
) -> None:
    gaz = Gazetteer.load()
    found = gaz.resolve(raw)
    if not found:
        await message.answer(t("reports.place_unknown", text=raw[:40]))
        return
    if len(found) == 1 and await _needs_district(session, clock, identity, found[0].code):
        # A city with risk areas in some districts only: which district? (R-RISK)
        index = int((await state.get_data())["index"])
        await state.update_data(place_parent=found[0].code)
        await message.answer(
            t("monitoring.which_district", place=gaz.full_name(found[0].code, t.locale)),
            reply_markup=_place_markup(t, found[0].code, 0, index),
        )
        return
    if len(found) == 1:
        await message.answer(
            t("reports.place_chosen", place=gaz.full_name(found[0].code, t.locale))
        )
        await _advance(message, state, session, identity, t, found[0].code)
        return
    codes = [p.code for p in found]
    await state.update_data(candidates=codes)
    index = int((await state.get_data())["index"])
    rows = [[(gaz.full_name(c, t.locale), PlaceCb(code=c))] for c in codes]
    await message.answer(
        t("reports.place_which"), reply_markup=_with(buttons(rows), _back_row(t, index))
    )


@router.message(ReportFlow.confirm, F.text)
async def typed_at_confirm(message: Message, t: Translator) -> None:
    await message.answer(t("reports.use_buttons"))


# ---------------------------------------------------------------- buttons


@router.callback_query(PlacePage.filter(), ReportFlow.step)
async def place_page(
    query: CallbackQuery, callback_data: PlacePage, state: FSMContext, t: Translator
) -> None:
    data = await state.get_data()
    step = await _current_step(state)
    if step is None or step.kind != "place" or callback_data.parent != data.get("place_parent"):
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    kind, index = str(data["kind"]), int(data["index"])
    await edit_or_send(
        query,
        t(f"reports.ask_{kind}_{step.field}", step=index + 1, steps=len(STEPS[kind])),
        _place_markup(t, callback_data.parent, callback_data.page, index),
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
    step = await _current_step(state)
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
        await _advance(query.message, state, session, identity, t, place.code)
        return
    # Municipalities: the province's only child is the twin city; skip straight to it.
    if len(children) == 1 and gaz.children(children[0].code):
        place = children[0]
    await state.update_data(place_parent=place.code)
    kind, index = str(data["kind"]), int(data["index"])
    await edit_or_send(
        query,
        t(f"reports.ask_{kind}_{step.field}", step=index + 1, steps=len(STEPS[kind])),
        _place_markup(t, place.code, 0, index),
    )


# One handler per button of a step; a button that does not belong to the current step
# (an old message, a forged press) reaches `step_button_invalid`.


async def _step(state: FSMContext, identity: Identity) -> tuple[dict[str, Any], Step]:
    step = await _current_step(state)
    if step is None or identity.person is None:
        raise DomainError("common.button_expired")
    return await state.get_data(), step


def _message(query: CallbackQuery) -> Message:
    if not isinstance(query.message, Message):
        raise DomainError("common.button_expired")
    return query.message


@router.callback_query(ReportCb.filter(F.action == "back"), ReportFlow.step)
async def step_back(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, _ = await _step(state, identity)
    index = int(data["index"])
    if index == 0:
        await state.clear()
        await edit_or_send(query, t("reports.menu_title"), report_menu_markup(t))
        return
    await drop_buttons(query)
    await state.update_data(index=index - 1, selected=[], candidates=[])
    await ask(_message(query), state, session, identity, t)


@router.callback_query(ReportCb.filter(F.action == "skip"), ReportFlow.step)
async def step_skip(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    _, step = await _step(state, identity)
    if not step.optional:
        raise DomainError("reports.choice_invalid")
    await drop_buttons(query)
    await _advance(_message(query), state, session, identity, t, None)


@router.callback_query(ReportCb.filter(F.action == "place_ok"), ReportFlow.step)
async def step_place_ok(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, step = await _step(state, identity)
    gaz = Gazetteer.load()
    value = callback_data.value
    if step.kind != "place" or value != data.get("place_parent") or gaz.get(value) is None:
        raise DomainError("reports.choice_invalid")
    await edit_or_send(query, t("reports.place_chosen", place=gaz.full_name(value, t.locale)))
    await _advance(_message(query), state, session, identity, t, value)


@router.callback_query(ReportCb.filter(F.action == "pick"), ReportFlow.step)
async def step_pick(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    _, step = await _step(state, identity)
    if step.kind == "choice":
        valid = set(step.options)
    elif step.kind == "member":
        valid = {str(pid) for pid, _ in await _members(session, identity)}
    else:
        valid = set()
    if callback_data.value not in valid:
        raise DomainError("reports.choice_invalid")
    await drop_buttons(query)
    await _advance(_message(query), state, session, identity, t, callback_data.value)


@router.callback_query(ReportCb.filter(F.action == "toggle"), ReportFlow.step)
async def step_toggle(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, step = await _step(state, identity)
    value = callback_data.value
    options = (
        {v for v, _ in await _multi_options(session, identity, t, step)}
        if step.kind == "multi"
        else set()
    )
    if value not in options:
        raise DomainError("reports.choice_invalid")
    selected = [s for s in data.get("selected", []) if s in options]
    selected = [s for s in selected if s != value] if value in selected else [*selected, value]
    await state.update_data(selected=selected)
    back = _back_row(t, int(data["index"]))
    markup = await _multi_markup(session, identity, t, step, selected, back)
    if markup is not None:
        await _message(query).edit_reply_markup(reply_markup=markup)


@router.callback_query(ReportCb.filter(F.action == "done"), ReportFlow.step)
async def step_done(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data, step = await _step(state, identity)
    if step.kind != "multi":
        raise DomainError("reports.choice_invalid")
    options = {v for v, _ in await _multi_options(session, identity, t, step)}
    selected = [s for s in data.get("selected", []) if s in options]
    if not selected:
        raise DomainError("reports.choose_one")
    await drop_buttons(query)
    await _advance(_message(query), state, session, identity, t, selected)


@router.callback_query(ReportCb.filter(), ReportFlow.step)
async def step_button_invalid(query: CallbackQuery, state: FSMContext, identity: Identity) -> None:
    await _step(state, identity)
    raise DomainError("reports.choice_invalid")


# ---------------------------------------------------------------- summary and submit


async def _display(
    session: AsyncSession, identity: Identity, t: Translator, kind: str, step: Step, value: Any
) -> str:
    if value is None:
        return t("reports.skipped")
    if step.kind == "place":
        return Gazetteer.load().full_name(str(value), t.locale)
    if step.kind == "choice":
        return t(f"reports.{step.field}_{value}")
    if step.kind == "member":
        names = dict(await _members(session, identity))
        return names.get(int(value), "?")
    if step.kind == "multi":
        if step.field == "travellers":
            names = dict(await _members(session, identity))
            return t("reports.list_sep").join(names.get(int(v), "?") for v in value)
        return t("reports.list_sep").join(t(f"reports.symptom_{v}") for v in value)
    if step.kind == "names":
        return t("reports.list_sep").join(value)
    if step.kind == "temp":
        return t("reports.temperature_value", value=value)
    return str(value)


async def show_summary(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    data = await state.get_data()
    kind = str(data["kind"])
    answers = data.get("answers", {})
    rows = [
        {"label": t(f"reports.field_{kind}_{s.field}"),
         "value": await _display(session, identity, t, kind, s, answers.get(s.field))}
        for s in STEPS[kind]
    ]  # fmt: skip
    await state.set_state(ReportFlow.confirm)
    await message.answer(
        t("reports.summary", kind=t(f"reports.menu_{kind}"), rows=rows, anonymous=kind == "tipoff"),
        reply_markup=buttons(
            [
                [(t("reports.confirm"), ReportCb(action="confirm"))],
                [(t("reports.back"), ReportCb(action="back"))],
            ]
        ),
    )


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
        result = await _submit(session, clock, catalog, person, kind, data.get("answers", {}))
    except DomainError as exc:
        await query.answer(t(exc.key, **exc.params), show_alert=True)
        return
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


async def _submit(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    person: Any,
    kind: str,
    a: dict[str, Any],
) -> reports.ReportResult:
    if kind == "return":
        return await reports.submit_return(
            session,
            clock,
            catalog,
            reporter=person,
            origin_code=str(a["origin"]),
            arrival_date=date.fromisoformat(a["arrival"]),
            transport=str(a["transport"]),
            traveller_ids=[int(v) for v in a["travellers"]],
        )
    if kind == "visit":
        return await reports.submit_visit(
            session,
            clock,
            catalog,
            reporter=person,
            visitor_name=str(a["visitor"]),
            visitor_phone=a.get("visitor_phone"),
            origin_code=str(a["origin"]),
            arrival_date=date.fromisoformat(a["arrival"]),
            stay_days=int(a["stay"]),
        )
    if kind == "tenant":
        return await reports.submit_tenant(
            session,
            clock,
            catalog,
            reporter=person,
            names=list(a["names"]),
            origin_code=str(a["origin"]),
            move_in_date=date.fromisoformat(a["arrival"]),
            phone=str(a["phone"]),
            relatives=a["who"] == "relatives",
            room=a.get("room") or "",
        )
    if kind == "symptom":
        temp = a.get("temperature")
        return await reports.submit_symptom(
            session,
            clock,
            catalog,
            reporter=person,
            subject_id=int(a["subject"]),
            symptoms=list(a["symptoms"]),
            temperature=Decimal(temp) if temp else None,
            since=date.fromisoformat(a["since"]),
        )
    if kind == "tipoff":
        return await reports.submit_tipoff(
            session,
            clock,
            catalog,
            reporter=person,
            concern=str(a["concern"]),
            about=str(a["about"]),
            text=str(a["text"]),
        )
    return await reports.submit_supplies(
        session, clock, catalog, reporter=person, need=str(a["need"]), text=str(a["text"])
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
        isolation={"start": status.isolation.start_date.isoformat(),
                   "end": status.isolation.end_date.isoformat(), "days_left": status.days_left}
        if status.isolation else None,
        checkins=[{"day": c.day.isoformat(), "number": c.day_number, "status": c.status,
                   "temperature": str(c.temperature) if c.temperature is not None else ""}
                  for c in status.checkins],
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
