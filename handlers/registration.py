"""Household registration in a private chat (R-REG): consent first, then the address
from the community's register, name, phone, members; a summary to confirm."""

from __future__ import annotations

import re
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.core.forms import LEAVES_FORM
from bot.db.models import Person
from bot.parsing import ParseError, clean_name, parse_phone
from bot.presentation.callbacks import ConsentCb, RegAction, RegPage, RegPick, RelationCb
from bot.presentation.keyboards import buttons, paged_choices, share_contact_keyboard
from bot.services import directory, households, registration
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.menu import show_main_menu
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="registration")
router.message.filter(F.chat.type == "private")

RELATIONS = ("spouse", "child", "parent", "grandparent", "grandchild", "sibling", "other")
LEVELS = ("c", "b", "u", "r")


class Registration(StatesGroup):
    consent = State()
    address = State()
    name = State()
    phone = State()
    members = State()
    member_name = State()
    member_relation = State()
    confirm = State()


# ---------------------------------------------------------------- entry and consent


@router.message(CommandStart(), StateFilter("*"), flags=LEAVES_FORM)
async def start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    payload = (command.args or "").strip()
    if payload.startswith("join_"):
        await start_invitation(message, state, session, clock, identity, t, payload[5:])
        return
    if payload == "report":
        from handlers.reports import show_report_menu

        await state.clear()
        await show_report_menu(message, identity, t)
        return
    assert message.from_user is not None
    if (
        identity.is_registered
        and payload != "register"
        # A new version of a consent text asks again (issue 11).
        and not await registration.needs_new_consent(session, message.from_user.id)
    ):
        await state.clear()
        await show_main_menu(message, identity, t)
        return
    await begin(message, state, session, identity, t)


@router.message(Command("register"), StateFilter("*"))
async def register_command(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await begin(message, state, session, identity, t)


async def begin(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    *,
    invite: str | None = None,
) -> None:
    """Start (or restart) registration; consent is asked before anything personal."""
    await state.clear()
    assert message.from_user is not None
    if await registration.has_consent(session, message.from_user.id):
        await ask_address(message, state, session, t, level="c", parent=0)
        return
    await state.set_state(Registration.consent)
    if invite:
        await state.update_data(invite=invite)
    await message.answer(
        t("registration.consent", version=registration.CONSENT_VERSION),
        reply_markup=buttons(
            [
                [(t("registration.consent_yes"), ConsentCb(granted=True))],
                [(t("registration.consent_no"), ConsentCb(granted=False))],
            ]
        ),
    )


@router.callback_query(ConsentCb.filter(), Registration.consent)
async def consent_given(
    query: CallbackQuery,
    callback_data: ConsentCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
) -> None:
    await registration.record_consent(
        session,
        clock,
        telegram_user_id=query.from_user.id,
        locale=t.locale,
        granted=callback_data.granted,
    )
    await drop_buttons(query)
    if not callback_data.granted:
        await state.clear()
        await edit_or_send(query, t("registration.consent_declined"))
        return
    assert isinstance(query.message, Message)
    invite = (await state.get_data()).get("invite")
    if invite:
        await continue_invitation(query.message, state, session, clock, t, str(invite))
        return
    await ask_address(query.message, state, session, t, level="c", parent=0)


# ---------------------------------------------------------------- invitations (R-HH)


async def start_invitation(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    token: str,
) -> None:
    """`/start join_<token>`: say what the link is (or exactly why it cannot be used)."""
    await state.clear()
    assert message.from_user is not None
    invitation = await households.check_invitation(session, clock, token)
    person = identity.person
    if person is not None and person.household_id == invitation.household_id:
        await message.answer(t("households.already_member"))
        return
    if person is not None and person.household_id is not None:
        # Registered in another household: moving must not strand it (say so now, not
        # after the name and phone were asked).
        try:
            await households.check_can_move(session, person)
        except DomainError as exc:
            await message.answer(t(exc.key, **exc.params))
            return
    path = await directory.household_path(session, invitation.household_id)
    assert path is not None
    if invitation.member_id is not None:
        member = await session.get(Person, invitation.member_id)
        assert member is not None
        await message.answer(t("households.invite_member_welcome", name=member.name))
    else:
        await message.answer(t("households.invite_welcome", address=_address(path)))
    if not await registration.has_consent(session, message.from_user.id):
        await begin(message, state, session, identity, t, invite=token)
        return
    await continue_invitation(message, state, session, clock, t, token)


async def continue_invitation(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    token: str,
) -> None:
    """After consent: a member-bound link links at once; a household link asks the
    name and phone first."""
    try:
        invitation = await households.check_invitation(session, clock, token)
    except DomainError as exc:
        await state.clear()
        await message.answer(t(exc.key, **exc.params))
        return
    if invitation.member_id is None:
        await state.set_state(Registration.name)
        await state.update_data(invite=token)
        await message.answer(t("registration.ask_name"))
        return
    await finish_invitation(message, state, session, clock, t, token)


async def finish_invitation(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    token: str,
) -> None:
    data = await state.get_data()
    user = message.chat.id
    try:
        person = await households.accept_invitation(
            session,
            clock,
            telegram_user_id=user,
            language=t.locale,
            token=token,
            name=data.get("name"),
            phone=data.get("phone"),
        )
    except DomainError as exc:
        await state.clear()
        await message.answer(t(exc.key, **exc.params), reply_markup=ReplyKeyboardRemove())
        return
    await state.clear()
    if data.get("name"):
        assert person.household_id is not None
        path = await directory.household_path(session, person.household_id)
        assert path is not None
        await message.answer(
            t("households.invite_joined", address=_address(path)),
            reply_markup=ReplyKeyboardRemove(),
        )
    else:
        await message.answer(t("households.invite_claimed", name=person.name))


# ---------------------------------------------------------------- address picker


async def _choices(session: AsyncSession, level: str, parent: int) -> list[tuple[int, str]]:
    if level == "c":
        return [(c.id, c.name) for c in await directory.list_compounds(session)]
    if level == "b":
        return [(b.id, b.name) for b in await directory.list_buildings(session, parent)]
    if level == "u":
        return [(u.id, u.name) for u in await directory.list_units(session, parent)]
    return [(h.id, h.room) for h in await directory.list_households(session, parent)]


async def _address_markup(
    session: AsyncSession, t: Translator, level: str, parent: int, page: int
) -> InlineKeyboardMarkup:
    items = await _choices(session, level, parent)
    return paged_choices(
        items,
        label=lambda item: item[1],
        data=lambda item: RegPick(level=level, id=item[0]),
        page=page,
        page_data=lambda p: RegPage(level=level, parent=parent, page=p),
        t=t,
        columns=2 if level == "c" else 4,
    )


async def ask_address(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    *,
    level: str,
    parent: int,
    edit: CallbackQuery | None = None,
) -> None:
    await state.set_state(Registration.address)
    await state.update_data(level=level, parent=parent)
    items = await _choices(session, level, parent)
    if not items:
        text = t("registration.register_empty")
        markup = None
    else:
        text = t(f"registration.ask_{level}")
        markup = await _address_markup(session, t, level, parent, 0)
    if edit is not None:
        await edit_or_send(edit, text, markup)
    else:
        await message.answer(text, reply_markup=markup)


@router.callback_query(RegPage.filter(), Registration.address)
async def address_page(
    query: CallbackQuery,
    callback_data: RegPage,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
) -> None:
    data = await state.get_data()
    if callback_data.level != data.get("level") or callback_data.parent != data.get("parent"):
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    markup = await _address_markup(
        session, t, callback_data.level, callback_data.parent, callback_data.page
    )
    await edit_or_send(query, t(f"registration.ask_{callback_data.level}"), markup)


@router.callback_query(RegPick.filter(), Registration.address)
async def address_pick(
    query: CallbackQuery,
    callback_data: RegPick,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
) -> None:
    data = await state.get_data()
    level, parent = data.get("level"), int(data.get("parent", 0))
    valid = {item_id for item_id, _ in await _choices(session, callback_data.level, parent)}
    # A forged or stale button: another level, or an id outside the current list.
    if callback_data.level != level or callback_data.id not in valid:
        await query.answer(t("registration.choice_invalid"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    path = {**data.get("path", {}), level: callback_data.id}
    await state.update_data(path=path)
    next_level = LEVELS[LEVELS.index(level) + 1] if level != "r" else None
    if next_level is not None:
        await ask_address(
            query.message, state, session, t, level=next_level, parent=callback_data.id, edit=query
        )
        return
    await _household_chosen(query.message, state, session, t, callback_data.id, edit=query)


async def _household_chosen(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    household_id: int,
    *,
    edit: CallbackQuery | None = None,
) -> None:
    """The room is known: say the address, then the name (or, moving, the summary)."""
    data = await state.get_data()
    await state.update_data(household_id=household_id)
    found = await directory.household_path(session, household_id)
    assert found is not None
    chosen = t("registration.address_chosen", address=_address(found))
    if edit is not None:
        await edit_or_send(edit, chosen)
    else:
        await message.answer(chosen)
    if data.get("mode") == "move":
        await show_summary(message, state, session, t)
        return
    await state.set_state(Registration.name)
    await message.answer(t("registration.ask_name"))


@router.message(Registration.address, F.text, ~F.text.startswith("/"))
async def address_typed(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    """The address typed instead of pressed ("阳光花园 2栋 1单元 301", "2号楼", "301"):
    the register's names it names, in order from the current step, are taken as if
    pressed; the next step's buttons follow (or the name, once the room is known).
    Text that names nothing of the current list is answered with an example from it;
    the step stays where it was."""
    data = await state.get_data()
    level, parent = str(data.get("level", "c")), int(data.get("parent", 0))
    if level not in LEVELS:
        raise SkipHandler
    path = dict(data.get("path", {}))
    rest = directory.fold_address(message.text or "")
    moved = False
    while rest:
        item = _named(await _choices(session, level, parent), rest, exact=level == "r")
        if item is None:
            break
        item_id, consumed = item
        rest = rest[consumed:]
        path[level] = item_id
        moved = True
        if level == "r":
            await state.update_data(path=path)
            await _household_chosen(message, state, session, t, item_id)
            return
        level, parent = LEVELS[LEVELS.index(level) + 1], item_id
    if not moved:
        items = await _choices(session, level, parent)
        if not items:
            raise SkipHandler  # an empty register: handlers/fallback.py answers
        typed = " ".join((message.text or "").split())
        await message.answer(
            t("registration.address_not_found", typed=typed[:40], example=items[0][1])
        )
        return
    await state.update_data(path=path)
    await ask_address(message, state, session, t, level=level, parent=parent)


def _named(items: list[tuple[int, str]], typed: str, *, exact: bool) -> tuple[int, int] | None:
    """The item of `items` that the folded text `typed` starts with (the longest name;
    for a room, the whole text), or whose number it is ("2" for 2栋) when it is only
    digits and one item has that number: (its id, how much of `typed` it took)."""
    best: tuple[int, int] | None = None
    for item_id, name in items:
        folded = directory.fold_address(name)
        if not folded:
            continue
        if (typed == folded if exact else typed.startswith(folded)) and (
            best is None or len(folded) > best[1]
        ):
            best = (item_id, len(folded))
    if best is None and typed.isdigit():
        numbered = [i for i, name in items if re.sub(r"\D", "", name) == typed]
        if len(numbered) == 1:
            best = (numbered[0], len(typed))
    return best


def _address(path: directory.HouseholdPath) -> dict[str, str]:
    return {
        "compound": path.compound.name,
        "building": path.building.name,
        "unit": path.unit.name,
        "room": path.household.room,
    }


# ---------------------------------------------------------------- name and phone


@router.message(Registration.name, F.text)
async def got_name(message: Message, state: FSMContext, t: Translator) -> None:
    name = clean_name(message.text or "")
    await state.update_data(name=name)
    await state.set_state(Registration.phone)
    await message.answer(t("registration.ask_phone"), reply_markup=share_contact_keyboard(t))


@router.message(Registration.phone, F.contact)
async def got_contact(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock, t: Translator
) -> None:
    contact = message.contact
    assert contact is not None and message.from_user is not None
    if contact.user_id != message.from_user.id:
        await message.answer(
            t("registration.contact_not_own"), reply_markup=share_contact_keyboard(t)
        )
        return
    await _store_phone(message, state, session, clock, t, contact.phone_number)


@router.message(Registration.phone, F.text)
async def got_phone_text(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock, t: Translator
) -> None:
    await _store_phone(message, state, session, clock, t, message.text or "")


async def _store_phone(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    raw: str,
) -> None:
    try:
        phone = parse_phone(raw)
    except ParseError as exc:
        await message.answer(
            t(f"errors.{exc.code}", **exc.params), reply_markup=share_contact_keyboard(t)
        )
        return
    await state.update_data(phone=phone)
    invite = (await state.get_data()).get("invite")
    if invite:
        await finish_invitation(message, state, session, clock, t, str(invite))
        return
    await message.answer(
        t("registration.phone_saved", phone=phone), reply_markup=ReplyKeyboardRemove()
    )
    await ask_members(message, state, t)


# ---------------------------------------------------------------- household members


def _members_markup(t: Translator) -> InlineKeyboardMarkup:
    return buttons(
        [
            [(t("registration.add_member"), RegAction(action="add_member"))],
            [(t("registration.members_done"), RegAction(action="members_done"))],
        ]
    )


async def ask_members(message: Message, state: FSMContext, t: Translator) -> None:
    await state.set_state(Registration.members)
    members = (await state.get_data()).get("members", [])
    await message.answer(
        t("registration.ask_members", members=members), reply_markup=_members_markup(t)
    )


@router.callback_query(RegAction.filter(F.action == "add_member"), Registration.members)
async def add_member_pressed(query: CallbackQuery, state: FSMContext, t: Translator) -> None:
    await drop_buttons(query)
    members = (await state.get_data()).get("members", [])
    if len(members) >= registration.MAX_MEMBERS - 1:
        assert isinstance(query.message, Message)
        await query.message.answer(
            t("registration.too_many_members", limit=registration.MAX_MEMBERS),
            reply_markup=_members_markup(t),
        )
        return
    await state.set_state(Registration.member_name)
    assert isinstance(query.message, Message)
    await query.message.answer(t("registration.ask_member_name"))


@router.message(Registration.member_name, F.text)
async def got_member_name(message: Message, state: FSMContext, t: Translator) -> None:
    name = clean_name(message.text or "")
    data = await state.get_data()
    taken = {m["name"].casefold() for m in data.get("members", [])} | {
        str(data.get("name", "")).casefold()
    }
    if name.casefold() in taken:
        await message.answer(t("registration.member_exists", name=name))
        return
    await state.update_data(pending_member=name)
    await state.set_state(Registration.member_relation)
    rows = [
        [(t(f"registration.relation_{r}"), RelationCb(relation=r)) for r in RELATIONS[i : i + 3]]
        for i in range(0, len(RELATIONS), 3)
    ]
    await message.answer(t("registration.ask_relation", name=name), reply_markup=buttons(rows))


@router.callback_query(RelationCb.filter(), Registration.member_relation)
async def got_relation(
    query: CallbackQuery, callback_data: RelationCb, state: FSMContext, t: Translator
) -> None:
    if callback_data.relation not in RELATIONS:
        await query.answer(t("registration.choice_invalid"), show_alert=True)
        return
    data = await state.get_data()
    name = data.get("pending_member")
    if not name:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    members = [*data.get("members", []), {"name": name, "relation": callback_data.relation}]
    await state.update_data(members=members, pending_member=None)
    await drop_buttons(query)
    assert isinstance(query.message, Message)
    await ask_members(query.message, state, t)


@router.callback_query(RegAction.filter(F.action == "members_done"), Registration.members)
async def members_done(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await drop_buttons(query)
    assert isinstance(query.message, Message)
    await show_summary(query.message, state, session, t)


# ---------------------------------------------------------------- summary and save


async def show_summary(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    path = await directory.household_path(session, int(data.get("household_id", 0)))
    if path is None:
        await state.set_state(Registration.address)
        await message.answer(t("registration.room_unknown"))
        return
    await state.set_state(Registration.confirm)
    await message.answer(
        t(
            "registration.summary",
            address=_address(path),
            name=data.get("name", ""),
            phone=data.get("phone", ""),
            members=[
                {"name": m["name"], "relation": t(f"registration.relation_{m['relation']}")}
                for m in data.get("members", [])
            ],
        ),
        reply_markup=buttons(
            [
                [(t("registration.confirm"), RegAction(action="confirm"))],
                [(t("registration.restart"), RegAction(action="restart"))],
            ]
        ),
    )


@router.callback_query(RegAction.filter(F.action == "restart"), Registration.confirm)
async def restart(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await drop_buttons(query)
    await state.set_data({})
    assert isinstance(query.message, Message)
    await ask_address(query.message, state, session, t, level="c", parent=0)


@router.callback_query(RegAction.filter(F.action == "confirm"), Registration.confirm)
async def confirm(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    t: Translator,
) -> None:
    data: dict[str, Any] = await state.get_data()
    draft = registration.RegistrationDraft(
        household_id=int(data.get("household_id", 0)),
        name=str(data.get("name", "")),
        phone=str(data.get("phone", "")),
        members=[
            registration.MemberDraft(m["name"], m.get("relation")) for m in data.get("members", [])
        ],
    )
    result = await registration.register_household(
        session,
        clock,
        telegram_user_id=query.from_user.id,
        language=t.locale,
        draft=draft,
        catalog=catalog,
    )
    await state.clear()
    await drop_buttons(query)
    if result.pending is not None:
        path = await directory.household_path(session, result.household.id)
        assert path is not None
        await edit_or_send(query, t("households.request_pending", address=_address(path)))
        return
    members = await directory.household_members(session, result.household.id)
    await edit_or_send(
        query,
        t(
            "registration.saved",
            joined=result.joined_existing,
            claimed=result.claimed_member,
            count=len(members),
        ),
    )


@router.callback_query(RegAction.filter(F.action == "confirm"))
async def confirm_again(query: CallbackQuery, identity: Identity, t: Translator) -> None:
    """Confirm pressed again after the registration was saved (say, its reply never
    arrived): nothing is saved twice, and the resident is told where they stand."""
    if identity.person is None:
        raise DomainError("common.button_expired")
    await query.answer(t("core.already_registered"), show_alert=True)
    await drop_buttons(query)
