"""A small form engine for the reports in the private chat.

A form is a list of steps (handlers/report_kinds.py: STEPS); one FSM state waits for
the current step's answer, one for the confirmation. Every step has Back, /cancel works
everywhere, and the state lives in the FSM storage (database or Redis) so a restart
changes nothing. FSM data: `kind`, `index` (current step), `answers` (field → value),
`selected` (a multi step's ticks), `place_parent` and `candidates` (the place picker).
"""

from __future__ import annotations

from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
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
from bot.presentation.callbacks import PlaceCb, PlacePage, ReportCb
from bot.presentation.keyboards import buttons, paged_choices
from bot.services import directory, rematch, reports
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.replies import edit_or_send
from handlers.report_kinds import STEPS, Step
from messages import Translator


class ReportFlow(StatesGroup):
    step = State()
    confirm = State()


# ---------------------------------------------------------------- keyboards


def back_row(t: Translator, index: int) -> list[InlineKeyboardButton]:
    del index  # the first step's Back leads to the report menu
    return [
        InlineKeyboardButton(text=t("reports.back"), callback_data=ReportCb(action="back").pack())
    ]


def with_row(
    markup: InlineKeyboardMarkup, row: list[InlineKeyboardButton]
) -> InlineKeyboardMarkup | None:
    rows = [*markup.inline_keyboard, row] if row else list(markup.inline_keyboard)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def place_markup(t: Translator, parent: str, page: int, index: int) -> InlineKeyboardMarkup:
    gaz = Gazetteer.load()
    items = gaz.provinces() if not parent else gaz.children(parent)
    extra = list(back_row(t, index))
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


async def members(session: AsyncSession, identity: Identity) -> list[tuple[int, str]]:
    person = identity.person
    assert person is not None and person.household_id is not None
    return [(m.id, m.name) for m in await directory.household_members(session, person.household_id)]


async def multi_options(
    session: AsyncSession, identity: Identity, t: Translator, step: Step
) -> list[tuple[str, str]]:
    if step.field == "travellers":
        return [(str(pid), name) for pid, name in await members(session, identity)]
    return [(o, t(f"reports.symptom_{o}")) for o in step.options]


async def multi_markup(
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    step: Step,
    selected: list[str],
    back: list[InlineKeyboardButton],
) -> InlineKeyboardMarkup | None:
    options = await multi_options(session, identity, t, step)
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
    return with_row(buttons(rows), back)


async def step_markup(
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    step: Step,
    index: int,
    selected: list[str],
) -> InlineKeyboardMarkup | None:
    """The buttons under a step's question."""
    back = back_row(t, index)
    if step.kind == "place":
        await state.update_data(place_parent="", candidates=[])
        return place_markup(t, "", 0, index)
    if step.kind == "choice":
        rows = [
            [(t(f"reports.{step.field}_{o}"), ReportCb(action="pick", value=o))]
            for o in step.options
        ]
        return with_row(buttons(rows), back)
    if step.kind == "member":
        rows = [
            [(name, ReportCb(action="pick", value=str(pid)))]
            for pid, name in await members(session, identity)
        ]
        return with_row(buttons(rows), back)
    if step.kind == "multi":
        return await multi_markup(session, identity, t, step, selected, back)
    skip = (
        [InlineKeyboardButton(text=t("reports.skip"), callback_data=ReportCb(action="skip").pack())]
        if step.optional
        else []
    )
    return with_row(InlineKeyboardMarkup(inline_keyboard=[]), skip + back)


# ---------------------------------------------------------------- moving through the steps


def ask_text(t: Translator, data: dict[str, Any], index: int) -> str:
    """The question of step `index` of the report in `data`; a tenant report's questions
    say "relatives" once the reporter chose relatives staying rather than a tenant."""
    kind = str(data["kind"])
    steps = STEPS[kind]
    relatives = data.get("answers", {}).get("who") == "relatives"
    return t(
        f"reports.ask_{kind}_{steps[index].field}",
        step=index + 1,
        steps=len(steps),
        relatives=relatives,
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
    text = ask_text(t, data, index)
    markup = await step_markup(state, session, identity, t, step, index, data.get("selected", []))
    if edit is not None:
        await edit_or_send(edit, text, markup)
    else:
        await message.answer(text, reply_markup=markup)


async def advance(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    value: Any,
) -> None:
    """Store the current step's answer and ask the next step."""
    data = await state.get_data()
    kind, index = str(data["kind"]), int(data["index"])
    field = STEPS[kind][index].field
    answers = {**data.get("answers", {}), field: value}
    await state.update_data(answers=answers, index=index + 1, selected=[], candidates=[])
    await ask(message, state, session, identity, t)


async def current_step(state: FSMContext) -> Step | None:
    data = await state.get_data()
    kind, index = data.get("kind"), data.get("index")
    if kind not in STEPS or not isinstance(index, int) or not 0 <= index < len(STEPS[str(kind)]):
        return None
    return STEPS[str(kind)][index]


async def step_data(state: FSMContext, identity: Identity) -> tuple[dict[str, Any], Step]:
    """The FSM data and the current step, for a step's button (else 'button expired')."""
    step = await current_step(state)
    if step is None or identity.person is None:
        raise DomainError("common.button_expired")
    return await state.get_data(), step


def message_of(query: CallbackQuery) -> Message:
    if not isinstance(query.message, Message):
        raise DomainError("common.button_expired")
    return query.message


# ---------------------------------------------------------------- typed answers


async def community_tz(session: AsyncSession, identity: Identity) -> str:
    assert identity.person is not None
    path = await reports.reporter_context(session, identity.person)
    return path.community.timezone


def parse_names(raw: str, max_len: int) -> list[str]:
    names = [
        clean_name(n)
        for n in clean_text(raw, max_len).replace("，", ",").replace("、", ",").split(",")
        if n.strip()
    ]
    if not names:
        raise ParseError("name.invalid")
    return names


async def parse_typed(
    session: AsyncSession, clock: Clock, identity: Identity, step: Step, raw: str
) -> Any:
    """The value of a typed answer to a step that is not a button or place step."""
    community = await community_tz(session, identity)
    if step.kind == "date":
        return parse_past_date(raw, local_today(clock, community)).isoformat()
    if step.kind == "name":
        return clean_name(raw)
    if step.kind == "names":
        return parse_names(raw, step.max_len)
    if step.kind == "text":
        return clean_text(raw, step.max_len, multiline=step.multiline)
    if step.kind == "phone":
        try:
            return parse_phone(raw)
        except ParseError as exc:
            # Someone else's number (a visitor's, a tenant's): no "share your contact"
            # button here, so the message must not point to one.
            raise ParseError("phone.invalid_other", optional=step.optional) from exc
    if step.kind == "temp":
        return str(parse_temperature(raw))
    if step.kind == "int":
        return parse_int_in_range(raw, 1, reports.STAY_MAX_DAYS)
    raise ParseError("text.empty")  # pragma: no cover - every kind is handled above


async def needs_district(
    session: AsyncSession, clock: Clock, identity: Identity, code: str
) -> bool:
    assert identity.person is not None
    path = await reports.reporter_context(session, identity.person)
    today = local_today(clock, path.community.timezone)
    return await rematch.districts_at_risk(session, path.community.id, code, today)


async def typed_place(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    raw: str,
) -> None:
    """A place typed at a place step: one match, a district to choose, or candidates."""
    gaz = Gazetteer.load()
    found = gaz.resolve(raw)
    if not found:
        await message.answer(t("reports.place_unknown", text=raw[:40]))
        return
    if len(found) == 1 and await needs_district(session, clock, identity, found[0].code):
        # A city with risk areas in some districts only: which district? (R-RISK)
        index = int((await state.get_data())["index"])
        await state.update_data(place_parent=found[0].code)
        await message.answer(
            t("monitoring.which_district", place=gaz.full_name(found[0].code, t.locale)),
            reply_markup=place_markup(t, found[0].code, 0, index),
        )
        return
    if len(found) == 1:
        await message.answer(
            t("reports.place_chosen", place=gaz.full_name(found[0].code, t.locale))
        )
        await advance(message, state, session, identity, t, found[0].code)
        return
    codes = [p.code for p in found]
    await state.update_data(candidates=codes)
    index = int((await state.get_data())["index"])
    rows = [[(gaz.full_name(c, t.locale), PlaceCb(code=c))] for c in codes]
    await message.answer(
        t("reports.place_which"), reply_markup=with_row(buttons(rows), back_row(t, index))
    )


# ---------------------------------------------------------------- summary


async def display(
    session: AsyncSession, identity: Identity, t: Translator, step: Step, value: Any
) -> str:
    """An answer as the summary shows it."""
    if value is None:
        return t("reports.skipped")
    if step.kind == "place":
        return Gazetteer.load().full_name(str(value), t.locale)
    if step.kind == "choice":
        return t(f"reports.{step.field}_{value}")
    if step.kind == "member":
        names = dict(await members(session, identity))
        return names.get(int(value), "?")
    if step.kind == "multi" and step.field == "travellers":
        names = dict(await members(session, identity))
        return t("reports.list_sep").join(names.get(int(v), "?") for v in value)
    if step.kind == "multi":
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
         "value": await display(session, identity, t, s, answers.get(s.field))}
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
