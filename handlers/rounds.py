"""Mass testing rounds (R-ROUND, issue 15): officers create, announce, follow and close
a round; staff scan personal codes or tick households; grid workers mark the people
not yet tested; residents show their codes and self-report. Thin: parse, call
bot.services.rounds (which checks roles in the database), render."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.core.forms import ENDS_ON_REFUSAL, LEAVES_FORM
from bot.db.models import Community, Person, Role, Round, RoundPersonStatus, RoundStatus
from bot.parsing import clean_text
from bot.presentation.callbacks import CodeCb, RoundCb, RoundHousePage, RoundMarkCb, RoundPick
from bot.presentation.keyboards import buttons, paged_choices
from bot.presentation.rounds import round_officer_markup
from bot.services import coverage, rounds, staffscope
from bot.services.directory import household_members
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from bot.services.monitoring import CATEGORIES
from handlers.replies import edit_or_send
from messages import Catalog, Translator

router = Router(name="rounds")
router.message.filter(F.chat.type == "private")


class RoundInput(StatesGroup):
    exempt = State()
    away = State()
    photo = State()
    positives = State()


async def _community(
    session: AsyncSession, identity: Identity, roles: frozenset[Role]
) -> Community:
    return await staffscope.acting_community(session, identity, roles)


async def _officer_round(
    session: AsyncSession, identity: Identity, round_id: int | None
) -> tuple[Community, Round]:
    """The round an officer asks about (the latest not closed when no id is given)."""
    community = await _community(session, identity, OFFICER_ROLES)
    if not rounds.may_manage(identity, community.id):
        raise NotAllowed()
    if round_id is None:
        found = await rounds.open_rounds(session, community.id)
        if not found:
            raise DomainError("rounds.none_open")
        return community, found[-1]
    return community, await rounds.get_round(session, round_id, community.id)


def _required_label(t: Translator, required: str) -> str:
    if required in CATEGORIES:
        return t(f"monitoring.category_{required}")
    return t(f"rounds.required_{required}")


def _round_id(text: str | None) -> int | None:
    word = (text or "").strip().lstrip("#")
    if not word:
        return None
    if not (word.isascii() and word.isdigit()) or len(word) > 12:
        raise DomainError("rounds.not_found", id=word[:20])
    return int(word)


async def _progress_text(session: AsyncSession, t: Translator, rnd: Round) -> str:
    rows = await rounds.progress(session, rnd.id)
    tot = rounds.total(rows)
    return t(
        "rounds.progress", id=rnd.id, day=rnd.day.isoformat(),
        status=t(f"rounds.status_{rnd.status}"), rows=[r.as_dict() for r in rows],
        total=tot.as_dict(),
        percent=round(100 * tot.tested / tot.expected) if tot.expected else 0,
    )  # fmt: skip


# ---------------------------------------------------------------- officers


@router.message(Command("round_new"), StateFilter("*"), flags=LEAVES_FORM)
async def round_new(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    clock: Clock, identity: Identity, t: Translator,
) -> None:  # fmt: skip
    await state.clear()
    community = await _community(session, identity, OFFICER_ROLES)
    if not rounds.may_manage(identity, community.id):
        raise NotAllowed()
    if not (command.args or "").strip():
        raise DomainError("rounds.spec_help")
    spec = await rounds.parse_spec(
        session, community.id, command.args or "", local_today(clock, community.timezone)
    )
    rnd = await rounds.create_round(
        session, clock, community=community, spec=spec, by=identity.person
    )
    views = await rounds.slots(session, rnd.id)
    await message.answer(
        t("rounds.created", id=rnd.id, day=rnd.day.isoformat(),
          required=_required_label(t, rnd.required), slots=rounds.slot_rows(views),
          door=len(spec.door)),
        reply_markup=round_officer_markup(t, rnd.id, rnd.status),
    )  # fmt: skip


@router.message(Command("round"), StateFilter("*"))
async def round_command(
    message: Message, command: CommandObject, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    _, rnd = await _officer_round(session, identity, _round_id(command.args))
    text = await _progress_text(session, t, rnd)
    await message.answer(text, reply_markup=round_officer_markup(t, rnd.id, rnd.status))


@router.callback_query(RoundCb.filter(F.action.in_({"ann", "close", "prog"})))
async def round_officer_action(
    query: CallbackQuery, callback_data: RoundCb, session: AsyncSession, clock: Clock,
    catalog: Catalog, identity: Identity, t: Translator,
) -> None:  # fmt: skip
    _c, rnd = await _officer_round(session, identity, callback_data.round_id)
    note = ""
    if callback_data.action == "ann":
        expected, groups, households = await rounds.announce(
            session, clock, catalog, rnd=rnd, by=identity.person
        )
        note = t("rounds.announced", id=rnd.id, expected=expected, groups=groups,
                 households=households)  # fmt: skip
    elif callback_data.action == "close":
        cases = await rounds.close_round(session, clock, catalog, rnd=rnd, by=identity.person)
        note = t("rounds.closed", id=rnd.id, cases=cases)
    text = await _progress_text(session, t, rnd)
    await query.answer()
    await edit_or_send(query, text, round_officer_markup(t, rnd.id, rnd.status))
    if note and isinstance(query.message, Message):
        await query.message.answer(note)


@router.message(Command("round_positives"), StateFilter("*"), ~F.document, flags=LEAVES_FORM)
async def round_positives(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    await state.clear()
    _c, rnd = await _officer_round(session, identity, _round_id(command.args))
    await state.set_state(RoundInput.positives)
    await state.update_data(round_id=rnd.id)
    await message.answer(t("rounds.positives_ask", id=rnd.id))


@router.message(RoundInput.positives, F.text)
async def round_positives_text(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock, catalog: Catalog,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    if (message.text or "").startswith("/"):
        return
    data = await state.get_data()
    _c, rnd = await _officer_round(session, identity, int(data.get("round_id", 0)))
    result = await rounds.import_positives(
        session, clock, catalog, rnd=rnd, rows=rounds.lab_rows_from_text(message.text or ""),
        by=identity.person,
    )  # fmt: skip
    await _positives_done(message, state, t, rnd.id, result)


@router.message(RoundInput.positives, F.document)
@router.message(F.document, F.caption.startswith("/round_positives"), StateFilter("*"))
async def round_positives_file(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock, catalog: Catalog,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    """The lab's list as a CSV or XLSX file, after /round_positives or with it as the
    caption: the same checks and limits as a pasted list. A refusal (DomainError) is
    answered by bot/errors.py and keeps the state, so the officer can send another file."""
    document = message.document
    assert document is not None and message.bot is not None
    caption = (message.caption or "").split(maxsplit=1)
    if caption and caption[0].startswith("/round_positives"):
        round_id = _round_id(caption[1] if len(caption) > 1 else None)
    else:
        round_id = int((await state.get_data()).get("round_id", 0))
    _c, rnd = await _officer_round(session, identity, round_id)
    if (document.file_size or 0) > rounds.LAB_MAX_BYTES:
        raise DomainError("rounds.positives_too_big", max_kb=rounds.LAB_MAX_BYTES // 1000)
    if not (document.file_name or "").lower().endswith(rounds.LAB_FILE_TYPES):
        raise DomainError("rounds.positives_bad_type")
    file = await message.bot.download(document)
    rows = rounds.lab_rows_from_file(document.file_name or "", file.read() if file else b"")
    result = await rounds.import_positives(
        session, clock, catalog, rnd=rnd, rows=rows, by=identity.person
    )
    await _positives_done(message, state, t, rnd.id, result)


async def _positives_done(
    message: Message, state: FSMContext, t: Translator, round_id: int,
    result: rounds.ImportResult,
) -> None:  # fmt: skip
    await state.clear()
    await message.answer(
        t("rounds.positives_result", id=round_id, matched=result.matched,
          unmatched=result.unmatched, already=result.already)
    )  # fmt: skip


# ---------------------------------------------------------------- personal codes and scans


@router.message(Command("mycode"), StateFilter("*"))
async def my_code(
    message: Message, session: AsyncSession, clock: Clock, identity: Identity, t: Translator,
    bot_username: str,
) -> None:  # fmt: skip
    person = identity.person
    if person is None or not identity.is_registered:
        await message.answer(t("rounds.register_first"))
        return
    assert person.household_id is not None
    if person.is_head:
        members = await household_members(session, person.household_id)
        await message.answer(
            t("rounds.code_pick"),
            reply_markup=buttons([[(m.name, CodeCb(person_id=m.id))] for m in members]),
        )
        return
    await _send_code(message, session, clock, t, bot_username, person)


async def _send_code(
    message: Message, session: AsyncSession, clock: Clock, t: Translator, bot_username: str,
    person: Person,
) -> None:  # fmt: skip
    token = await rounds.code_for(session, clock, person.id)
    png = rounds.qr_png(rounds.deep_link(bot_username, token))
    await message.answer_photo(
        BufferedInputFile(png, f"code-{person.id}.png"),
        caption=t("rounds.code_caption", name=person.name),
    )


@router.callback_query(CodeCb.filter())
async def code_pressed(
    query: CallbackQuery, callback_data: CodeCb, session: AsyncSession, clock: Clock,
    identity: Identity, t: Translator, bot_username: str,
) -> None:  # fmt: skip
    actor = identity.person
    person = await session.get(Person, callback_data.person_id)
    if actor is None or person is None or not rounds.may_show_code(actor, person):
        await query.answer(t("common.not_allowed"), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await _send_code(query.message, session, clock, t, bot_username, person)


@router.message(
    CommandStart(deep_link=True, magic=F.args.startswith("p_")), StateFilter("*"), flags=LEAVES_FORM
)
async def scanned(
    message: Message, command: CommandObject, state: FSMContext, raw_state: str | None,
    session: AsyncSession, clock: Clock, identity: Identity, t: Translator,
) -> None:  # fmt: skip
    if raw_state is not None:  # (scans come by the thousand: no FSM write when idle)
        await state.clear()
    token = (command.args or "")[2:]
    try:
        marked = await rounds.mark_by_code(session, clock, identity=identity, token=token)
    except NotAllowed as exc:
        # Staff of another place are told why; anyone else that this is a personal code.
        staff = identity.has_any(rounds.MARKER_ROLES)
        await message.answer(t(exc.key, **exc.params) if staff else t("rounds.code_for_staff"))
        return
    lines = [
        t("rounds.scan_ok" if m.newly else "rounds.scan_already", name=m.person.name,
          address=m.address, id=m.round_id)
        for m in marked
    ]  # fmt: skip
    await message.answer("\n".join(lines))


# ---------------------------------------------------------------- the household tick list


async def _marker_round(
    session: AsyncSession, identity: Identity, round_id: int | None
) -> tuple[Community, Round, set[int] | None]:
    """A staffer's round and the buildings they may mark in (None: all of the community)."""
    community = await _community(session, identity, rounds.MARKER_ROLES)
    if round_id is None:
        found = [r for r in await rounds.open_rounds(session, community.id)
                 if r.status == RoundStatus.OPEN]  # fmt: skip
        if not found:
            raise DomainError("rounds.none_open")
        rnd = found[-1]
    else:
        rnd = await rounds.get_round(session, round_id, community.id)
    return community, rnd, await rounds.marker_buildings(session, identity, community.id)


async def _tick_buildings(
    session: AsyncSession, identity: Identity, t: Translator, round_id: int | None, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    _, rnd, allowed = await _marker_round(session, identity, round_id)
    views = await rounds.slots(session, rnd.id)
    items = [
        (v.building_id, f"{v.compound} {v.building}")
        for v in views
        if allowed is None or v.building_id in allowed
    ]
    if not items:
        raise NotAllowed()
    markup = paged_choices(
        items, label=lambda i: i[1], data=lambda i: RoundPick(round_id=rnd.id, level="b", id=i[0]),
        page=page, page_data=lambda p: RoundCb(action="tick", round_id=rnd.id, page=p), t=t,
        columns=2,
    )  # fmt: skip
    return t("rounds.tick_pick_building", id=rnd.id), markup


@router.message(Command("round_tick"), StateFilter("*"), flags=LEAVES_FORM)
async def round_tick(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    await state.clear()
    text, markup = await _tick_buildings(session, identity, t, _round_id(command.args), 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(RoundCb.filter(F.action == "tick"))
async def round_tick_page(
    query: CallbackQuery, callback_data: RoundCb, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    text, markup = await _tick_buildings(
        session, identity, t, callback_data.round_id, callback_data.page
    )
    await query.answer()
    await edit_or_send(query, text, markup)


async def _household_view(
    session: AsyncSession, identity: Identity, t: Translator, round_id: int, household_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    community, rnd, allowed = await _marker_round(session, identity, round_id)
    await coverage.household_in_scope(session, household_id, community.id, None)
    building_id = await rounds.building_of_household(session, household_id)
    if allowed is not None and building_id not in allowed:
        raise NotAllowed()
    people = await rounds.household_people(session, rnd.id, household_id)
    if not people:
        raise DomainError("rounds.household_empty")
    rows = [
        [(("✅ " if status == RoundPersonStatus.TESTED else "") + name,
          RoundMarkCb(action="t", round_id=rnd.id, person_id=pid))]
        for pid, name, status in people
    ]  # fmt: skip
    return t("rounds.tick_people", id=rnd.id, count=len(people)), buttons(rows)


async def _households_page(
    session: AsyncSession, identity: Identity, t: Translator, round_id: int, building_id: int,
    page: int,
) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    community, rnd, allowed = await _marker_round(session, identity, round_id)
    if building_id not in {v.building_id for v in await rounds.slots(session, rnd.id)}:
        raise NotAllowed()
    if allowed is not None and building_id not in allowed:
        raise NotAllowed()
    houses: list[tuple[int, str]] = []
    for unit_id, unit in await coverage.units_in_scope(session, building_id, community.id, None):
        houses.extend(
            (hid, f"{unit} {room}")
            for hid, room in await coverage.rooms_in_scope(session, unit_id, community.id, None)
        )
    markup = paged_choices(
        houses, label=lambda h: h[1],
        data=lambda h: RoundPick(round_id=rnd.id, level="h", id=h[0]), page=page,
        page_data=lambda p: RoundHousePage(round_id=rnd.id, building_id=building_id, page=p),
        t=t, columns=3,
    )  # fmt: skip
    return t("rounds.tick_pick_household"), markup


@router.callback_query(RoundHousePage.filter())
async def round_house_page(
    query: CallbackQuery, callback_data: RoundHousePage, session: AsyncSession,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    text, markup = await _households_page(
        session, identity, t, callback_data.round_id, callback_data.building_id,
        callback_data.page,
    )  # fmt: skip
    await query.answer()
    await edit_or_send(query, text, markup)


@router.callback_query(RoundPick.filter())
async def round_pick(
    query: CallbackQuery, callback_data: RoundPick, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    if callback_data.level == "b":
        text, markup = await _households_page(
            session, identity, t, callback_data.round_id, callback_data.id, 0
        )
    elif callback_data.level == "h":
        text, markup = await _household_view(
            session, identity, t, callback_data.round_id, callback_data.id
        )
    else:
        raise NotAllowed("common.button_expired")
    await query.answer()
    await edit_or_send(query, text, markup)


# ---------------------------------------------------------------- marking people


async def _answer_marked(
    query: CallbackQuery, t: Translator, done_key: str, person: Person, changed: bool,
    text: str, markup: InlineKeyboardMarkup,
) -> None:  # fmt: skip
    await query.answer(t(done_key if changed else "rounds.already_marked", name=person.name))
    await edit_or_send(query, text, markup)


@router.callback_query(RoundMarkCb.filter(F.action == "s"))
async def round_self_mark(
    query: CallbackQuery, callback_data: RoundMarkCb, state: FSMContext, session: AsyncSession,
    clock: Clock, identity: Identity, t: Translator,
) -> None:  # fmt: skip
    """A resident records a member of their household as tested; a photo may follow."""
    rid, pid = callback_data.round_id, callback_data.person_id
    if identity.person is None:
        raise NotAllowed("rounds.register_first")
    person, changed = await rounds.self_report(
        session, clock, actor=identity.person, round_id=rid, person_id=pid
    )
    data = await state.get_data()
    marked = list(data.get("self_ids", [])) if data.get("round_id") == rid else []
    await state.set_state(RoundInput.photo)
    await state.update_data(round_id=rid, self_ids=[*marked, pid])
    text, markup = await _self_view(session, identity.person, t, rid)
    await _answer_marked(query, t, "rounds.ticked", person, changed, text, markup)


@router.callback_query(RoundMarkCb.filter(F.action.in_({"t", "v"})))
async def round_staff_mark(
    query: CallbackQuery, callback_data: RoundMarkCb, session: AsyncSession, clock: Clock,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    """Staff tick a person in the household list (t) or a grid worker marks them sampled
    at the door (v); the list is shown again."""
    rid, pid, tick = callback_data.round_id, callback_data.person_id, callback_data.action == "t"
    person, changed = await rounds.staff_mark(
        session, clock, identity=identity, round_id=rid, person_id=pid,
        status=RoundPersonStatus.TESTED, method="list" if tick else "door",
    )  # fmt: skip
    if tick:
        assert person.household_id is not None
        text, markup = await _household_view(session, identity, t, rid, person.household_id)
    else:
        text, markup = await _todo(session, identity, t, rid, 0)
    done = "rounds.ticked" if tick else "rounds.marked_visited"
    await _answer_marked(query, t, done, person, changed, text, markup)


@router.callback_query(RoundMarkCb.filter(F.action.in_({"x", "a"})))
async def round_ask_reason(
    query: CallbackQuery, callback_data: RoundMarkCb, state: FSMContext, session: AsyncSession,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    """Exempt (x) or away (a): ask the reason or where; the role is checked now and again
    when the answer arrives."""
    exempt = callback_data.action == "x"
    person = await rounds.check_staff_mark(
        session, identity=identity, round_id=callback_data.round_id,
        person_id=callback_data.person_id,
    )  # fmt: skip
    await state.set_state(RoundInput.exempt if exempt else RoundInput.away)
    await state.update_data(round_id=callback_data.round_id, person_id=callback_data.person_id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t("rounds.ask_exempt" if exempt else "rounds.ask_away", name=person.name)
        )


@router.callback_query(RoundMarkCb.filter())
async def round_mark_unknown(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("common.button_expired"), show_alert=True)


@router.message(StateFilter(RoundInput.exempt, RoundInput.away), F.text, flags=ENDS_ON_REFUSAL)
async def round_reason(
    message: Message, state: FSMContext, session: AsyncSession, clock: Clock,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    if (message.text or "").startswith("/"):
        return
    current = await state.get_state()
    status = (
        RoundPersonStatus.EXEMPT if current == RoundInput.exempt.state else RoundPersonStatus.AWAY
    )
    note = clean_text(message.text or "", 200)
    data = await state.get_data()
    person, changed = await rounds.staff_mark(
        session, clock, identity=identity, round_id=int(data.get("round_id", 0)),
        person_id=int(data.get("person_id", 0)), status=status, method="grid", note=note,
    )  # fmt: skip
    await state.clear()
    key = f"rounds.marked_{status.value}" if changed else "rounds.already_marked"
    await message.answer(t(key, name=person.name, note=note))


@router.message(Command("round_todo"), StateFilter("*"), flags=LEAVES_FORM)
async def round_todo(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    await state.clear()
    text, markup = await _todo(session, identity, t, _round_id(command.args), 0)
    await message.answer(text, reply_markup=markup)


async def _todo(
    session: AsyncSession, identity: Identity, t: Translator, round_id: int | None, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    _, rnd, allowed = await _marker_round(session, identity, round_id)
    people = await rounds.not_tested(session, rnd.id, allowed)
    grid_label = t("rounds.all_grids") if allowed is None else ""
    return rounds.render_todo(t, rnd, grid_label, people, page)


@router.callback_query(RoundCb.filter(F.action == "todo"))
async def round_todo_page(
    query: CallbackQuery, callback_data: RoundCb, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    text, markup = await _todo(session, identity, t, callback_data.round_id, callback_data.page)
    await query.answer()
    await edit_or_send(query, text, markup)


# ---------------------------------------------------------------- residents self-report


async def _self_view(
    session: AsyncSession, actor: Person, t: Translator, round_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    people = await rounds.self_candidates(session, round_id, actor)
    if not people:
        raise NotAllowed("rounds.not_in_round")
    rows = [
        [(("✅ " if status == RoundPersonStatus.TESTED else "") + p.name,
          RoundMarkCb(action="s", round_id=round_id, person_id=p.id))]
        for p, status in people
    ]  # fmt: skip
    return t("rounds.self_pick", id=round_id), buttons(rows)


@router.callback_query(RoundCb.filter(F.action == "self"))
async def round_self(
    query: CallbackQuery, callback_data: RoundCb, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    if identity.person is None:
        raise NotAllowed("rounds.register_first")
    text, markup = await _self_view(session, identity.person, t, callback_data.round_id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


@router.message(RoundInput.photo, F.photo)
async def round_photo(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    data = await state.get_data()
    if identity.person is None or not message.photo:
        await state.clear()
        return
    count = await rounds.attach_photo(
        session, actor=identity.person, round_id=int(data.get("round_id", 0)),
        person_ids=[int(x) for x in data.get("self_ids", [])],
        file_id=message.photo[-1].file_id,
    )  # fmt: skip
    await state.clear()
    await message.answer(t("rounds.photo_saved", count=count))
