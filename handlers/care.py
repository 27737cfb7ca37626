"""Residents who need care (R-CARE): /care for a household's own members, /care_add and
/care_list for staff whose roles cover the person, and the daily check's buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.core.forms import ENDS_ON_REFUSAL, LEAVES_FORM
from bot.db.models import Person
from bot.parsing import clean_text
from bot.presentation.callbacks import CareCb
from bot.presentation.keyboards import buttons
from bot.services import care
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import Identity
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="care")
router.message.filter(F.chat.type == "private")
MAX_LISTED = 60


class CareFlow(StatesGroup):
    detail = State()


async def _overview(
    session: AsyncSession, identity: Identity, t: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    person = identity.person
    if person is None or person.household_id is None:
        raise DomainError("care.register_first")
    members = await care.household_flags(session, person.household_id)
    text = t(
        "care.household",
        members=[{"name": m.name, "flags": [care.flag_view(f) for f in flags]}
                 for m, flags in members],
    )  # fmt: skip
    rows = [[(t("care.add_for", name=m.name), CareCb(action="m", id=m.id))] for m, _ in members]
    for m, flags in members:
        for f in flags:
            rows.append(
                [(t("care.remove", name=m.name, kind=f.kind), CareCb(action="rm", id=f.id))]
            )
    return text, buttons(rows)


@router.message(Command("care"), StateFilter("*"), flags=LEAVES_FORM)
async def care_command(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await state.clear()
    text, markup = await _overview(session, identity, t)
    await message.answer(text, reply_markup=markup)


async def _member(session: AsyncSession, identity: Identity, person_id: int) -> Person:
    person = await session.get(Person, person_id)
    me = identity.person
    if person is None or me is None or me.household_id is None:
        raise NotAllowed()
    if person.household_id != me.household_id:
        raise NotAllowed()
    return person


@router.callback_query(CareCb.filter(F.action.in_({"m", "k", "rm"})))
async def household_button(
    query: CallbackQuery,
    callback_data: CareCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    if callback_data.action == "m":
        member = await _member(session, identity, callback_data.id)
        await state.set_state(None)
        await state.set_data({"care_member": member.id})
        markup = buttons(
            [[(t(f"care.kind_{k}"), CareCb(action="k", id=i))]
             for i, k in enumerate(care.KINDS)]
        )  # fmt: skip
        await query.answer()
        await edit_or_send(query, t("care.pick_kind", name=member.name), markup)
        return
    if callback_data.action == "k" and "care_member" in data:
        if not 0 <= callback_data.id < len(care.KINDS):
            raise DomainError("common.button_expired")
        member = await _member(session, identity, int(data["care_member"]))
        kind = care.KINDS[callback_data.id]
        if kind in care.DETAIL_KINDS:
            await state.set_state(CareFlow.detail)
            await state.update_data(care_kind=kind)
            await query.answer()
            await edit_or_send(query, t(f"care.ask_{kind}", name=member.name))
            return
        await care.add_flag(
            session, clock, person=member, kind=kind, detail=None, by=identity.person
        )
        await state.clear()
        await query.answer()
        text, markup = await _overview(session, identity, t)
        await edit_or_send(query, t("care.saved") + "\n" + text, markup)
        return
    if callback_data.action == "rm":
        me = identity.person
        if me is None:
            raise NotAllowed()
        await care.remove_flag(
            session, clock, flag_id=callback_data.id, household_id=me.household_id, by=me
        )
        await query.answer()
        text, markup = await _overview(session, identity, t)
        await edit_or_send(query, text, markup)
        return
    raise DomainError("common.button_expired")


@router.message(CareFlow.detail, F.text, flags=ENDS_ON_REFUSAL)
async def care_detail(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    detail = clean_text(message.text or "", care.DETAIL_MAX)
    member = await _member(session, identity, int(data.get("care_member", 0)))
    await care.add_flag(
        session, clock, person=member, kind=str(data.get("care_kind")), detail=detail,
        by=identity.person,
    )  # fmt: skip
    text, markup = await _overview(session, identity, t)
    await state.clear()
    await message.answer(t("care.saved") + "\n" + text, reply_markup=markup)


# ---------------------------------------------------------------- staff


@router.message(Command("care_add"), StateFilter("*"))
async def care_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    words = (command.args or "").split()
    if not identity.has_any(care.CARE_ROLES):
        raise NotAllowed()
    person, rest = await care.staff_person(session, identity, words)
    if not rest or rest[0] not in care.KINDS:
        raise DomainError("care.add_usage")
    detail = clean_text(" ".join(rest[1:]), care.DETAIL_MAX) if rest[1:] else None
    await care.add_flag(
        session, clock, person=person, kind=rest[0], detail=detail, by=identity.person
    )
    await message.answer(t("care.staff_saved", name=person.name, kind=rest[0], detail=detail or ""))


@router.message(Command("care_list"), StateFilter("*"))
async def care_list_command(
    message: Message, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    if not identity.has_any(care.CARE_ROLES):
        await message.answer(t("common.not_allowed"))
        return
    people = await care.care_list(session, identity)
    await message.answer(
        t(
            "care.staff_list",
            total=len(people),
            more=max(0, len(people) - MAX_LISTED),
            people=[care.person_view(p) for p in people[:MAX_LISTED]],
        )
    )


# ---------------------------------------------------------------- daily check


@router.callback_query(CareCb.filter(F.action.in_({"fine", "help"})))
async def check_button(
    query: CallbackQuery,
    callback_data: CareCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    check = await care.answer_check(
        session, clock, catalog, person=identity.person, check_id=callback_data.id,
        needs_help=callback_data.action == "help",
    )  # fmt: skip
    await query.answer()
    await drop_buttons(query)
    await edit_or_send(query, t(f"care.check_{check.status}_answer"))
