"""Duty rosters (R-ROSTER): /shift_add for organisers, /shifts with sign-up buttons for
volunteers, and the start-of-shift self-check button."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Shift
from bot.presentation.callbacks import RosterCb
from bot.presentation.keyboards import buttons
from bot.services import rosters
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.replies import drop_buttons, edit_or_send
from messages import Translator

router = Router(name="rosters")
router.message.filter(F.chat.type == "private")


async def _view(
    session: AsyncSession, shift: Shift, compound: str, taken: int
) -> dict[str, object]:
    community = await session.get(Community, shift.community_id)
    assert community is not None
    zone = ZoneInfo(community.timezone)
    return {
        "id": shift.id, "kind": shift.kind, "compound": compound,
        "start": shift.starts_at.astimezone(zone).strftime("%m-%d %H:%M"),
        "end": shift.ends_at.astimezone(zone).strftime("%H:%M"),
        "taken": taken, "slots": shift.slots,
    }  # fmt: skip


@router.message(Command("shift_add"), StateFilter("*"))
async def shift_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    shift, compound = await rosters.publish(
        session, clock, identity=identity, text=command.args or ""
    )
    await message.answer(t("roster.published", **await _view(session, shift, compound.name, 0)))


@router.message(Command("shifts"), StateFilter("*"))
async def shifts_command(
    message: Message, session: AsyncSession, clock: Clock, identity: Identity, t: Translator
) -> None:
    views = await rosters.upcoming(session, clock, identity)
    shown = [await _view(session, v.shift, v.compound, v.taken) for v in views[:20]]
    markup = buttons(
        [[(t("roster.join_button", **s), RosterCb(action="join", id=int(str(s["id"]))))]
         for s in shown if int(str(s["taken"])) < int(str(s["slots"]))]
    )  # fmt: skip
    await message.answer(t("roster.list", shifts=shown), reply_markup=markup)


@router.callback_query(RosterCb.filter())
async def roster_button(
    query: CallbackQuery,
    callback_data: RosterCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    if callback_data.action == "join":
        view = await rosters.sign_up(session, clock, identity=identity, shift_id=callback_data.id)
        text = t("roster.joined", **await _view(session, view.shift, view.compound, view.taken))
        await query.answer()
        assert query.message is not None
        await query.message.answer(text)
        return
    if callback_data.action == "start":
        await rosters.confirm_start(
            session, clock, person=identity.person, signup_id=callback_data.id
        )
        await query.answer()
        await drop_buttons(query)
        await edit_or_send(query, t("roster.started_ok"))
        return
    raise DomainError("common.button_expired")
