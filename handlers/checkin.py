"""Daily health check-in answers (R-CHK): buttons on the prompt, or a typed temperature."""

from __future__ import annotations

import re
from decimal import Decimal

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Person
from bot.parsing import ParseError, parse_temperature, several_temperatures
from bot.presentation.callbacks import CheckinCb
from bot.presentation.keyboards import buttons
from bot.services import checkins
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.replies import edit_or_send
from messages import Catalog, Translator

router = Router(name="checkin")
router.message.filter(F.chat.type == "private")

# Text that may be a temperature: digits (ASCII or full-width) or spoken Chinese numbers.
_TEMPERATURE_LIKE = re.compile(r"[0-9０-９]|[十九八七六五四三二一两]|度|华氏|°|℃")


#: Callback data of answers that need no conversation state ("type" sets one): the FSM
#: middleware neither reads the state nor locks for them (bot/middlewares.py).
STATELESS_CALLBACKS: tuple[str, ...] = tuple(
    CheckinCb(answer=a, checkin_id=0).pack()[:-1] for a in checkins.ANSWERS
)


class CheckinInput(StatesGroup):
    temperature = State()
    # A temperature was typed while several people were pending: kept in the FSM data
    # (`typed_temperature`) until the person is chosen.
    whose = State()


def _looks_like_temperature(text: str) -> bool:
    return len(text) <= 24 and _TEMPERATURE_LIKE.search(text) is not None


def _result_text(t: Translator, answer: checkins.Answer, actor_id: int) -> str:
    member = answer.person.id != actor_id
    temperature = str(answer.checkin.temperature) if answer.checkin.temperature else ""
    if answer.fever or answer.symptom:
        return t(
            "checkin.urgent",
            name=answer.person.name,
            member=member,
            temperature=temperature,
            clinics=answer.community.fever_clinics or [],
        )
    return t("checkin.thanks", name=answer.person.name, member=member, temperature=temperature)


@router.callback_query(CheckinCb.filter())
async def checkin_pressed(
    query: CallbackQuery,
    callback_data: CheckinCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    actor = identity.person
    if actor is None:
        await query.answer(t("checkin.not_yours"), show_alert=True)
        return
    if callback_data.answer == "type":
        _, _, person, _ = await checkins.answerable(
            session, clock, checkin_id=callback_data.checkin_id, actor=actor
        )
        typed = (await state.get_data()).get("typed_temperature")
        if await state.get_state() == CheckinInput.whose.state and isinstance(typed, str):
            await _apply_kept_temperature(
                query, state, session, clock, catalog, actor, t, callback_data.checkin_id, typed
            )
            return
        await state.set_state(CheckinInput.temperature)
        await state.update_data(checkin_id=callback_data.checkin_id)
        assert query.message is not None
        await query_bot_send(query, t("checkin.ask_temperature", name=person.name))
        return
    if callback_data.answer not in checkins.ANSWERS:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    symptoms = [] if callback_data.answer == checkins.ANSWER_NORMAL else [callback_data.answer]
    answer = await checkins.answer_checkin(
        session,
        clock,
        catalog,
        checkin_id=callback_data.checkin_id,
        actor=actor,
        symptoms=symptoms,
    )
    await edit_or_send(query, _result_text(t, answer, actor.id))


async def _apply_kept_temperature(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    actor: Person,
    t: Translator,
    checkin_id: int,
    typed: str,
) -> None:
    """The temperature typed before "whose is this?" answers the person chosen."""
    await state.clear()
    try:
        answer = await checkins.answer_checkin(
            session, clock, catalog, checkin_id=checkin_id, actor=actor,
            temperature=Decimal(typed),
        )  # fmt: skip
    except (DomainError, ArithmeticError) as exc:
        key, params = (exc.key, exc.params) if isinstance(exc, DomainError) else (
            "common.button_expired", {}
        )  # fmt: skip
        await query.answer(t(key, **params), show_alert=True)
        return
    await query.answer()
    await edit_or_send(query, _result_text(t, answer, actor.id))


async def query_bot_send(query: CallbackQuery, text: str) -> None:
    if isinstance(query.message, Message):
        await query.message.answer(text)


async def _record_typed(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
    checkin_id: int,
) -> None:
    assert identity.person is not None
    several = several_temperatures(message.text or "")
    if several:
        await state.set_state(CheckinInput.temperature)
        await state.update_data(checkin_id=checkin_id)
        await message.answer(t("checkin.one_per_message", values=several, several=False))
        return
    try:
        temperature: Decimal = parse_temperature(message.text or "")
    except ParseError as exc:
        # Keep (or enter) the state: the next number typed answers the same check-in.
        await state.set_state(CheckinInput.temperature)
        await state.update_data(checkin_id=checkin_id)
        await message.answer(t(f"errors.{exc.code}", **exc.params) + "\n" + t("checkin.ask_again"))
        return
    await state.clear()
    answer = await checkins.answer_checkin(
        session,
        clock,
        catalog,
        checkin_id=checkin_id,
        actor=identity.person,
        temperature=temperature,
    )
    await message.answer(_result_text(t, answer, identity.person.id))


@router.message(CheckinInput.temperature, F.text)
async def temperature_in_conversation(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    checkin_id = (await state.get_data()).get("checkin_id")
    if identity.person is None or not isinstance(checkin_id, int):
        await state.clear()
        await message.answer(t("common.button_expired"))
        return
    await _record_typed(message, state, session, clock, catalog, identity, t, checkin_id)


@router.message(StateFilter(None, CheckinInput.whose), F.text.func(_looks_like_temperature))
async def temperature_typed(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """A temperature typed without pressing anything: today's one pending check-in of
    this person (or the family members they answer for)."""
    actor = identity.person
    if actor is None:
        raise SkipHandler
    pending = await checkins.pending_today(session, clock, actor)
    if not pending:
        if await checkins.in_isolation(session, actor):
            await message.answer(t("checkin.nothing_pending"))
            return
        raise SkipHandler
    if len(pending) > 1:
        rows = [[(p.name, CheckinCb(answer="type", checkin_id=p.checkin_id))] for p in pending]
        several = several_temperatures(message.text or "")
        if several:
            # Whose is which is not guessed: pick the person, then type theirs.
            await state.clear()
            await message.answer(
                t("checkin.one_per_message", values=several, several=True),
                reply_markup=buttons(rows),
            )
            return
        try:
            temperature = parse_temperature(message.text or "")
        except ParseError as exc:
            if exc.code == "temperature.out_of_range":
                # Impossible for anyone: refused at once, not after choosing whose it is.
                await message.answer(t(f"errors.{exc.code}", **exc.params))
                return
            await message.answer(t("checkin.which_member"), reply_markup=buttons(rows))
            return
        # Keep what was typed: pressing a name applies it (no typing it again).
        await state.set_state(CheckinInput.whose)
        await state.update_data(typed_temperature=str(temperature))
        await message.answer(
            t("checkin.whose_temperature", temperature=str(temperature)),
            reply_markup=buttons(rows),
        )
        return
    await _record_typed(message, state, session, clock, catalog, identity, t, pending[0].checkin_id)
