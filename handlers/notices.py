"""Official notices (R-NOT): /notice composes one (text or media, audience, preview,
now / at a time / daily / weekly), /notices lists the scheduled ones with a cancel
button. Officers only: the role is read from the database on every step and press."""

from __future__ import annotations

import html
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_now
from bot.db.models import Community, Notice
from bot.presentation.callbacks import NoticeCb
from bot.presentation.keyboards import buttons
from bot.services import notices
from bot.services.errors import DomainError
from bot.services.identity import Identity
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="notices")


class Compose(StatesGroup):
    content = State()
    audience = State()
    preview = State()
    when = State()


def _abort_row(t: Translator) -> list[tuple[str, NoticeCb]]:
    return [(t("notices.abort"), NoticeCb(action="abort"))]


async def _officer_data(
    state: FSMContext, session: AsyncSession, identity: Identity
) -> dict[str, Any] | None:
    """The compose data if the user still is an officer of its community (or of one of
    its compounds), else None."""
    data = await state.get_data()
    community_id = data.get("notice_community")
    if not isinstance(community_id, int):
        return None
    await notices.require_officer(session, identity, community_id)
    return data


@router.message(Command("notice"), StateFilter("*"))
async def start_notice(
    message: Message, state: FSMContext, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    community_id = await notices.officer_community(session, identity, chat_id=message.chat.id)
    await state.clear()
    await state.set_state(Compose.content)
    reach = await notices.require_officer(session, identity, community_id)
    await state.update_data(
        notice_community=community_id,
        # the picker offers only these (None: every compound); re-checked on each press
        notice_reach=None if reach is None else sorted(reach),
        compounds=[],
        residents=False,
        isolation=False,
        groups=True,
        pin=False,
    )
    rows = [
        [(t(f"notice_library.{key}_title"), NoticeCb(action="lib", arg=i))]
        for i, key in enumerate(notices.library_keys())
    ]
    rows.append(_abort_row(t))
    await message.answer(t("notices.start"), reply_markup=buttons(rows))


@router.message(Compose.content)
async def got_content(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    if (message.text or "").startswith("/"):
        # A command (of a router tried after this one: /chart, /audit...), not the text.
        raise SkipHandler
    try:
        data = await _officer_data(state, session, identity)
    except DomainError as exc:
        await state.clear()
        await message.answer(t(exc.key, **exc.params))
        return
    if data is None:
        return
    media_kind: str | None = None
    media_file_id: str | None = None
    raw = message.text
    if message.photo:
        media_kind, media_file_id, raw = "photo", message.photo[-1].file_id, message.caption
    elif message.document:
        media_kind, media_file_id, raw = "document", message.document.file_id, message.caption
    elif message.text is None:
        await message.answer(t("notices.unsupported"))
        return
    if raw is None:
        await message.answer(t("notices.media_needs_caption"))
        return
    text = notices.clean_notice_text(raw, caption=media_kind is not None)
    await state.update_data(
        text=text, media_kind=media_kind, media_file_id=media_file_id, template_key=None
    )
    await _show_audience(message, state, session, t, edit=None)


async def _audience_markup(
    state: FSMContext, session: AsyncSession, t: Translator
) -> InlineKeyboardMarkup:
    data = await state.get_data()
    chosen = set(data.get("compounds", []))
    reach = data.get("notice_reach")

    def mark(on: bool, label: str) -> str:
        return f"✅ {label}" if on else label

    # Where it goes: owners' groups and private chats / groups only / private chats only.
    channel = _channel(data)
    rows = [
        [
            (mark(channel == i, t(f"notices.channel_{name}")), NoticeCb(action="aud_ch", arg=i))
            for i, name in enumerate(CHANNELS)
        ]
    ]
    compound_key = "audience_compound" if data.get("groups", True) else "audience_compound_only"
    rows += [
        [
            (
                mark(c.id in chosen, t(f"notices.{compound_key}", name=c.name)),
                NoticeCb(action="aud_c", arg=c.id),
            )
        ]
        for c in await notices.compounds_of(session, int(data["notice_community"]))
        if reach is None or c.id in reach
    ]
    rows.append(
        [
            (
                mark(bool(data.get("residents")), t("notices.audience_residents")),
                NoticeCb(action="aud_r"),
            )
        ]
    )
    rows.append(
        [
            (
                mark(bool(data.get("isolation")), t("notices.audience_isolation")),
                NoticeCb(action="aud_i"),
            )
        ]
    )
    rows.append([(mark(bool(data.get("pin")), t("notices.pin")), NoticeCb(action="pin"))])
    rows.append([(t("notices.next"), NoticeCb(action="next"))])
    rows.append(_abort_row(t))
    return buttons(rows)


CHANNELS = ("both", "groups", "private")


def _channel(data: dict[str, Any]) -> int:
    """The index in CHANNELS the audience chosen so far amounts to."""
    if not data.get("groups", True):
        return 2
    return 0 if data.get("residents") or data.get("isolation") else 1


async def _show_audience(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    edit: CallbackQuery | None,
) -> None:
    await state.set_state(Compose.audience)
    markup = await _audience_markup(state, session, t)
    if edit is not None:
        await edit_or_send(edit, t("notices.choose_audience"), markup)
    else:
        await message.answer(t("notices.choose_audience"), reply_markup=markup)


# One handler per button; each re-checks the role in the database and, through its
# state filter, that the conversation is at the step the button belongs to. A button of
# another step (or of a finished conversation) reaches `stale_button`.


@router.callback_query(NoticeCb.filter(F.action == "cancel"))
async def cancel_pressed(
    query: CallbackQuery,
    callback_data: NoticeCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    notice = await notices.cancel_notice(
        session, clock, identity=identity, notice_id=callback_data.arg
    )
    await drop_buttons(query)
    await edit_or_send(query, t("notices.cancelled", notice_id=notice.id))


async def _composing(
    state: FSMContext, session: AsyncSession, identity: Identity
) -> dict[str, Any]:
    """The compose data, the actor still an officer of its community (or compound);
    else the polite "this has expired" (NotAllowed when the role is gone)."""
    await notices.officer_community(session, identity)
    data = await _officer_data(state, session, identity)
    current = await state.get_state()
    if data is None or current is None or not current.startswith("Compose"):
        raise DomainError("notices.expired")
    return data


@router.callback_query(NoticeCb.filter(F.action == "abort"), StateFilter(Compose))
async def abort_pressed(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    await _composing(state, session, identity)
    await state.clear()
    await edit_or_send(query, t("notices.cancelled_compose"))


@router.callback_query(NoticeCb.filter(F.action == "lib"), Compose.content)
async def library_pressed(
    query: CallbackQuery,
    callback_data: NoticeCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    catalog: Catalog,
    t: Translator,
) -> None:
    data = await _composing(state, session, identity)
    keys = notices.library_keys()
    community = await session.get(Community, int(data["notice_community"]))
    if not 0 <= callback_data.arg < len(keys) or community is None:
        raise DomainError("notices.expired")
    key = keys[callback_data.arg]
    text = notices.library_text(catalog, t.locale, key, community)
    await state.update_data(text=text, media_kind=None, media_file_id=None, template_key=key)
    assert isinstance(query.message, Message)
    await _show_audience(query.message, state, session, t, edit=query)


@router.callback_query(NoticeCb.filter(F.action == "aud_c"), Compose.audience)
async def compound_toggled(
    query: CallbackQuery,
    callback_data: NoticeCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data = await _composing(state, session, identity)
    own = {
        c.id
        for c in await notices.audience_compounds(session, identity, int(data["notice_community"]))
    }
    if callback_data.arg not in own:
        raise DomainError("notices.compound_unknown")
    chosen = set(data.get("compounds", [])) ^ {callback_data.arg}
    await state.update_data(compounds=sorted(chosen))
    assert isinstance(query.message, Message)
    await _show_audience(query.message, state, session, t, edit=query)


@router.callback_query(NoticeCb.filter(F.action == "aud_ch"), Compose.audience)
async def channel_chosen(
    query: CallbackQuery,
    callback_data: NoticeCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    """Groups and private chats / groups only / private chats only."""
    data = await _composing(state, session, identity)
    if not 0 <= callback_data.arg < len(CHANNELS):
        raise DomainError("notices.expired")
    private = bool(data.get("residents") or data.get("isolation"))
    channel = CHANNELS[callback_data.arg]
    if channel == "groups":
        await state.update_data(groups=True, residents=False, isolation=False)
    else:
        # private chats: the residents unless people in isolation were chosen already
        await state.update_data(groups=channel == "both", residents=data.get("residents") or
                                not private)  # fmt: skip
    assert isinstance(query.message, Message)
    await _show_audience(query.message, state, session, t, edit=query)


@router.callback_query(NoticeCb.filter(F.action.in_({"aud_r", "aud_i", "pin"})), Compose.audience)
async def flag_toggled(
    query: CallbackQuery,
    callback_data: NoticeCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    data = await _composing(state, session, identity)
    field = {"aud_r": "residents", "aud_i": "isolation", "pin": "pin"}[callback_data.action]
    await state.update_data({field: not bool(data.get(field))})
    assert isinstance(query.message, Message)
    await _show_audience(query.message, state, session, t, edit=query)


@router.callback_query(NoticeCb.filter(F.action == "next"), Compose.audience)
async def audience_done(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    catalog: Catalog,
    t: Translator,
) -> None:
    data = await _composing(state, session, identity)
    audience = _audience(data)
    if audience.is_empty():
        raise DomainError("notices.audience_empty")
    await drop_buttons(query)
    assert isinstance(query.message, Message)
    await _preview(query.message, state, session, catalog, t, data, audience)


@router.callback_query(NoticeCb.filter(F.action == "now"), Compose.preview)
async def send_now_pressed(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    catalog: Catalog,
    t: Translator,
) -> None:
    await _composing(state, session, identity)
    await drop_buttons(query)
    assert isinstance(query.message, Message)
    await _create(query.message, state, session, clock, identity, catalog, t, None, None)


@router.callback_query(NoticeCb.filter(F.action.in_({"at", "daily", "weekly"})), Compose.preview)
async def schedule_pressed(
    query: CallbackQuery,
    callback_data: NoticeCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    await _composing(state, session, identity)
    await drop_buttons(query)
    action = callback_data.action
    await state.update_data(mode=action)
    await state.set_state(Compose.when)
    assert isinstance(query.message, Message)
    await query.message.answer(t(f"notices.ask_{'when' if action == 'at' else action}"))


@router.callback_query(NoticeCb.filter())
async def stale_button(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, identity: Identity
) -> None:
    """A notice button of another step, or of a conversation that has ended."""
    await _composing(state, session, identity)
    raise DomainError("notices.expired")


def _audience(data: dict[str, Any]) -> notices.Audience:
    return notices.Audience(
        tuple(int(c) for c in data.get("compounds", [])),
        bool(data.get("residents")),
        bool(data.get("isolation")),
        bool(data.get("groups", True)),
    )


async def _preview(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    catalog: Catalog,
    t: Translator,
    data: dict[str, Any],
    audience: notices.Audience,
) -> None:
    parts = []
    names = [
        c.name
        for c in await notices.compounds_of(session, int(data["notice_community"]))
        if c.id in audience.compound_ids
    ]
    if names and audience.groups:
        parts.append(t("notices.preview_audience_groups", names="、".join(names), count=len(names)))
    if audience.residents:
        parts.append(t("notices.preview_audience_residents"))
    if audience.isolation:
        parts.append(t("notices.preview_audience_isolation"))
    title = t("notices.preview_title", audience=" + ".join(parts))
    if names and not audience.groups:
        title = t("notices.preview_title_private", audience=" + ".join(parts),
                  names="、".join(names))  # fmt: skip
    if data.get("pin") and audience.compound_ids and audience.groups:
        title += t("notices.preview_pin")
    await message.answer(title)
    body = f"{t('notices.header')}\n\n{data['text']}"
    if data.get("media_kind") == "photo":
        await message.answer_photo(data["media_file_id"], caption=body)
    elif data.get("media_kind") == "document":
        await message.answer_document(data["media_file_id"], caption=body)
    else:
        await message.answer(body)
    await state.set_state(Compose.preview)
    await message.answer(
        "⬆️",
        reply_markup=buttons(
            [
                [(t("notices.send_now"), NoticeCb(action="now"))],
                [(t("notices.send_at"), NoticeCb(action="at"))],
                [
                    (t("notices.send_daily"), NoticeCb(action="daily")),
                    (t("notices.send_weekly"), NoticeCb(action="weekly")),
                ],
                _abort_row(t),
            ]
        ),
    )


@router.message(Compose.when, F.text)
async def got_when(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    catalog: Catalog,
    t: Translator,
) -> None:
    try:
        data = await _officer_data(state, session, identity)
    except DomainError as exc:
        await state.clear()
        await message.answer(t(exc.key, **exc.params))
        return
    if data is None:
        return
    community = await session.get(Community, int(data["notice_community"]))
    assert community is not None and message.text is not None
    now_local = local_now(clock, community.timezone)
    mode = data.get("mode")
    if mode == "daily":
        send_at = notices.first_daily(notices.parse_time_of_day(message.text), now_local)
        repeat: str | None = "daily"
    else:
        send_at = notices.parse_when(message.text, now_local)
        repeat = "weekly" if mode == "weekly" else None
    await _create(message, state, session, clock, identity, catalog, t, send_at, repeat)


async def _create(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    catalog: Catalog,
    t: Translator,
    send_at: Any,
    repeat: str | None,
) -> None:
    data = await state.get_data()
    notice = await notices.create_notice(
        session,
        clock,
        identity=identity,
        community_id=int(data["notice_community"]),
        text=str(data["text"]),
        audience=_audience(data),
        pin=bool(data.get("pin")),
        media_kind=data.get("media_kind"),
        media_file_id=data.get("media_file_id"),
        template_key=data.get("template_key"),
        send_at=send_at,
        repeat=repeat,
        catalog=catalog,
        locale=t.locale,
    )
    await state.clear()
    card = await _card(session, catalog, t, notice)
    markup = None
    if send_at is not None:
        markup = buttons([[(t("notices.cancel"), NoticeCb(action="cancel", arg=notice.id))]])
    sent = await message.answer(card, reply_markup=markup)
    await notices.set_card(session, notice.id, sent.chat.id, sent.message_id)


async def _card(session: AsyncSession, catalog: Catalog, t: Translator, notice: Notice) -> str:
    community = await session.get(Community, notice.community_id)
    tz = community.timezone if community else "Asia/Shanghai"
    counts = await notices.progress(session, notice.id)
    return notices.render_card(catalog, t.locale, notice, counts, tz)


@router.message(Command("notices"), StateFilter("*"))
async def list_notices(
    message: Message,
    session: AsyncSession,
    identity: Identity,
    catalog: Catalog,
    t: Translator,
) -> None:
    community_id = await notices.officer_community(session, identity, chat_id=message.chat.id)
    reach = await notices.require_officer(session, identity, community_id)
    found = await notices.scheduled(session, community_id, reach)
    if not found:
        await message.answer(t("notices.list_empty"))
        return
    community = await session.get(Community, community_id)
    tz = community.timezone if community else "Asia/Shanghai"
    lines = [t("notices.list_title")]
    rows = []
    for notice in found[:20]:
        lines.append(
            t(
                "notices.list_item",
                notice_id=notice.id,
                schedule=notices.describe_schedule(catalog, t.locale, notice, tz),
                excerpt=html.unescape(notice.text)[:40],
            )
        )
        rows.append(
            [(f"{t('notices.cancel')} #{notice.id}", NoticeCb(action="cancel", arg=notice.id))]
        )
    await message.answer("\n".join(lines), reply_markup=buttons(rows))
