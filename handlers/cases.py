"""Cases in the officers' chat (R-ESC): binding the chat, the card buttons
(acknowledge / take / resolve with a note), and /cases for officers."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.core.forms import ENDS_ON_REFUSAL
from bot.db.models import Case, CaseKind, Compound, Grid
from bot.parsing import clean_text
from bot.presentation.callbacks import CaseCb
from bot.presentation.cards import Markup
from bot.services import audit, cases, scope
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.replies import edit_or_send, query_bot, query_chat_id
from messages import Catalog, Translator

router = Router(name="cases")


class CaseNote(StatesGroup):
    note = State()


@router.message(Command("officers_here", "bind_officers"), StateFilter("*"))
async def bind_officer_chat(
    message: Message,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """In a group: make it the community's officer chat (officer/admin only)."""
    if message.chat.type not in ("group", "supergroup"):
        await message.answer(t("cases.bind_in_group"))
        return
    community, queued = await cases.bind_officer_chat(
        session, clock, catalog, identity=identity, chat_id=message.chat.id
    )
    await message.answer(t("cases.officer_chat_bound", community=community.name, queued=queued))


#: What pressing a card button again says: the case is shown as it is, nothing is saved.
ALREADY = frozenset({"cases.already_acknowledged", "cases.already_taken", "cases.already_resolved"})


async def _card_for(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    case: Case,
    query: CallbackQuery,
    t: Translator,
) -> tuple[str, Markup | None]:
    """The card as it is shown where the button was pressed: anonymised in a group
    (the officers' chat), whole in a private chat (R-WHERE)."""
    private = query.message is not None and query.message.chat.type == "private"
    return await cases.render_card(
        session, clock, catalog, case, full=private, locale=t.locale if private else None
    )


def _is_group_card(case: Case, message: object) -> bool:
    """Whether the button pressed was on the card in the officers' chat itself (edited
    in place), rather than on a private copy."""
    return (
        isinstance(message, Message)
        and message.chat.id == case.card_chat_id
        and message.message_id == case.card_message_id
    )


@router.callback_query(CaseCb.filter(F.action.in_({"ack", "take"})))
async def case_ack_or_take(
    query: CallbackQuery,
    callback_data: CaseCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """Anyone in the chat can press: the presser's role is checked in the database.
    Idempotent: pressed again (say, after a reply that never arrived) it saves nothing
    and shows the card as the database has it."""
    try:
        case = await cases.act(
            session, clock, catalog, identity=identity, case_id=callback_data.case_id,
            action=callback_data.action,
        )  # fmt: skip
        toast = t(f"cases.done_{callback_data.action}", id=case.id)
    except DomainError as exc:
        if exc.key not in ALREADY:
            raise
        case = await cases.get_case_for(session, identity, callback_data.case_id)
        toast = t(exc.key, **exc.params)
    if not _is_group_card(case, query.message):
        await cases.queue_card_refresh(session, clock, catalog, case)
    await query.answer(toast)
    await edit_or_send(query, *await _card_for(session, clock, catalog, case, query, t))


@router.callback_query(CaseCb.filter(F.action == "resolve"))
async def case_resolve_pressed(
    query: CallbackQuery,
    callback_data: CaseCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """Resolving asks for a note in the chat; a resolved case is shown as it is."""
    case = await cases.get_case_for(session, identity, callback_data.case_id)
    if case.status == "resolved":
        await query.answer(t("cases.already_resolved", id=case.id))
        await edit_or_send(query, *await _card_for(session, clock, catalog, case, query, t))
        return
    await state.set_state(CaseNote.note)
    await state.update_data(
        case_id=case.id,
        card_chat=query.message.chat.id if query.message else None,
        card_message=query.message.message_id if query.message else None,
    )
    await query_bot(query).send_message(
        query_chat_id(query),
        t("cases.ask_note", id=case.id, name=query.from_user.full_name),
    )


@router.callback_query(CaseCb.filter())
async def case_unknown_action(query: CallbackQuery) -> None:
    raise DomainError("cases.unknown_action")


@router.message(CaseNote.note, Command("cancel"))
async def case_note_cancelled(message: Message, state: FSMContext, t: Translator) -> None:
    await state.clear()
    await message.answer(t("common.cancelled"))


@router.message(CaseNote.note, F.text, ~F.text.startswith("/"), flags=ENDS_ON_REFUSAL)
async def case_note(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    note = clean_text(message.text or "", cases.NOTE_MAX, multiline=True)
    case = await cases.act(
        session, clock, catalog, identity=identity, case_id=int(data.get("case_id", 0)),
        action="resolve", note=note,
    )  # fmt: skip
    await state.clear()
    chat, msg = data.get("card_chat"), data.get("card_message")
    if (chat, msg) != (case.card_chat_id, case.card_message_id):
        await cases.queue_card_refresh(session, clock, catalog, case)
    # the card is anonymised in a group, whole in a private chat (R-WHERE)
    private = message.chat.type == "private"
    text, markup = await cases.render_card(
        session, clock, catalog, case, full=private, locale=t.locale if private else None
    )
    if chat is not None and msg is not None and message.bot is not None:
        with contextlib.suppress(TelegramBadRequest):
            await message.bot.edit_message_text(
                text=text, chat_id=int(chat), message_id=int(msg), reply_markup=markup
            )
    await message.answer(t("cases.done_resolve", id=case.id))


@router.message(Command("cases"), StateFilter("*"))
async def list_cases(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    """/cases [compound] [grid] [kind]: open cases. One rule (bot.services.scope):
    officers of the community see all its cases, an officer granted for a compound that
    compound's, a grid worker their grid's."""
    acting = await scope.resolve(session, identity, "cases", chat_id=message.chat.id)
    community_id = acting.community.id
    compounds = {
        c.name: c.id
        for c in await session.scalars(
            select(Compound).where(Compound.community_id == community_id)
        )
    }
    grids = {
        g.name: g.id
        for g in await session.scalars(select(Grid).where(Grid.community_id == community_id))
    }
    kinds = {k.value: k.value for k in CaseKind} | {
        t(f"cases.kind_{k.value}"): k.value for k in CaseKind
    }
    compound_id = grid_id = None
    kind = None
    for word in (command.args or "").split():
        if word in compounds:
            compound_id = compounds[word]
        elif word in grids:
            grid_id = grids[word]
        elif word in kinds:
            kind = kinds[word]
        else:
            await message.answer(t("cases.filter_unknown", word=word[:40]))
            return
    found = [
        c
        for c in await cases.list_open_cases(
            session, community_id, compound_id=compound_id, grid_id=grid_id, kind=kind
        )
        if acting.reaches(compound_id=c.compound_id, grid_id=c.grid_id)
    ]
    rows = []
    for case in found[:30]:
        ctx = await cases.card_context(session, clock, case)
        rows.append({**ctx, "kind_label": t(f"cases.kind_{case.kind}"),
                     "status_label": t(f"cases.status_{case.status}")})  # fmt: skip
    # A read of personal data by staff is audited (R-AUD, issue 11).
    await audit.record_read(
        session, at=clock.now(), actor=identity.person, what="cases", entity="community",
        entity_id=community_id, details={"case_ids": [c.id for c in found[:30]]},
    )  # fmt: skip
    await message.answer(t("cases.list", cases=rows, total=len(found)))
