"""/gate for guards, /gate_add and /gate_poster for officers, and the gate's QR deep link
(/start gate_<token>) for residents (R-GATE)."""

from __future__ import annotations

from decimal import Decimal

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.core.forms import ENDS_ON_REFUSAL, LEAVES_FORM
from bot.db.models import CaseKind, Community, Person
from bot.parsing import clean_name, clean_text, parse_temperature
from bot.places import Gazetteer
from bot.presentation.callbacks import GateCb, GateSelfCb
from bot.presentation.keyboards import buttons
from bot.services import gate, gate_poster, monitoring, rematch, sealing, staffscope
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from bot.services.scope import roles_for
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="gate")
router.message.filter(F.chat.type == "private")

# One rule (bot.services.scope): officers, admins, guards, and property managers /
# lead-unit contacts for their compound's gate.
GUARD_ROLES = roles_for("gate")


class GateFlow(StatesGroup):
    resident_query = State()
    visitor_name = State()
    visitor_origin = State()
    plate = State()
    temperature = State()
    self_temperature = State()


async def _guard_gate(session: AsyncSession, identity: Identity, gate_id: int) -> gate.GateInfo:
    """The gate, if the acting guard/officer may record at it (checked on every press)."""
    community = await staffscope.acting_community(session, identity, GUARD_ROLES)
    info = await gate.gate_info(session, gate_id, community.id)
    if not identity.allows(GUARD_ROLES, community_id=community.id, compound_id=info.compound.id):
        raise NotAllowed()
    return info


def _label(info: gate.GateInfo) -> str:
    return f"{info.compound.name} {info.gate.name}"


def _direction_markup(t: Translator) -> InlineKeyboardMarkup:
    return buttons(
        [[(t("gate.direction_in"), GateCb(action="dir", value=0)),
          (t("gate.direction_out"), GateCb(action="dir", value=1))]]
    )  # fmt: skip


def _kind_markup(t: Translator) -> InlineKeyboardMarkup:
    return buttons(
        [[(t(f"gate.subject_{k}"), GateCb(action="kind", value=i))
          for i, k in enumerate(gate.SUBJECTS)]]
    )  # fmt: skip


@router.message(Command("gate"), StateFilter("*"), flags=LEAVES_FORM)
async def gate_command(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await state.clear()
    community = await staffscope.acting_community(session, identity, GUARD_ROLES)
    mine = [
        i
        for i in await gate.gates(session, community.id)
        if identity.allows(GUARD_ROLES, community_id=community.id, compound_id=i.compound.id)
    ]
    if not mine:
        await message.answer(t("gate.no_gates"))
        return
    await message.answer(
        t("gate.pick_gate"),
        reply_markup=buttons([[(_label(i), GateCb(action="gate", value=i.gate.id))] for i in mine]),
    )


@router.callback_query(GateCb.filter())
async def gate_button(
    query: CallbackQuery,
    callback_data: GateCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    action, value = callback_data.action, callback_data.value
    if action == "gate":
        info = await _guard_gate(session, identity, value)
        await state.set_state(None)
        await state.set_data({"gate_id": info.gate.id})
        text, markup = t("gate.pick_direction", gate=_label(info)), _direction_markup(t)
    elif action == "dir" and "gate_id" in data and value in (0, 1):
        await _guard_gate(session, identity, int(data["gate_id"]))
        await state.update_data(direction=gate.DIRECTIONS[value])
        text, markup = t("gate.pick_subject"), _kind_markup(t)
    elif action == "kind" and "direction" in data and 0 <= value < len(gate.SUBJECTS):
        await _guard_gate(session, identity, int(data["gate_id"]))
        kind = gate.SUBJECTS[value]
        await state.update_data(kind=kind)
        next_state = {
            "resident": GateFlow.resident_query,
            "visitor": GateFlow.visitor_name,
            "vehicle": GateFlow.plate,
        }[kind]
        await state.set_state(next_state)
        text, markup = t(f"gate.ask_{kind}"), None
    elif action == "person" and data.get("kind") == "resident":
        info = await _guard_gate(session, identity, int(data["gate_id"]))
        person = await gate.resident_of_compound(session, info.compound.id, value)
        await state.update_data(person_id=person.id, name=person.name)
        await state.set_state(GateFlow.temperature)
        text, markup = t("gate.ask_temperature", who=person.name), None
    else:
        raise DomainError("common.button_expired")
    await query.answer()
    await edit_or_send(query, text, markup)


@router.message(GateFlow.resident_query, F.text, flags=ENDS_ON_REFUSAL)
async def resident_query(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    data = await state.get_data()
    info = await _guard_gate(session, identity, int(data.get("gate_id", 0)))
    text = clean_text(message.text or "", 40)
    found = await gate.find_residents(session, info.compound.id, text)
    if not found:
        await message.answer(t("gate.no_resident", query=text))
        return
    await message.answer(
        t("gate.pick_resident"),
        reply_markup=buttons(
            [[(label, GateCb(action="person", value=p.id))] for p, label in found]
        ),
    )


@router.message(GateFlow.visitor_name, F.text)
async def visitor_name(message: Message, state: FSMContext, t: Translator) -> None:
    name = clean_name(message.text or "")
    await state.update_data(name=name)
    await state.set_state(GateFlow.visitor_origin)
    await message.answer(t("gate.ask_origin", name=name))


@router.message(GateFlow.visitor_origin, F.text, flags=ENDS_ON_REFUSAL)
async def visitor_origin(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    locale: str,
) -> None:
    text = (message.text or "")[:60]
    places = Gazetteer.load().resolve(text)
    if not places:
        await message.answer(t("gate.unknown_place", text=text))
        return
    place = places[0]
    community = await staffscope.acting_community(session, identity, GUARD_ROLES)
    today = local_today(clock, community.timezone)
    if await rematch.districts_at_risk(session, community.id, place.code, today):
        # Only some districts of this city are risk areas: which one? (R-RISK)
        full = Gazetteer.load().full_name(place.code, locale)
        await message.answer(t("monitoring.gate_which_district", place=full))
        return
    await state.update_data(origin_code=place.code)
    await state.set_state(GateFlow.temperature)
    full = Gazetteer.load().full_name(place.code, locale)
    await message.answer(t("gate.ask_temperature", who=full))


@router.message(GateFlow.plate, F.text)
async def plate(message: Message, state: FSMContext, t: Translator) -> None:
    value = gate.parse_plate(message.text or "")
    await state.update_data(plate=value)
    await state.set_state(GateFlow.temperature)
    await message.answer(t("gate.ask_temperature", who=value))


@router.message(GateFlow.temperature, F.text, flags=ENDS_ON_REFUSAL)
async def temperature(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    value = parse_temperature(message.text or "")
    data = await state.get_data()
    info = await _guard_gate(session, identity, int(data.get("gate_id", 0)))
    person = None
    if data.get("person_id"):
        person = await gate.resident_of_compound(session, info.compound.id, int(data["person_id"]))
    passage = gate.Passage(
        direction=str(data.get("direction", "")), subject_kind=str(data.get("kind", "")),
        person=person, name=data.get("name"), origin_code=data.get("origin_code"),
        plate=data.get("plate"), temperature=value,
    )  # fmt: skip
    entry, opened = await gate.record_passage(
        session, clock, catalog, info=info, passage=passage, by=identity.person
    )
    await state.clear()
    text = t(
        "gate.saved",
        gate=_label(info),
        direction=t(f"gate.direction_{entry.direction}"),
        who=entry.name or entry.plate or "",
        temperature=str(value),
        fever=CaseKind.GATE_FEVER in opened,
        risk=CaseKind.GATE_RISK in opened,
    )
    if person is not None:
        note = await _monitoring_note(session, info, person, t, opened)
        text = f"{note}\n{text}" if note else text
    verdict, level = await sealing.gate_verdict(
        session, compound_id=info.compound.id, direction=entry.direction,
        subject_kind=entry.subject_kind, household_id=entry.household_id,
    )  # fmt: skip
    if verdict == "warn":
        text = f"{t('seal.gate_warning', level=level)}\n{text}"
    await message.answer(
        text,
        reply_markup=buttons([[(t("gate.again"), GateCb(action="gate", value=info.gate.id))]]),
    )


async def _monitoring_note(
    session: AsyncSession,
    info: gate.GateInfo,
    person: Person,
    t: Translator,
    opened: list[CaseKind],
) -> str:
    """A clear warning first when the person (or their household) may not go out; a
    note when they are monitored but allowed (R-GATE+)."""
    community = await session.get(Community, info.compound.community_id)
    if community is None:
        return ""
    status = await monitoring.gate_status(session, community, person)
    if status is None:
        return ""
    category = t(f"monitoring.category_{status.category}")
    if CaseKind.GATE_MONITORED in opened:
        return t("monitoring.gate_forbidden", who=person.name, category=category, own=status.own)
    return t("monitoring.gate_allowed", who=person.name, category=category)


# ---------------------------------------------------------------- officers


@router.message(Command("gate_add"), StateFilter("*"))
async def gate_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    compound_name, _, name = (command.args or "").strip().partition(" ")
    community = await staffscope.acting_community(session, identity, OFFICER_ROLES)
    if not identity.allows(OFFICER_ROLES, community_id=community.id):
        raise NotAllowed()
    if not compound_name or not name.strip():
        raise DomainError("gate.add_usage")
    info = await gate.add_gate(
        session, clock, community=community, compound_name=compound_name,
        name=clean_text(name, 40), by=identity.person,
    )  # fmt: skip
    await message.answer(t("gate.added", compound=compound_name, name=info.name))


@router.message(Command("gate_poster"), StateFilter("*"))
async def gate_poster_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    bot_username: str,
) -> None:
    community = await staffscope.acting_community(session, identity, OFFICER_ROLES)
    if not (command.args or "").strip():
        raise DomainError("gate.poster_usage")
    info = await gate.find_gate(session, community.id, command.args or "")
    if not identity.allows(OFFICER_ROLES, community_id=community.id, compound_id=info.compound.id):
        raise NotAllowed()
    url = gate_poster.deep_link(bot_username, info.gate.token)
    poster = gate_poster.render_poster(
        url,
        title=_label(info),
        subtitle=t("gate.poster_subtitle"),
        ascii_title=f"Gate #{info.gate.id}",
        ascii_subtitle="Scan to record your entry / exit",
    )
    stem = f"gate-{info.gate.id}"
    caption = t("gate.poster_caption", gate=_label(info), cjk=poster.cjk)
    await message.answer_document(BufferedInputFile(poster.png, f"{stem}.png"), caption=caption)
    await message.answer_document(BufferedInputFile(poster.pdf, f"{stem}.pdf"))


# ---------------------------------------------------------------- residents (QR code)


@router.message(
    CommandStart(deep_link=True, magic=F.args.startswith("gate_")),
    StateFilter("*"),
    flags=LEAVES_FORM,
)
async def gate_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    await state.clear()
    token = (command.args or "")[len("gate_") :]
    info = await gate.gate_by_token(session, token)
    if not identity.is_registered:
        await message.answer(t("gate.register_first"))
        return
    await message.answer(
        t("gate.self_pick", gate=_label(info)),
        reply_markup=buttons(
            [[(t("gate.direction_in"), GateSelfCb(token=token, direction="in")),
              (t("gate.direction_out"), GateSelfCb(token=token, direction="out"))]]
        ),
    )  # fmt: skip


@router.callback_query(GateSelfCb.filter())
async def gate_self(
    query: CallbackQuery,
    callback_data: GateSelfCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """In or out, then the temperature: typed by the resident, or "the guard takes it"
    (direction "in_g"/"out_g"), as "every entry is temperature-checked" requires."""
    direction, _, guard = callback_data.direction.partition("_")
    info = await gate.gate_by_token(session, callback_data.token)
    person = identity.person
    if person is None or not identity.is_registered:
        raise NotAllowed("gate.register_first")
    if direction not in gate.DIRECTIONS or guard not in ("", "g"):
        raise DomainError("common.button_expired")
    await query.answer()
    await drop_buttons(query)
    if not guard:
        await state.set_state(GateFlow.self_temperature)
        await state.set_data({"token": callback_data.token, "direction": direction})
        await edit_or_send(
            query,
            t("monitoring.self_ask_temperature", gate=_label(info),
              direction=t(f"gate.direction_{direction}")),
            buttons([[(t("monitoring.self_guard_takes"),
                       GateSelfCb(token=callback_data.token, direction=f"{direction}_g"))]]),
        )  # fmt: skip
        return
    await state.clear()
    text = await _self_record(session, clock, catalog, info, person, direction, None, t)
    await edit_or_send(query, text)


@router.message(GateFlow.self_temperature, F.text, flags=ENDS_ON_REFUSAL)
async def gate_self_temperature(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    value = parse_temperature(message.text or "")
    data = await state.get_data()
    await state.clear()
    info = await gate.gate_by_token(session, str(data.get("token", "")))
    person = identity.person
    if person is None or not identity.is_registered:
        raise NotAllowed("gate.register_first")
    direction = str(data.get("direction", ""))
    if direction not in gate.DIRECTIONS:
        raise DomainError("common.button_expired")
    await message.answer(
        await _self_record(session, clock, catalog, info, person, direction, value, t)
    )


async def _self_record(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    info: gate.GateInfo,
    person: Person,
    direction: str,
    value: Decimal | None,
    t: Translator,
) -> str:
    try:
        await gate.resident_of_compound(session, info.compound.id, person.id)
        kind = "resident"
    except NotAllowed:
        kind = "visitor"
    passage = gate.Passage(direction=direction, subject_kind=kind, person=person, temperature=value)
    entry, opened = await gate.record_passage(
        session, clock, catalog, info=info, passage=passage, by=person, self_recorded=True
    )
    text = t("gate.self_saved", gate=_label(info), direction=t(f"gate.direction_{entry.direction}"))
    text += "\n" + t(
        "monitoring.self_temperature_note",
        temperature=str(value) if value is not None else "",
        fever=CaseKind.GATE_FEVER in opened,
    )
    if CaseKind.GATE_MONITORED in opened:
        text = t("monitoring.self_forbidden") + "\n" + text
    return text
