"""Cases in the officers' chat (R-ESC): binding the chat, the card buttons
(acknowledge / take / resolve with a note), and for officers and grid workers /cases
(a page of buttons, one per case) and /case N (one case's card)."""

from __future__ import annotations

import contextlib
import html

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
from bot.db.models import Case, CaseKind, Community, Compound, Grid
from bot.parsing import clean_text, id_or_none
from bot.presentation.callbacks import CaseCb, CaseListCb, CaseOpenCb
from bot.presentation.cards import Markup, case_list_markup
from bot.services import audit, case_list, cases, scope
from bot.services.errors import DomainError, NotAllowed, NotFound
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
        t(
            "cases.ask_note",
            id=case.id,
            name=query.from_user.full_name,
            resident_reads=cases.reporter_reads_note(case),
        ),
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
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """/cases [compound] [grid] [kind]: open cases, a page of buttons at a time. One rule
    (bot.services.scope): officers of the community see all its cases, an officer granted
    for a compound that compound's, a grid worker their grid's. In the community's
    officers' chat (the only group where it answers) the list is in the community's
    language and its buttons open the anonymised card there (R-WHERE)."""
    group = _is_group(message.chat.type)
    acting = await _acting(session, identity, message.chat.id, group=group)
    flt = await _typed_filter(session, acting.community.id, command.args or "", t)
    reader = catalog.translator(acting.community.locale) if group else t
    text, markup = await _list_page(session, clock, identity, acting, flt, 0, reader)
    await message.answer(text, reply_markup=markup)


@router.callback_query(CaseListCb.filter())
async def list_cases_page(
    query: CallbackQuery,
    callback_data: CaseListCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """◀ ▶ under the list: the scope is read from the database again on every press."""
    group = query.message is not None and _is_group(query.message.chat.type)
    acting = await _acting(session, identity, query_chat_id(query), group=group)
    flt = case_list.CaseFilter.from_codes(callback_data.kind, callback_data.place)
    reader = catalog.translator(acting.community.locale) if group else t
    page = callback_data.page
    text, markup = await _list_page(session, clock, identity, acting, flt, page, reader)
    await edit_or_send(query, text, markup)


@router.callback_query(CaseOpenCb.filter())
async def case_opened_from_list(
    query: CallbackQuery,
    callback_data: CaseOpenCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """A case of the list, below the list: in a private chat its whole card with its
    buttons; in the officers' chat of its community the anonymised card, with "details"
    (R-WHERE). Any other group is refused."""
    case = await case_list.case_for_reader(session, identity, callback_data.case_id)
    chat_id = query_chat_id(query)
    if query.message is not None and _is_group(query.message.chat.type):
        community = await session.get(Community, case.community_id)
        if community is None or community.officer_chat_id != chat_id:
            raise NotAllowed("privacy.use_private")
        text, markup = await cases.render_card(session, clock, catalog, case)
    else:
        text, markup = await _read_card(session, clock, catalog, identity, case, t)
    await query_bot(query).send_message(chat_id, text, reply_markup=markup)


@router.message(Command("case"), StateFilter("*"))
async def show_case(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """/case N: the whole card of case N with its buttons, for staff whose scope holds
    it; any other number, or a case out of scope, is "not found" alike. In a community's
    officers' chat (handlers/where.py lets it through there and in no other group) the
    anonymised card, in the community's language, and only for that community's cases."""
    group = _is_group(message.chat.type)
    chat_community = (
        await scope.officers_chat_community(session, message.chat.id) if group else None
    )
    if group and chat_community is None:
        raise NotAllowed("privacy.use_private")
    if chat_community is None:
        await scope.resolve(session, identity, "cases", chat_id=message.chat.id)
    elif chat_community not in await scope.communities_for(
        session, identity, scope.roles_for("cases")
    ):
        raise NotAllowed()
    typed = (command.args or "").strip().removeprefix("#").strip()
    if not typed:
        raise DomainError("cases.case_usage")
    case_id = id_or_none(typed)
    if case_id is None:
        raise DomainError("cases.case_not_a_number", value=typed[:40])
    case = await case_list.case_for_reader(session, identity, case_id)
    if chat_community is not None:
        if case.community_id != chat_community.id:
            raise NotFound("cases.not_found", id=case_id)
        text, markup = await cases.render_card(session, clock, catalog, case)
    else:
        text, markup = await _read_card(session, clock, catalog, identity, case, t)
    await message.answer(text, reply_markup=markup)


def _is_group(chat_type: str) -> bool:
    return chat_type in ("group", "supergroup")


async def _acting(
    session: AsyncSession, identity: Identity, chat_id: int, *, group: bool
) -> scope.ActingScope:
    """The reader's scope for /cases; in a group, only the acting community's officers'
    chat lists cases (handlers/where.py lets /cases through there and nowhere else)."""
    acting = await scope.resolve(session, identity, "cases", chat_id=chat_id)
    if group and acting.community.officer_chat_id != chat_id:
        raise NotAllowed("privacy.use_private")
    return acting


async def _read_card(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    case: Case,
    t: Translator,
) -> tuple[str, Markup | None]:
    """The whole card in the reader's language (a private chat); the read is audited."""
    await audit.record(
        session, at=clock.now(), actor=identity.person, actor_telegram_id=identity.telegram_user_id,
        action="case.read", entity="case", entity_id=case.id, community_id=case.community_id,
    )  # fmt: skip
    return await cases.render_card(session, clock, catalog, case, full=True, locale=t.locale)


async def _typed_filter(
    session: AsyncSession, community_id: int, args: str, t: Translator
) -> case_list.CaseFilter:
    """The filters typed after /cases: compound and grid names of the community, and case
    kinds by their code or their label in the reader's language."""
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
    for word in args.split():
        if word in compounds:
            compound_id = compounds[word]
        elif word in grids:
            grid_id = grids[word]
        elif word in kinds:
            kind = kinds[word]
        else:
            raise DomainError("cases.filter_unknown", word=word[:40])
    return case_list.CaseFilter(compound_id, grid_id, kind)


async def _list_page(
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    acting: scope.ActingScope,
    flt: case_list.CaseFilter,
    page: int,
    t: Translator,
) -> tuple[str, Markup | None]:
    """The text and buttons of one page of /cases; the read is audited (R-AUD)."""
    found = await case_list.open_cases_page(session, acting, flt, page)
    rows, entries = [], []
    for case in found.cases:
        ctx = await cases.card_context(session, clock, case)
        ctx |= {"kind_label": t(f"cases.kind_{case.kind}"),
                "status_label": t(f"cases.status_{case.status}")}  # fmt: skip
        rows.append(ctx)
        entries.append((case.id, html.unescape(t("cases.list_button", case=ctx))))
    await audit.record_read(
        session, at=clock.now(), actor=identity.person, what="cases", entity="community",
        entity_id=acting.community.id,
        details={"case_ids": [c.id for c in found.cases], "page": found.page + 1},
    )  # fmt: skip
    text = t("cases.list", cases=rows, total=found.total, page=found.page + 1, pages=found.pages)
    markup = case_list_markup(
        t, entries, page=found.page, pages=found.pages, kind=flt.kind or "", place=flt.place_code
    )
    return text, markup
