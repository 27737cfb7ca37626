"""/coverage (figures and missing households) and /screen (a door visit) (R-COV)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.core.forms import ENDS_ON_REFUSAL, LEAVES_FORM
from bot.db.models import (
    Building,
    Community,
    Compound,
    Household,
    ScreeningOutcome,
    ScreeningVisitPerson,
    Unit,
    VisitPersonStatus,
)
from bot.parsing import ParseError, clean_name, clean_text, parse_temperature
from bot.presentation.callbacks import (
    ScreenChangeCb,
    ScreenOutcomeCb,
    ScreenPage,
    ScreenPersonCb,
    ScreenPick,
)
from bot.presentation.keyboards import buttons, paged_choices
from bot.services import care, coverage, scope, sealing
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

CARE_SHOWN = 20
router = Router(name="coverage")
router.message.filter(F.chat.type == "private")

MISSING_SHOWN = 60


class Screening(StatesGroup):
    note = State()
    people = State()


MAX_SEEN = 20
_CYCLE = {
    VisitPersonStatus.PRESENT.value: VisitPersonStatus.AWAY.value,
    VisitPersonStatus.AWAY.value: VisitPersonStatus.MOVED_OUT.value,
    VisitPersonStatus.MOVED_OUT.value: VisitPersonStatus.PRESENT.value,
}


@dataclass(frozen=True)
class Reach:
    """Where a screener acts (bot.services.scope, capability "screening"): the community,
    their grids (grid workers), and the buildings of the compounds they hold a compound
    grant for (an officer of a compound, a property manager / lead-unit contact).
    `grids` and `buildings` None: no such restriction."""

    community: Community
    grids: frozenset[int] | None
    buildings: frozenset[int] | None
    compounds: frozenset[int]

    def building_ok(self, building_id: int) -> bool:
        return self.buildings is None or building_id in self.buildings


async def _screener(session: AsyncSession, identity: Identity) -> Reach:
    acting = await scope.resolve(session, identity, "screening")
    if acting.whole_community:
        return Reach(acting.community, None, None, frozenset())
    if not acting.compound_ids:
        return Reach(acting.community, acting.grid_ids, None, frozenset())
    buildings = set(
        await session.scalars(
            select(Building.id).where(
                or_(
                    Building.compound_id.in_(acting.compound_ids),
                    Building.grid_id.in_(acting.grid_ids),
                )
            )
        )
    )
    return Reach(acting.community, None, frozenset(buildings), acting.compound_ids)


async def _in_reach(session: AsyncSession, reach: Reach, household_id: int) -> bool:
    try:
        await _household_in_reach(session, reach, household_id)
    except DomainError:
        return False
    return True


async def _household_in_reach(session: AsyncSession, reach: Reach, household_id: int) -> Household:
    household = await coverage.household_in_scope(
        session, household_id, reach.community.id, reach.grids
    )
    unit = await session.get(Unit, household.unit_id)
    if unit is None or not reach.building_ok(unit.building_id):
        raise NotAllowed()
    return household


def render_coverage(t: Translator, cov: coverage.Coverage, title: str) -> str:
    def rows(tallies: dict[str, coverage.Tally]) -> list[dict[str, object]]:
        return [
            {"name": k or "—", "screened": v.screened, "vacant": v.vacant, "missing": v.missing,
             "total": v.total, "percent": v.percent, "people": v.people,
             "people_screened": v.people_screened}
            for k, v in tallies.items()
        ]  # fmt: skip

    missing = cov.missing
    return t(
        "coverage.summary",
        title=title,
        total=rows({"": cov.total})[0],
        compounds=rows(cov.compounds),
        grids=rows(cov.grids),
        buildings=rows(cov.buildings),
        missing=[h.address for h in missing[:MISSING_SHOWN]],
        more=max(0, len(missing) - MISSING_SHOWN),
    )


@router.message(Command("coverage"), StateFilter("*"))
async def coverage_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    reach = await _screener(session, identity)
    community = reach.community
    place = await coverage.resolve_scope(session, community.id, command.args or "")
    if reach.grids is not None:
        place = coverage.within_grids(place, reach.grids)
    if reach.buildings is not None:
        place = await _within_compounds(session, reach, place)
    cov = await coverage.coverage(session, clock, community, place)
    title = (command.args or "").strip()
    if not title and place.compound_id is not None:
        compound = await session.get(Compound, place.compound_id)
        title = compound.name if compound else ""
    title = title or community.name
    await message.answer(render_coverage(t, cov, title))
    # People who need care (R-CARE) that this staff member may see: those under a seal first.
    people = await care.care_list(session, identity)
    if people:
        sealed = [p for p in people if p.level in sealing.CONTROLLED]
        kinds = Counter(f.kind for p in people for f in p.flags)
        await message.answer(
            t(
                "care.coverage",
                total=len(people),
                kinds=[{"kind": k, "count": kinds[k]} for k in care.KINDS if kinds[k]],
                sealed=[care.person_view(p) for p in sealed[:CARE_SHOWN]],
                more=max(0, len(sealed) - CARE_SHOWN),
            )
        )


async def _within_compounds(
    session: AsyncSession, reach: Reach, place: coverage.Scope
) -> coverage.Scope:
    """A compound's staff see their compound (the first, unless they name another of
    theirs, or one of its buildings); anything else is NotAllowed."""
    if place.building_id is not None:
        if not reach.building_ok(place.building_id):
            raise NotAllowed()
        return place
    if place.grid_ids is not None:
        raise NotAllowed()
    if place.compound_id is None:
        return coverage.Scope(compound_id=min(reach.compounds))
    if place.compound_id not in reach.compounds:
        raise NotAllowed()
    return place


async def _picker(
    session: AsyncSession, identity: Identity, t: Translator, level: str, parent: int, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    if level not in ("b", "u", "r"):
        raise NotAllowed("common.button_expired")  # forged: no picker has that level
    reach = await _screener(session, identity)
    community, grids = reach.community, reach.grids
    if level == "b":
        items = [
            item
            for item in await coverage.buildings_in_scope(session, community.id, grids)
            if reach.building_ok(item[0])
        ]
    elif level == "u":
        if not reach.building_ok(parent):
            raise NotAllowed()
        items = await coverage.units_in_scope(session, parent, community.id, grids)
    else:
        unit = await session.get(Unit, parent)
        if unit is None or not reach.building_ok(unit.building_id):
            raise NotAllowed()
        items = await coverage.rooms_in_scope(session, parent, community.id, grids)
    markup = paged_choices(
        items,
        label=lambda item: item[1],
        data=lambda item: ScreenPick(level=level, id=item[0]),
        page=page,
        page_data=lambda p: ScreenPage(level=level, parent=parent, page=p),
        t=t,
        columns=2 if level == "b" else 4,
    )
    return t(f"coverage.pick_{level}"), markup


@router.message(Command("screen"), StateFilter("*"))
async def screen_command(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    await state.clear()
    text, markup = await _picker(session, identity, t, "b", 0, 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(ScreenPage.filter())
async def screen_page(
    query: CallbackQuery,
    callback_data: ScreenPage,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    text, markup = await _picker(
        session, identity, t, callback_data.level, callback_data.parent, callback_data.page
    )
    await edit_or_send(query, text, markup)


def _outcome_markup(t: Translator, household_id: int) -> InlineKeyboardMarkup:
    rows = (
        (ScreeningOutcome.DONE, ScreeningOutcome.VACANT),
        (ScreeningOutcome.REFUSED, ScreeningOutcome.NO_ANSWER),
    )
    return buttons(
        [
            [
                (
                    t(f"coverage.outcome_{o.value}"),
                    ScreenOutcomeCb(household_id=household_id, outcome=o.value),
                )
                for o in row
            ]
            for row in rows
        ]
    )


@router.callback_query(ScreenPick.filter())
async def screen_pick(
    query: CallbackQuery,
    callback_data: ScreenPick,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    level, picked = callback_data.level, callback_data.id
    if level in ("b", "u"):
        text, markup = await _picker(session, identity, t, "u" if level == "b" else "r", picked, 0)
    elif level == "r":
        reach = await _screener(session, identity)
        household = await _household_in_reach(session, reach, picked)
        text = t("coverage.pick_outcome", room=household.room)
        markup = _outcome_markup(t, picked)
    else:
        raise NotAllowed("common.button_expired")
    await edit_or_send(query, text, markup)


@router.callback_query(ScreenOutcomeCb.filter())
async def screen_outcome(
    query: CallbackQuery,
    callback_data: ScreenOutcomeCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    try:
        outcome = ScreeningOutcome(callback_data.outcome)
    except ValueError:
        raise DomainError("common.button_expired") from None
    reach = await _screener(session, identity)
    household = await _household_in_reach(session, reach, callback_data.household_id)
    if outcome == ScreeningOutcome.DONE:
        # Who is there: the register's members, each present until the screener says not.
        people = await coverage.people_at_door(session, household.id)
        await state.set_state(Screening.people)
        await state.set_data(
            {"household_id": household.id, "people": [p.as_dict() for p in people]}
        )
        await query.answer()
        text, markup = _people_editor(t, household.room, people)
        await edit_or_send(query, text, markup)
        return
    visit = await coverage.record_visit(
        session, clock, household=household, outcome=outcome, by=identity.person
    )
    case = await coverage.escalate(
        session, clock, catalog, community=reach.community, visit=visit, by=identity.person
    )
    await state.set_state(Screening.note)
    await state.update_data(visit_id=visit.id)
    await query.answer()
    text = t("coverage.saved", room=household.room, outcome=t(f"coverage.outcome_{outcome.value}"))
    if case is not None:
        text += "\n" + t("coverage.case_opened", id=case.id)
    await edit_or_send(query, text)


def _people_editor(
    t: Translator, room: str, people: list[coverage.SeenPerson]
) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        {"name": p.name, "status": t(f"coverage.person_{p.status}"),
         "temp": str(p.temperature) if p.temperature is not None else "", "fever": p.fever}
        for p in people
    ]  # fmt: skip
    text = t("coverage.people_editor", room=room, people=rows)
    keyboard = [
        [
            (f"{p.name} · {t(f'coverage.person_{p.status}')}",
             ScreenPersonCb(action="cyc", index=i)),
            (("🌡✔" if p.fever else "🌡") + " " + t("coverage.fever_mark"),
             ScreenPersonCb(action="fev", index=i)),
        ]
        for i, p in enumerate(people)
    ]  # fmt: skip
    keyboard.append([(t("coverage.button_save"), ScreenPersonCb(action="save"))])
    return text, buttons(keyboard)


async def _editing(
    state: FSMContext, session: AsyncSession, identity: Identity
) -> tuple[Community, Household, list[coverage.SeenPerson]]:
    """The visit being edited; the household is checked against the screener's scope."""
    if await state.get_state() != Screening.people.state:
        raise NotAllowed("common.button_expired")
    data = await state.get_data()
    reach = await _screener(session, identity)
    household = await _household_in_reach(session, reach, int(data.get("household_id", 0)))
    people = [coverage.SeenPerson.from_dict(p) for p in data.get("people", [])]
    return reach.community, household, people


@router.callback_query(ScreenPersonCb.filter())
async def screen_person(
    query: CallbackQuery,
    callback_data: ScreenPersonCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    community, household, people = await _editing(state, session, identity)
    if callback_data.action in ("cyc", "fev"):
        if not 0 <= callback_data.index < len(people):
            raise NotAllowed("common.button_expired")
        person = people[callback_data.index]
        if callback_data.action == "fev":
            person.fever = not person.fever
        elif person.status in _CYCLE:
            person.status = _CYCLE[person.status]
        await state.update_data(people=[p.as_dict() for p in people])
        text, markup = _people_editor(t, household.room, people)
        await query.answer()
        await edit_or_send(query, text, markup)
        return
    if callback_data.action != "save":
        raise NotAllowed("common.button_expired")
    visit = await coverage.record_visit(
        session, clock, household=household, outcome=ScreeningOutcome.DONE,
        by=identity.person, people=people,
    )  # fmt: skip
    case = await coverage.escalate(
        session, clock, catalog, community=community, visit=visit, by=identity.person
    )
    await state.set_state(Screening.note)
    await state.set_data({"visit_id": visit.id})
    await query.answer()
    await drop_buttons(query)
    text = t("coverage.saved", room=household.room, outcome=t("coverage.outcome_done"))
    if case is not None:
        text += "\n" + t("coverage.case_opened", id=case.id)
    if query.message is not None and isinstance(query.message, Message):
        await query.message.answer(text)


#: What a person's name never holds and a sentence does: clause punctuation, or a digit.
_NOTE_LIKE = re.compile(r"[，。,;；!！?？:：\d]")


@router.message(Screening.people, F.text)
async def screen_people_text(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    """Lines of "name 37.5" (a temperature), "37.5" (when one person is listed), or a new
    name (a new occupant, pending until staff confirm it)."""
    if (message.text or "").startswith("/"):
        return
    community, household, people = await _editing(state, session, identity)
    for line in (message.text or "").splitlines()[:MAX_SEEN]:
        words = line.split()
        if not words:
            continue
        temperature = None
        try:
            temperature = parse_temperature(words[-1])
            words = words[:-1]
        except ParseError as exc:
            if exc.code == "temperature.out_of_range":
                raise
        name = " ".join(words)
        if not name:
            if len(people) != 1:
                raise DomainError("coverage.which_person")
            target = people[0]
        else:
            name = clean_name(name)
            found = [p for p in people if p.name == name]
            if found:
                target = found[0]
            elif _NOTE_LIKE.search(name):
                # "家中两人，体温正常": the visit's note typed before saving, not a person.
                raise DomainError("coverage.looks_like_note", text=line.strip()[:40])
            elif len(people) >= MAX_SEEN:
                raise DomainError("coverage.too_many_people", max=MAX_SEEN)
            else:
                target = coverage.SeenPerson(None, name, VisitPersonStatus.NEW.value)
                people.append(target)
        if temperature is not None:
            target.temperature = temperature
            target.fever = temperature >= community.fever_threshold
    await state.update_data(people=[p.as_dict() for p in people])
    text, markup = _people_editor(t, household.room, people)
    await message.answer(text, reply_markup=markup)


@router.message(Command("screen_pending"), StateFilter("*"), flags=LEAVES_FORM)
async def screen_pending(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity,
    t: Translator,
) -> None:  # fmt: skip
    await state.clear()
    reach = await _screener(session, identity)
    changes = await coverage.pending_changes(session, reach.community.id, reach.grids)
    if reach.buildings is not None:
        changes = [c for c in changes if await _in_reach(session, reach, c.household_id)]
    if not changes:
        await message.answer(t("coverage.no_pending"))
        return
    for change in changes[:MISSING_SHOWN]:
        await message.answer(
            t("coverage.pending_change", name=change.name, address=change.address,
              status=t(f"coverage.person_{change.status}")),
            reply_markup=buttons([[
                (t("coverage.button_confirm"), ScreenChangeCb(change_id=change.id, ok=True)),
                (t("coverage.button_dismiss"), ScreenChangeCb(change_id=change.id, ok=False)),
            ]]),
        )  # fmt: skip


@router.callback_query(ScreenChangeCb.filter())
async def screen_change(
    query: CallbackQuery, callback_data: ScreenChangeCb, session: AsyncSession, clock: Clock,
    identity: Identity, t: Translator,
) -> None:  # fmt: skip
    reach = await _screener(session, identity)
    grids = reach.grids
    if reach.buildings is not None:
        # A compound's staff settle changes in their compound; removing a member from
        # the register stays an officer's act (R-HH), checked by settle_change.
        change = await coverage.change_household(session, callback_data.change_id)
        if change is None or not await _in_reach(session, reach, change):
            raise NotAllowed()
        if callback_data.ok and not identity.allows(OFFICER_ROLES, community_id=reach.community.id):
            row = await session.get(ScreeningVisitPerson, callback_data.change_id)
            if row is not None and row.status == VisitPersonStatus.MOVED_OUT:
                raise NotAllowed()
    row = await coverage.settle_change(
        session, clock, change_id=callback_data.change_id, accept=callback_data.ok,
        community_id=reach.community.id, grid_ids=grids, by=identity.person,
    )  # fmt: skip
    await query.answer()
    key = "coverage.change_confirmed" if callback_data.ok else "coverage.change_dismissed"
    await edit_or_send(query, t(key, name=row.name))


@router.message(Screening.note, F.text, flags=ENDS_ON_REFUSAL)
async def screen_note(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    if (message.text or "").startswith("/"):
        return
    note = clean_text(message.text or "", 500, multiline=True)
    data = await state.get_data()
    await coverage.add_note(
        session, clock, visit_id=int(data.get("visit_id", 0)), note=note, by=identity.person
    )
    await state.clear()
    await message.answer(t("coverage.note_saved"))
