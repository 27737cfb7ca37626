"""Supplies and medicine under a seal (R-SUPPLY): /supply for households, /deliveries
for volunteers (take, delivered, problem), /supplies for officers, and the household's
receipt button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.core.forms import ENDS_ON_REFUSAL, LEAVES_FORM
from bot.db.models import SupplyRequest
from bot.parsing import clean_text
from bot.presentation.callbacks import DistributionCb, SupplyCb
from bot.presentation.keyboards import buttons
from bot.services import sealing, supplies
from bot.services.errors import DomainError
from bot.services.identity import Identity
from bot.settings import Settings
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="supplies")
router.message.filter(F.chat.type == "private")
MAX_LISTED = 20


class SupplyFlow(StatesGroup):
    medicine = State()
    photo = State()
    medical = State()
    delivery_photo = State()


def _kinds_markup(t: Translator) -> InlineKeyboardMarkup:
    rows = [
        [(t(f"supply.kind_{k}"), SupplyCb(action="k", id=i)) for i, k in enumerate(supplies.KINDS)]
    ]
    return buttons([rows[0][:2], rows[0][2:4], rows[0][4:]])


def _urgency_markup(t: Translator) -> InlineKeyboardMarkup:
    return buttons(
        [[(t("supply.urgent_yes"), SupplyCb(action="urg", id=1)),
          (t("supply.urgent_no"), SupplyCb(action="urg", id=0))]]
    )  # fmt: skip


def _item(t: Translator, item: supplies.Located) -> dict[str, object]:
    r = item.request
    return {
        "id": r.id, "kind": t(f"supply.kind_{r.kind}"), "detail": r.detail or "",
        "urgent": r.urgent, "address": item.address, "building": f"{item.compound} {item.building}",
    }  # fmt: skip


@router.message(Command("supply"), StateFilter("*"), flags=LEAVES_FORM)
async def supply_command(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await state.clear()
    level = await supplies.household_level(session, identity.person)
    if level not in sealing.CONTROLLED:
        await message.answer(t("supply.not_controlled"))
        return
    await message.answer(t("supply.pick_kind"), reply_markup=_kinds_markup(t))


async def _created(
    target: Message, t: Translator, request: object, *, edit: CallbackQuery | None = None
) -> None:
    assert isinstance(request, SupplyRequest)
    text = t(
        "supply.created", id=request.id, kind=t(f"supply.kind_{request.kind}"),
        detail=request.detail or "", urgent=request.urgent,
    )  # fmt: skip
    if edit is not None:
        await edit_or_send(edit, text)
    else:
        await target.answer(text)


@router.callback_query(SupplyCb.filter(F.action.in_({"k", "urg", "skip"})))
async def household_button(
    query: CallbackQuery,
    callback_data: SupplyCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    if callback_data.action == "k" and 0 <= callback_data.id < len(supplies.KINDS):
        kind = supplies.KINDS[callback_data.id]
        if kind in supplies.SUPPLY_KINDS:
            request = await supplies.create(
                session, clock, catalog, person=identity.person, kind=kind
            )
            await state.clear()
            await query.answer()
            await _created(query.message, t, request, edit=query)  # type: ignore[arg-type]
            return
        level = await supplies.household_level(session, identity.person)
        if level not in sealing.CONTROLLED:
            raise DomainError("supply.not_controlled")
        await state.set_state(SupplyFlow.medicine if kind == "medicine" else SupplyFlow.medical)
        await state.set_data({})
        await query.answer()
        await edit_or_send(query, t(f"supply.ask_{kind}"))
        return
    if callback_data.action == "skip" and "detail" in data:
        await state.set_state(None)
        await query.answer()
        await edit_or_send(query, t("supply.ask_urgent"), _urgency_markup(t))
        return
    if callback_data.action == "urg" and "detail" in data and callback_data.id in (0, 1):
        request = await supplies.create(
            session, clock, catalog, person=identity.person, kind="medicine",
            detail=str(data["detail"]), urgent=bool(callback_data.id),
            prescription_file_id=data.get("photo"),
        )  # fmt: skip
        await state.clear()
        await query.answer()
        await _created(query.message, t, request, edit=query)  # type: ignore[arg-type]
        return
    raise DomainError("common.button_expired")


@router.message(SupplyFlow.medicine, F.text)
async def medicine_text(message: Message, state: FSMContext, t: Translator) -> None:
    detail = clean_text(message.text or "", supplies.DETAIL_MAX)
    await state.set_state(SupplyFlow.photo)
    await state.update_data(detail=detail)
    await message.answer(
        t("supply.ask_photo"),
        reply_markup=buttons([[(t("supply.skip_photo"), SupplyCb(action="skip", id=0))]]),
    )


@router.message(SupplyFlow.photo, F.photo)
async def prescription_photo(message: Message, state: FSMContext, t: Translator) -> None:
    assert message.photo
    await state.set_state(None)
    await state.update_data(photo=message.photo[-1].file_id)
    await message.answer(t("supply.ask_urgent"), reply_markup=_urgency_markup(t))


@router.message(SupplyFlow.medical, F.text, flags=ENDS_ON_REFUSAL)
async def medical_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    detail = clean_text(message.text or "", supplies.DETAIL_MAX)
    request = await supplies.create(
        session, clock, catalog, person=identity.person, kind="medical", detail=detail
    )
    await state.clear()
    await _created(message, t, request)


# ---------------------------------------------------------------- volunteers


def _open_list(t: Translator, items: list[supplies.Located]) -> tuple[str, InlineKeyboardMarkup]:
    shown = items[:MAX_LISTED]
    groups: dict[str, list[dict[str, object]]] = {}
    for item in shown:
        groups.setdefault(f"{item.compound} {item.building}", []).append(_item(t, item))
    text = t(
        "supply.open_list", total=len(items), more=len(items) - len(shown),
        buildings=[{"name": k, "requests": v} for k, v in groups.items()],
    )  # fmt: skip
    markup = buttons(
        [[(t("supply.take_button", id=i.request.id, room=f"{i.building} {i.unit} {i.room}"),
           SupplyCb(action="take", id=i.request.id))] for i in shown]
    )  # fmt: skip
    return text, markup


@router.message(Command("deliveries"), StateFilter("*"), flags=LEAVES_FORM)
async def deliveries_command(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await state.clear()
    items = await supplies.open_for(session, identity)
    text, markup = _open_list(t, items)
    await message.answer(text, reply_markup=markup if items else None)


@router.callback_query(SupplyCb.filter(F.action.in_({"take", "done", "prob"})))
async def volunteer_button(
    query: CallbackQuery,
    callback_data: SupplyCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    rid = callback_data.id
    if callback_data.action == "take":
        item = await supplies.take(session, clock, identity=identity, request_id=rid)
        text = t("supply.taken", **_item(t, item))
        markup: InlineKeyboardMarkup | None = buttons(
            [[(t("supply.done_button"), SupplyCb(action="done", id=rid)),
              (t("supply.problem_button"), SupplyCb(action="prob", id=rid))]]
        )  # fmt: skip
    elif callback_data.action == "done":
        item = await supplies.deliver(session, clock, catalog, identity=identity, request_id=rid)
        text, markup = t("supply.marked_delivered", **_item(t, item)), None
        # An optional photo of the delivery may follow.
        await state.set_state(SupplyFlow.delivery_photo)
        await state.set_data({"delivered": rid})
    else:
        item = await supplies.report_problem(
            session, clock, catalog, identity=identity, request_id=rid
        )
        text, markup = t("supply.marked_problem", **_item(t, item)), None
    await query.answer()
    if callback_data.action == "take":
        # The list stays (others can be taken from it); the taken one gets its own card.
        assert query.message is not None
        await query.message.answer(text, reply_markup=markup)
    else:
        await edit_or_send(query, text, markup)


@router.callback_query(SupplyCb.filter(F.action == "ok"))
async def confirm_button(
    query: CallbackQuery,
    callback_data: SupplyCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    request = await supplies.confirm(
        session, clock, person=identity.person, request_id=callback_data.id
    )
    await query.answer()
    await drop_buttons(query)
    await edit_or_send(query, t("supply.confirmed", id=request.id))


# ---------------------------------------------------------------- officers


@router.message(Command("supplies"), StateFilter("*"))
async def supplies_command(
    message: Message,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    settings: Settings,
    t: Translator,
) -> None:
    rows = await supplies.per_building(session, identity, clock, settings.supply_overdue_minutes)
    await message.answer(
        t(
            "supply.per_building",
            minutes=settings.supply_overdue_minutes,
            rows=[
                {
                    "name": f"{r.compound} {r.building}",
                    "open": r.counts["open"],
                    "taken": r.counts["taken"],
                    "delivered": r.counts["delivered"],
                    "problem": r.counts["problem"],
                    "overdue": r.counts["overdue"],
                }
                for r in rows
            ],
        )
    )


@router.message(SupplyFlow.delivery_photo, F.photo, flags=LEAVES_FORM)
async def delivery_photo(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    """The volunteer's optional photo of a delivery just marked delivered."""
    data = await state.get_data()
    await state.clear()
    assert message.photo
    await supplies.attach_photo(
        session, identity=identity, request_id=int(data.get("delivered", 0)),
        file_id=message.photo[-1].file_id,
    )  # fmt: skip
    await message.answer(t("supply.photo_saved", id=int(data.get("delivered", 0))))


# ---------------------------------------------------------------- distribution rounds


def _round_view(
    t: Translator, state: supplies.RoundState
) -> tuple[str, InlineKeyboardMarkup | None]:
    text = t(
        "supply.round", place=state.place, item=state.round.item,
        done=state.total - len(state.pending), total=state.total,
    )  # fmt: skip
    if not state.pending:
        return text, None
    shown = state.pending[:96]
    rows = [
        [
            (label, DistributionCb(round_id=state.round.id, household_id=hid))
            for hid, label in shown[i : i + 4]
        ]
        for i in range(0, len(shown), 4)
    ]
    return text, buttons(rows)


@router.message(Command("distribute"), StateFilter("*"))
async def round_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    state = await supplies.open_round(session, clock, identity=identity, text=command.args or "")
    text, markup = _round_view(t, state)
    await message.answer(text, reply_markup=markup)


@router.callback_query(DistributionCb.filter())
async def round_tick(
    query: CallbackQuery,
    callback_data: DistributionCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    state = await supplies.tick_household(
        session, clock, identity=identity, round_id=callback_data.round_id,
        household_id=callback_data.household_id,
    )  # fmt: skip
    await query.answer()
    text, markup = _round_view(t, state)
    await edit_or_send(query, text, markup)
