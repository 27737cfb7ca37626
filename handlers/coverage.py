"""/coverage (figures and missing households) and /screen (a door visit) (R-COV)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Community, Role, ScreeningOutcome
from bot.parsing import clean_text
from bot.presentation.callbacks import ScreenOutcomeCb, ScreenPage, ScreenPick
from bot.presentation.keyboards import buttons, paged_choices
from bot.services import coverage, staffscope
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from handlers.replies import edit_or_send
from messages import Translator

router = Router(name="coverage")
router.message.filter(F.chat.type == "private")

SCREENER_ROLES = OFFICER_ROLES | {Role.GRID_WORKER}
MISSING_SHOWN = 60


class Screening(StatesGroup):
    note = State()


async def _screener(
    session: AsyncSession, identity: Identity
) -> tuple[Community, frozenset[int] | None]:
    """The community and, for grid workers, their grids (None: the whole community)."""
    community = await staffscope.acting_community(session, identity, SCREENER_ROLES)
    if identity.allows(OFFICER_ROLES, community_id=community.id):
        return community, None
    grids = frozenset(staffscope.grid_ids(identity, {Role.GRID_WORKER}))
    if not grids:
        raise NotAllowed()
    return community, grids


def render_coverage(t: Translator, cov: coverage.Coverage, title: str) -> str:
    def rows(tallies: dict[str, coverage.Tally]) -> list[dict[str, object]]:
        return [
            {"name": k or "—", "screened": v.screened, "vacant": v.vacant, "missing": v.missing,
             "total": v.total, "percent": v.percent}
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
    community, grids = await _screener(session, identity)
    scope = await coverage.resolve_scope(session, community.id, command.args or "")
    if grids is not None:
        scope = coverage.within_grids(scope, grids)
    cov = await coverage.coverage(session, clock, community, scope)
    title = (command.args or "").strip() or community.name
    await message.answer(render_coverage(t, cov, title))


async def _picker(
    session: AsyncSession, identity: Identity, t: Translator, level: str, parent: int, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    community, grids = await _screener(session, identity)
    if level == "b":
        items = await coverage.buildings_in_scope(session, community.id, grids)
    elif level == "u":
        items = await coverage.units_in_scope(session, parent, community.id, grids)
    else:
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
        community, grids = await _screener(session, identity)
        household = await coverage.household_in_scope(session, picked, community.id, grids)
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
    identity: Identity,
    t: Translator,
) -> None:
    try:
        outcome = ScreeningOutcome(callback_data.outcome)
        community, grids = await _screener(session, identity)
        household = await coverage.household_in_scope(
            session, callback_data.household_id, community.id, grids
        )
    except ValueError:
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    except DomainError as exc:
        await query.answer(t(exc.key, **exc.params), show_alert=True)
        return
    visit = await coverage.record_visit(
        session, clock, household=household, outcome=outcome, by=identity.person
    )
    await state.set_state(Screening.note)
    await state.update_data(visit_id=visit.id)
    await edit_or_send(
        query,
        t("coverage.saved", room=household.room, outcome=t(f"coverage.outcome_{outcome.value}")),
    )


@router.message(Screening.note, F.text)
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
    try:
        await coverage.add_note(
            session, clock, visit_id=int(data.get("visit_id", 0)), note=note, by=identity.person
        )
    except DomainError as exc:
        await state.clear()
        await message.answer(t(exc.key, **exc.params))
        return
    await state.clear()
    await message.answer(t("coverage.note_saved"))
