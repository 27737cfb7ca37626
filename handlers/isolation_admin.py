"""Officer commands of isolation monitoring (R-ISO, R-END, R-ADM): /settings, /set,
/isolations, /checkins, /isolation with extend / end early / hospital buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.core.forms import ENDS_ON_REFUSAL
from bot.db.models import Community, Compound, Isolation, IsolationStatus, Person
from bot.parsing import clean_text
from bot.presentation.callbacks import IsolationCb
from bot.presentation.keyboards import buttons
from bot.services import audit, checkins, community_settings, directory, monitoring, scope
from bot.services.directory import household_path
from bot.services.errors import NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from handlers.replies import edit_or_send
from messages import Catalog, Translator

router = Router(name="isolation_admin")
router.message.filter(F.chat.type == "private")

EXTEND_CHOICES = (3, 7)
REASON_MAX = 300


class IsolationReason(StatesGroup):
    reason = State()


async def _officer_community(session: AsyncSession, identity: Identity) -> Community | None:
    """The community this officer (admin/officer, from the database) acts for."""
    community_id = identity.acting_community_id(OFFICER_ROLES)
    return await session.get(Community, community_id) if community_id is not None else None


async def _acting(
    session: AsyncSession, identity: Identity, chat_id: int
) -> tuple[Community, set[str] | None]:
    """The one scope rule (bot.services.scope) for isolations: the community, and the
    names of the compounds an officer granted for compounds reaches (None: all).
    Raises DomainError (not allowed, or choose a community first)."""
    acting = await scope.resolve(session, identity, "isolations", chat_id=chat_id)
    if acting.whole_community:
        return acting.community, None
    names = set(
        await session.scalars(select(Compound.name).where(Compound.id.in_(acting.compound_ids)))
    )
    return acting.community, names


async def _known_compound(
    session: AsyncSession,
    community: Community,
    compounds: set[str] | None,
    name: str,
    t: Translator,
) -> str | None:
    """None when `name` (the command's argument) is empty or a compound of the community
    this officer reaches; else the polite answer naming the compounds they may ask for."""
    if not name:
        return None
    known = [c.name for c in await directory.list_compounds(session, community.id)]
    if compounds is not None:
        known = [c for c in known if c in compounds]
    if name in known:
        return None
    return t("isolation.compound_unknown", name=name, names=known)


async def _may_act_on(session: AsyncSession, identity: Identity, isolation: Isolation) -> bool:
    """Officers of the community, or of the compound the isolated person lives in."""
    if identity.person is None:
        return False
    person = await session.get(Person, isolation.person_id)
    compound_id = None
    if person is not None and person.household_id is not None:
        path = await household_path(session, person.household_id)
        compound_id = path.compound.id if path else None
    return scope.covers(
        identity, "isolations", community_id=isolation.community_id, compound_id=compound_id
    )


@router.message(Command("settings"), StateFilter("*"))
async def show_settings(
    message: Message, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    community = await _officer_community(session, identity)
    if community is None:
        await message.answer(t("common.not_allowed"))
        return
    await message.answer(
        t("settings.show", community=community.name, s=community_settings.view(community))
    )


@router.message(Command("set"), StateFilter("*"))
async def set_setting(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    community = await _officer_community(session, identity)
    if community is None:
        await message.answer(t("common.not_allowed"))
        return
    name, _, value = (command.args or "").strip().partition(" ")
    names = ", ".join(community_settings.SETTING_NAMES)
    if not name or not value.strip():
        await message.answer(t("settings.usage", names=names))
        return
    view = await community_settings.change_setting(
        session, clock, community=community, name=name, value=value, actor=identity.person
    )
    shown = getattr(view, name)
    value = ", ".join(shown) if isinstance(shown, list) else shown
    await message.answer(t("settings.changed", name=name, value=value))


@router.message(Command("isolations"), StateFilter("*"))
async def list_isolations(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    community, compounds = await _acting(session, identity, message.chat.id)
    unknown = await _known_compound(session, community, compounds, (command.args or "").strip(), t)
    if unknown is not None:
        await message.answer(unknown)
        return
    lines = [
        line
        for line in await checkins.isolations_of(
            session, clock, community, (command.args or "").strip()
        )
        if compounds is None or line.compound in compounds
    ]
    if not lines:
        await message.answer(t("isolation.list_empty"))
        return
    # A read of personal data (names, addresses, health) by staff is audited (issue 11).
    await audit.record_read(
        session, at=clock.now(), actor=identity.person, what="isolations",
        entity="community", entity_id=community.id,
        details={"isolation_ids": [line.isolation.id for line in lines[:100]]},
    )  # fmt: skip
    body = [t("isolation.list_title", count=len(lines))]
    for line in lines[:100]:
        body.append(
            t(
                "isolation.list_line",
                name=line.person.name,
                person_id=line.person.id,
                address=line.address,
                start=line.isolation.start_date.isoformat(),
                end=line.isolation.end_date.isoformat(),
                checkin=t(f"isolation.checkin_{line.today_status or 'none'}"),
            )
        )
    await _answer_long(message, body)


@router.message(Command("checkins"), StateFilter("*"))
async def checkin_overview(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    community, compounds = await _acting(session, identity, message.chat.id)
    unknown = await _known_compound(session, community, compounds, (command.args or "").strip(), t)
    if unknown is not None:
        await message.answer(unknown)
        return
    statuses = [
        status
        for status in await checkins.checkin_status(
            session, clock, community, (command.args or "").strip()
        )
        if compounds is None or status.compound in compounds
    ]
    if not statuses:
        await message.answer(t("isolation.list_empty"))
        return
    body = [t("isolation.status_title", day=local_today(clock, community.timezone).isoformat())]
    for status in statuses:
        line = t("isolation.status_line", c=status)
        if status.pending_names:
            line += "\n" + t("isolation.status_pending", names=status.pending_names)
        body.append(line)
    await _answer_long(message, body)


async def _answer_long(message: Message, parts: list[str]) -> None:
    """Send lines in as few messages as Telegram's 4096-character limit allows."""
    chunk = ""
    for part in parts:
        if chunk and len(chunk) + len(part) + 1 > 4000:
            await message.answer(chunk)
            chunk = ""
        chunk = f"{chunk}\n{part}" if chunk else part
    if chunk:
        await message.answer(chunk)


def _card(
    t: Translator,
    clock: Clock,
    community: Community,
    isolation: Isolation,
    person: Person,
    address: str,
) -> tuple[str, InlineKeyboardMarkup | None]:
    today = local_today(clock, community.timezone)
    text = t(
        "isolation.card",
        i={
            "id": isolation.id,
            "person_id": person.id,
            "name": person.name,
            "address": address,
            "start": isolation.start_date.isoformat(),
            "end": isolation.end_date.isoformat(),
            "day_number": (today - isolation.start_date).days + 1,
            "status": t(f"isolation.status_{isolation.status}"),
            "reason": isolation.end_reason or "",
        },
    )
    if isolation.status != IsolationStatus.ACTIVE:
        return text, None
    rows = [
        [
            (
                t("isolation.button_extend", days=d),
                IsolationCb(action="extend", isolation_id=isolation.id, days=d),
            )
            for d in EXTEND_CHOICES
        ],
        [
            (t("isolation.button_early"), IsolationCb(action="early", isolation_id=isolation.id)),
            (
                t("isolation.button_hospital"),
                IsolationCb(action="hospital", isolation_id=isolation.id),
            ),
        ],
    ]
    return text, buttons(rows)


@router.message(Command("isolation"), StateFilter("*"))
async def show_isolation(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    community, _ = await _acting(session, identity, message.chat.id)
    query = (command.args or "").strip()
    if not query:
        await message.answer(t("isolation.usage"))
        return
    found = [
        (isolation, person)
        for isolation, person in await checkins.find_isolations(session, community, query)
        if await _may_act_on(session, identity, isolation)
    ]
    if not found:
        await message.answer(t("isolation.not_found"))
        return
    if len(found) > 1:
        await message.answer(
            t("isolation.several", people=[{"id": p.id, "name": p.name} for _, p in found])
        )
        return
    isolation, person = found[0]
    await audit.record_read(
        session, at=clock.now(), actor=identity.person, what="isolation", entity="isolation",
        entity_id=isolation.id, details={"person_id": person.id},
    )  # fmt: skip
    lines = {
        line.isolation.id: line.address
        for line in await checkins.isolations_of(session, clock, community)
    }
    text, markup = _card(t, clock, community, isolation, person, lines.get(isolation.id, ""))
    await message.answer(text, reply_markup=markup)


@router.callback_query(IsolationCb.filter())
async def isolation_action(
    query: CallbackQuery,
    callback_data: IsolationCb,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    isolation, person = await checkins.isolation_with_person(session, callback_data.isolation_id)
    # Re-checked on every press: a resident can forge or press an officer's button.
    if identity.person is None or not await _may_act_on(session, identity, isolation):
        await query.answer(t("common.not_allowed"), show_alert=True)
        return
    if isolation.status != IsolationStatus.ACTIVE:
        await query.answer(t("isolation.not_active"), show_alert=True)
        return
    if callback_data.action == "extend":
        # Through monitoring: recorded in the history and the resident is told.
        await monitoring.extend(
            session,
            clock,
            catalog,
            isolation_id=isolation.id,
            actor=identity.person,
            days=callback_data.days,
            reason="",
        )
        await query.answer()
        done = t(
            "isolation.extended", id=isolation.id, name=person.name,
            end=isolation.end_date.isoformat(),
        )  # fmt: skip
        # The card again under the confirmation, with its buttons: ending early (or
        # extending once more) needs no second /isolation.
        community = await session.get(Community, isolation.community_id)
        assert community is not None
        lines = {
            line.isolation.id: line.address
            for line in await checkins.isolations_of(session, clock, community)
        }
        card, markup = _card(t, clock, community, isolation, person, lines.get(isolation.id, ""))
        await edit_or_send(query, f"{done}\n\n{card}", markup)
    elif callback_data.action in ("early", "hospital"):
        await state.set_state(IsolationReason.reason)
        await state.update_data(isolation_id=isolation.id, action=callback_data.action)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("isolation.ask_reason", id=isolation.id, name=person.name))
    else:
        await query.answer(t("common.button_expired"), show_alert=True)


@router.message(IsolationReason.reason, F.text, flags=ENDS_ON_REFUSAL)
async def isolation_reason(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    isolation_id, action = data.get("isolation_id"), data.get("action")
    reason = clean_text(message.text or "", max_len=REASON_MAX)
    if not isinstance(isolation_id, int) or action not in ("early", "hospital"):
        await state.clear()
        await message.answer(t("common.button_expired"))
        return
    isolation, person = await checkins.isolation_with_person(session, isolation_id)
    if identity.person is None or not await _may_act_on(session, identity, isolation):
        raise NotAllowed()
    status = IsolationStatus.HOSPITAL if action == "hospital" else IsolationStatus.ENDED_EARLY
    await monitoring.end(
        session,
        clock,
        catalog,
        isolation_id=isolation_id,
        actor=identity.person,
        status=status,
        reason=reason,
    )
    await state.clear()
    await message.answer(
        t(
            "isolation.ended",
            id=isolation.id,
            name=person.name,
            status=t(f"isolation.status_{status.value}"),
            reason=reason,
        )
    )
