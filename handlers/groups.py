"""The bot in owners' group chats (R-GRP): binding to a compound, deep links to the
private chat, welcomes. Nothing personal is ever posted in a group."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Compound
from bot.presentation.callbacks import BindCb
from bot.presentation.keyboards import buttons, deep_link, url_button
from bot.services import groups
from bot.services.identity import Identity
from handlers.replies import edit_or_send
from messages import Translator

router = Router(name="groups")
GROUP_TYPES = {"group", "supergroup"}
router.message.filter(F.chat.type.in_(GROUP_TYPES))


@router.message(Command("report", "register", "start"))
async def deep_link_to_private(
    message: Message, command: CommandObject, bot_username: str, t: Translator
) -> None:
    """Everything personal happens in the private chat: answer with a link to it."""
    payload = "report" if command.command == "report" else "register"
    await message.reply(
        t(f"groups.go_private_{payload}"),
        reply_markup=url_button(t("groups.open_private"), deep_link(bot_username, payload)),
    )


@router.message(Command("help"))
async def group_help(message: Message, bot_username: str, t: Translator) -> None:
    await message.reply(
        t("groups.help"),
        reply_markup=url_button(t("groups.open_private"), deep_link(bot_username, "register")),
    )


@router.message(Command("bind"))
async def bind(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    allowed = await groups.compounds_officer_may_bind(session, identity)
    if not allowed:
        await message.reply(t("groups.bind_not_allowed"))
        return
    if await groups.is_officer_chat(session, message.chat.id):
        await message.reply(t("privacy.bind_in_officers_chat"))
        return
    wanted = (command.args or "").strip()
    if wanted:
        match = [c for c in allowed if c.name == wanted]
        if not match:
            await message.reply(t("groups.compound_unknown"))
            return
        await _bind(message, session, clock, identity, t, match[0].id)
        return
    rows = [[(c.name, BindCb(compound_id=c.id))] for c in allowed[:50]]
    await message.reply(t("groups.choose_compound"), reply_markup=buttons(rows))


async def _bind(
    message: Message,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    compound_id: int,
) -> None:
    before = await groups.bound_compound(session, message.chat.id)
    group = await groups.bind_group(
        session,
        clock,
        identity=identity,
        chat_id=message.chat.id,
        title=message.chat.title,
        compound_id=compound_id,
    )
    compound = await groups.bound_compound(session, group.chat_id)
    assert compound is not None
    await message.answer(_bound_text(t, before, compound))


@router.callback_query(BindCb.filter(), F.message.chat.type.in_(GROUP_TYPES))
async def bind_pressed(
    query: CallbackQuery,
    callback_data: BindCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    """Any member of the group can press the button: the presser's role is checked."""
    assert query.message is not None
    before = await groups.bound_compound(session, query.message.chat.id)
    await groups.bind_group(
        session,
        clock,
        identity=identity,
        chat_id=query.message.chat.id,
        title=getattr(query.message.chat, "title", None),
        compound_id=callback_data.compound_id,
    )
    compound = await groups.bound_compound(session, query.message.chat.id)
    assert compound is not None
    await edit_or_send(query, _bound_text(t, before, compound))


def _bound_text(t: Translator, before: Compound | None, compound: Compound) -> str:
    """Bound; or moved from another compound, which is said (it was silent)."""
    if before is not None and before.id != compound.id:
        return t("groups.rebound", before=before.name, compound=compound.name)
    return t("groups.bound", compound=compound.name)


@router.message(Command("unbind"))
async def unbind(
    message: Message, session: AsyncSession, clock: Clock, identity: Identity, t: Translator
) -> None:
    compound = await groups.unbind_group(session, clock, identity=identity, chat_id=message.chat.id)
    await message.answer(t("groups.unbound", compound=compound.name))


@router.message(F.new_chat_members)
async def members_joined(message: Message, bot_username: str, t: Translator) -> None:
    """One welcome per join event, naming nobody: a link to register privately."""
    newcomers = message.new_chat_members or []
    if any(m.username == bot_username and m.is_bot for m in newcomers):
        await message.answer(t("groups.bot_added"))
        newcomers = [m for m in newcomers if not m.is_bot]
    if not [m for m in newcomers if not m.is_bot]:
        return
    await message.answer(
        t("groups.welcome"),
        reply_markup=url_button(t("groups.open_private"), deep_link(bot_username, "register")),
    )


@router.message(F.migrate_to_chat_id)
async def migrated(message: Message, session: AsyncSession, clock: Clock) -> None:
    assert message.migrate_to_chat_id is not None
    await groups.migrate_group(
        session, clock, old_id=message.chat.id, new_id=message.migrate_to_chat_id
    )
