"""/profile: a registered resident sees and edits their record (R-REG)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.parsing import ParseError, clean_name, parse_phone
from bot.presentation.callbacks import MenuCb, ProfileAction, RelationCb
from bot.presentation.keyboards import buttons, share_contact_keyboard
from bot.services import directory, households, registration
from bot.services.identity import Identity
from handlers.registration import RELATIONS, ask_address
from handlers.replies import drop_buttons, edit_or_send
from messages import Translator

router = Router(name="profile")
router.message.filter(F.chat.type == "private")


# Relations a resident chooses, and those the bot gives: a visitor or tenant reported by
# the household, a person added from an officer's trace list.
LABELLED_RELATIONS = (*RELATIONS, "visitor", "tenant", "assigned")


class ProfileEdit(StatesGroup):
    name = State()
    phone = State()
    member_name = State()
    member_relation = State()


async def _profile_text(session: AsyncSession, identity: Identity, t: Translator) -> str:
    person = identity.person
    assert person is not None and person.household_id is not None
    path = await directory.household_path(session, person.household_id)
    members = await directory.household_members(session, person.household_id)
    assert path is not None
    return t(
        "profile.card",
        name=person.name,
        phone=person.phone or "",
        address={
            "compound": path.compound.name,
            "building": path.building.name,
            "unit": path.unit.name,
            "room": path.household.room,
        },
        members=[
            {
                "name": m.name,
                "relation": t(f"registration.relation_{m.relation}")
                if m.relation in LABELLED_RELATIONS
                else "",
                "has_telegram": m.telegram_user_id is not None,
                "is_me": m.id == person.id,
            }
            for m in members
        ],
    )


def _profile_markup(t: Translator) -> list[list[tuple[str, ProfileAction]]]:
    return [
        [
            (t("profile.edit_name"), ProfileAction(action="name")),
            (t("profile.edit_phone"), ProfileAction(action="phone")),
        ],
        [
            (t("profile.add_member"), ProfileAction(action="add")),
            (t("profile.remove_member"), ProfileAction(action="remove")),
        ],
        [(t("profile.move"), ProfileAction(action="move"))],
    ]


@router.message(Command("profile"), StateFilter("*"))
async def profile(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await state.clear()
    if not identity.is_registered:
        await message.answer(t("profile.not_registered"))
        return
    await message.answer(
        await _profile_text(session, identity, t), reply_markup=buttons(_profile_markup(t))
    )


@router.callback_query(MenuCb.filter(F.action == "profile"))
async def profile_from_menu(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    if not identity.is_registered:
        await edit_or_send(query, t("profile.not_registered"))
        return
    await state.clear()
    await edit_or_send(
        query, await _profile_text(session, identity, t), buttons(_profile_markup(t))
    )


@router.callback_query(ProfileAction.filter())
async def profile_action(
    query: CallbackQuery,
    callback_data: ProfileAction,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    person = identity.person
    if person is None or person.household_id is None:
        await query.answer(t("profile.not_registered"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    action = callback_data.action
    if action == "name":
        await state.set_state(ProfileEdit.name)
        await query.message.answer(t("registration.ask_name"))
    elif action == "phone":
        await state.set_state(ProfileEdit.phone)
        await query.message.answer(
            t("registration.ask_phone"), reply_markup=share_contact_keyboard(t)
        )
    elif action == "add":
        await state.set_state(ProfileEdit.member_name)
        await query.message.answer(t("registration.ask_member_name"))
    elif action == "remove":
        members = [
            m
            for m in await directory.household_members(session, person.household_id)
            if person.is_head and m.id != person.id and not m.is_head
        ]
        if not members:
            await query.message.answer(t("profile.no_members_to_remove"))
            return
        rows = [[(m.name, ProfileAction(action="remove_one", member_id=m.id))] for m in members]
        await query.message.answer(t("profile.choose_member_to_remove"), reply_markup=buttons(rows))
    elif action == "remove_one":
        removed = await households.remove_member(
            session, clock, identity=identity, member_id=callback_data.member_id
        )
        await edit_or_send(query, t("profile.member_removed", name=removed.name))
    elif action == "move":
        await drop_buttons(query)
        await state.clear()
        await state.update_data(mode="move", name=person.name, phone=person.phone or "", members=[])
        await ask_address(query.message, state, session, t, level="c", parent=0)
    else:
        await query.answer(t("common.button_expired"), show_alert=True)


@router.message(ProfileEdit.name, F.text)
async def new_name(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    name = clean_name(message.text or "")
    assert identity.person is not None
    await registration.update_profile(session, clock, person=identity.person, name=name)
    await state.clear()
    await message.answer(t("profile.updated"))


@router.message(ProfileEdit.phone, F.contact | F.text)
async def new_phone(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    assert message.from_user is not None and identity.person is not None
    if message.contact is not None and message.contact.user_id != message.from_user.id:
        await message.answer(
            t("registration.contact_not_own"), reply_markup=share_contact_keyboard(t)
        )
        return
    raw = message.contact.phone_number if message.contact else (message.text or "")
    try:
        phone = parse_phone(raw)
    except ParseError as exc:
        await message.answer(
            t(f"errors.{exc.code}", **exc.params), reply_markup=share_contact_keyboard(t)
        )
        return
    await registration.update_profile(session, clock, person=identity.person, phone=phone)
    await state.clear()
    await message.answer(t("profile.updated"), reply_markup=ReplyKeyboardRemove())


@router.message(ProfileEdit.member_name, F.text)
async def new_member_name(message: Message, state: FSMContext, t: Translator) -> None:
    name = clean_name(message.text or "")
    await state.update_data(pending_member=name)
    await state.set_state(ProfileEdit.member_relation)
    rows = [
        [(t(f"registration.relation_{r}"), RelationCb(relation=r)) for r in RELATIONS[i : i + 3]]
        for i in range(0, len(RELATIONS), 3)
    ]
    await message.answer(t("registration.ask_relation", name=name), reply_markup=buttons(rows))


@router.callback_query(RelationCb.filter(), ProfileEdit.member_relation)
async def new_member_relation(
    query: CallbackQuery,
    callback_data: RelationCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    name = (await state.get_data()).get("pending_member")
    if not name or callback_data.relation not in RELATIONS or identity.person is None:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    await registration.add_member(
        session,
        clock,
        reporter=identity.person,
        member=registration.MemberDraft(name, callback_data.relation),
    )
    await state.clear()
    await edit_or_send(query, t("profile.member_added", name=name))
