"""Households (R-HH): /household, /invite, join-request decisions, staff registering
on someone's behalf. Everything here is private-chat only."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Building, Compound, Household, Person, Unit
from bot.household_cards import HouseholdCb, JoinDecisionCb
from bot.parsing import clean_name, id_or_none, parse_phone
from bot.services import directory, households
from bot.services.identity import Identity
from handlers.keyboards import buttons, deep_link
from handlers.replies import edit_or_send
from messages import Catalog, Translator


def _is_id(text: str) -> bool:
    """A person's number as typed: digits that fit a database id (not 25 nines)."""
    return id_or_none(text) is not None


router = Router(name="households")
router.message.filter(F.chat.type == "private")
router.callback_query.filter(F.message.chat.type == "private")


def _notes(t: Translator, member: Person, me: int) -> str:
    notes = [
        ("households.note_head", member.is_head),
        ("households.note_me", member.id == me),
        ("households.note_no_telegram", member.telegram_user_id is None),
        ("households.note_by_staff", member.registered_by_staff_id is not None),
    ]
    return "".join(t(key) for key, shown in notes if shown)


async def _screen(
    session: AsyncSession, clock: Clock, identity: Identity, t: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    person = identity.person
    assert person is not None and person.household_id is not None
    path = await directory.household_path(session, person.household_id)
    assert path is not None
    members = await directory.household_members(session, person.household_id)
    invitations = await households.open_invitations(session, clock, person.household_id)
    pending = await households.pending_requests(session, person.household_id)
    text = t(
        "households.screen",
        address=households.address_of(path),
        members=[{"name": m.name, "notes": _notes(t, m, person.id)} for m in members],
        pending=len(pending),
        invitations=len(invitations),
    )
    rows: list[list[tuple[str, HouseholdCb]]] = []
    if person.is_head:
        rows.append([(t("households.button_invite"), HouseholdCb(action="invite"))])
        for m in members:
            if m.id == person.id:
                continue
            if m.telegram_user_id is None:
                rows.append(
                    [
                        (
                            t("households.button_invite_member", name=m.name),
                            HouseholdCb(action="invite_m", id=m.id),
                        )
                    ]
                )
            else:
                rows.append(
                    [
                        (
                            t("households.button_head", name=m.name),
                            HouseholdCb(action="head", id=m.id),
                        )
                    ]
                )
            rows.append(
                [
                    (
                        t("households.button_remove", name=m.name),
                        HouseholdCb(action="remove", id=m.id),
                    )
                ]
            )
        for inv in invitations:
            rows.append(
                [
                    (
                        t("households.button_revoke", id=inv.id),
                        HouseholdCb(action="revoke", id=inv.id),
                    )
                ]
            )
    rows.append([(t("households.button_leave"), HouseholdCb(action="leave"))])
    return text, buttons(rows)


@router.message(Command("household", "family"), StateFilter("*"))
async def household(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    await state.clear()
    if not identity.is_registered:
        await message.answer(t("households.not_registered"))
        return
    text, markup = await _screen(session, clock, identity, t)
    await message.answer(text, reply_markup=markup)


async def _invite_text(
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    bot_username: str,
    member_id: int,
) -> str:
    invitation = await households.create_invitation(
        session, clock, identity=identity, member_id=member_id or None
    )
    member = None
    if invitation.member_id:
        bound = await session.get(Person, invitation.member_id)
        member = bound.name if bound else None
    return t(
        "households.invite_created",
        link=deep_link(bot_username, f"join_{invitation.token}"),
        member_note=t("households.invite_for_member", member=member) if member else "",
        hours=households.INVITE_HOURS,
    )


@router.message(Command("invite"), StateFilter("*"))
async def invite(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    bot_username: str,
    t: Translator,
) -> None:
    """/invite: a household link; /invite <listed member>: a link bound to that member."""
    if not identity.is_registered:
        await message.answer(t("households.not_registered"))
        return
    member_id = 0
    wanted = (command.args or "").strip()
    person = identity.person
    assert person is not None and person.household_id is not None
    if wanted:
        match = [
            m
            for m in await directory.household_members(session, person.household_id)
            if m.name == wanted and m.telegram_user_id is None
        ]
        if not match:
            await message.answer(t("households.member_unknown"))
            return
        member_id = match[0].id
    text = await _invite_text(session, clock, identity, t, bot_username, member_id)
    await message.answer(text)


@router.message(Command("invite_member"), StateFilter("*"))
async def invite_member(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    bot_username: str,
    t: Translator,
) -> None:
    """Staff: /invite_member <person id> - a one-time link for a listed member without
    Telegram to take over their own record (an officer's action, audited)."""
    arg = (command.args or "").strip()
    if not _is_id(arg):
        await message.answer(t("households.invite_member_usage"))
        return
    invitation = await households.create_staff_invitation(
        session, clock, identity=identity, member_id=int(arg)
    )
    member = await session.get(Person, invitation.member_id)
    assert member is not None
    await message.answer(
        t(
            "households.invite_created",
            link=deep_link(bot_username, f"join_{invitation.token}"),
            member_note=t("households.invite_for_member", member=member.name),
            hours=households.INVITE_HOURS,
        )
    )


@router.callback_query(HouseholdCb.filter())
async def household_action(
    query: CallbackQuery,
    callback_data: HouseholdCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    bot_username: str,
    t: Translator,
) -> None:
    person = identity.person
    if person is None or person.household_id is None:
        await query.answer(t("households.not_registered"), show_alert=True)
        return
    action, target = callback_data.action, callback_data.id
    if action in ("invite", "invite_m"):
        text = await _invite_text(
            session, clock, identity, t, bot_username, target if action == "invite_m" else 0
        )
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.answer(text)
        return
    if action == "revoke":
        await households.revoke_invitation(session, clock, identity=identity, invitation_id=target)
        reply = t("households.invite_revoked_done")
    elif action == "remove":
        removed = await households.remove_member(
            session, clock, identity=identity, member_id=target
        )
        reply = t("households.removed", name=removed.name)
    elif action == "head":
        new_head = await households.change_head(
            session, clock, identity=identity, new_head_id=target
        )
        reply = t("households.head_changed", name=new_head.name)
    elif action == "leave":
        await query.answer()
        await edit_or_send(
            query,
            t("households.leave_confirm"),
            buttons([[(t("households.button_leave_confirm"), HouseholdCb(action="leave_yes"))]]),
        )
        return
    elif action == "leave_yes":
        remaining = await households.leave(session, clock, person=person)
        reply = t("households.left", remaining=remaining)
    else:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    await query.answer()
    await edit_or_send(query, reply)


@router.callback_query(JoinDecisionCb.filter())
async def join_decision(
    query: CallbackQuery,
    callback_data: JoinDecisionCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    if callback_data.action not in ("ok", "no"):
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    approve = callback_data.action == "ok"
    request, _ = await households.decide(
        session,
        clock,
        catalog,
        identity=identity,
        request_id=callback_data.request_id,
        approve=approve,
    )
    await query.answer()
    key = "households.approved_done" if approve else "households.rejected_done"
    await edit_or_send(query, t(key, name=request.name))


async def _household_by_address(session: AsyncSession, address: str) -> int | None:
    """ "小区/楼栋/单元/房号" -> the household's id, or None."""
    parts = address.split("/")
    if len(parts) != 4:
        return None
    compound, building, unit, room = parts
    found: int | None = await session.scalar(
        select(Household.id)
        .join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(
            Compound.name == compound,
            Building.name == building,
            Unit.name == unit,
            Household.room == room,
        )
    )
    return found


@router.message(Command("move_member"), StateFilter("*"))
async def move_member(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    """Staff: /move_member <person number> 小区/楼栋/单元/房号 (also someone in isolation)."""
    parts = (command.args or "").split()
    if len(parts) != 2 or not _is_id(parts[0]):
        await message.answer(t("households.move_usage"))
        return
    household_id = await _household_by_address(session, parts[1])
    if household_id is None:
        await message.answer(t("households.staff_address_unknown", address=parts[1][:80]))
        return
    person = await households.move_by_staff(
        session, clock, identity=identity, person_id=int(parts[0]), household_id=household_id
    )
    path = await directory.household_path(session, household_id)
    assert path is not None
    await message.answer(
        t("households.moved", name=person.name, address=households.address_of(path))
    )


@router.message(Command("register_for"), StateFilter("*"))
async def register_for(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    """Staff register a resident without a phone: /register_for 小区/楼栋/单元/房号 姓名 [手机]."""
    parts = (command.args or "").split()
    if len(parts) < 2 or parts[0].count("/") != 3:
        await message.answer(t("households.staff_usage"))
        return
    address = parts[0]
    name = clean_name(parts[1])
    phone = parse_phone(parts[2]) if len(parts) > 2 else None
    household_id = await _household_by_address(session, address)
    if household_id is None:
        await message.answer(t("households.staff_address_unknown", address=address[:80]))
        return
    await households.register_by_staff(
        session, clock, identity=identity, household_id=household_id, name=name, phone=phone
    )
    path = await directory.household_path(session, household_id)
    assert path is not None
    await message.answer(
        t("households.staff_registered", name=name, address=households.address_of(path))
    )
