"""Where personal data may appear (R-WHERE), tried before every other router:

* officer and personal commands sent in a group get "use this in a private chat with
  the bot" and a deep link, and nothing else;
* buttons of private flows pressed in a group are refused the same way;
* "details" on an anonymised case card is answered in the presser's *private* chat,
  after the role check, and audited as a read;
* staff with roles in several communities pick the one they act in (remembered per chat).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.commands import OFFICER_COMMANDS
from bot.core.forms import command_of
from bot.household_cards import CaseDetailsCb, CommunityPickCb
from bot.services import audit, cases, scope
from bot.services.errors import NotAllowed
from bot.services.identity import Identity
from handlers.keyboards import buttons, deep_link, url_button
from handlers.replies import edit_or_send
from messages import Catalog, Translator

router = Router(name="where")
GROUP_TYPES = {"group", "supergroup"}

# Commands that have a meaning in a group chat; every other command is private-only.
GROUP_COMMANDS = frozenset(
    {"start", "report", "register", "help", "bind", "unbind", "officers_here", "bind_officers",
     "cancel"}
)  # fmt: skip
STAFF_COMMANDS = frozenset({*OFFICER_COMMANDS, "move_member"}) - {
    "bind",
    "officers_here",
}
# The refusal a person with no staff role gets for a staff command, where the feature has
# its own wording (the others get common.not_allowed).
REFUSAL_OF = {
    "notice": "notices.not_allowed",
    "notices": "notices.not_allowed",
    "register_for": "households.not_allowed",
    "invite_member": "households.not_allowed",
    "move_member": "households.not_allowed",
}
# Commands that also answer in a community's officers' chat (anonymised there), about
# that community only.
OFFICERS_CHAT_COMMANDS = frozenset({"cases", "case", "risk"})
# Buttons the bot itself posts in groups: case cards, details, binding, notice cards,
# the downtime confirmation, "start monitoring" (continued privately), the /cases list
# of the officers' chat (its pages and cards; the handlers check the chat).
GROUP_CALLBACK_PREFIXES = frozenset({"case", "cdt", "bind", "ntc", "dt", "mc", "cl", "co"})


def _private_only_command(message: Message, bot_username: str) -> bool:
    name = command_of(message.text, bot_username)
    return name is not None and name not in GROUP_COMMANDS


@router.message(F.chat.type.in_(GROUP_TYPES), F.text.startswith("/"))
async def private_only_in_group(
    message: Message, session: AsyncSession, bot_username: str, t: Translator
) -> None:
    """Officer and personal commands never answer in a group, whoever sends them; /cases,
    /case and /risk also answer in a community's officers' chat."""
    if not _private_only_command(message, bot_username):
        raise SkipHandler
    if (
        command_of(message.text, bot_username) in OFFICERS_CHAT_COMMANDS
        and await scope.officers_chat_community(session, message.chat.id) is not None
    ):
        raise SkipHandler
    await message.reply(
        t("privacy.use_private"),
        reply_markup=url_button(t("groups.open_private"), deep_link(bot_username, "menu")),
    )


@router.message(F.chat.type == "private", F.text.startswith("/"))
async def pick_community_first(
    message: Message,
    session: AsyncSession,
    identity: Identity,
    bot_username: str,
    t: Translator,
) -> None:
    """Staff with roles in several communities choose one (a button, remembered for this
    chat) before their first staff command here; then the command runs as usual. Someone
    with no staff role at all is refused here, whatever the arguments: not shown the
    command's usage, nor told which addresses or rounds exist."""
    name = command_of(message.text, bot_username)
    if name not in STAFF_COMMANDS:
        raise SkipHandler
    if not identity.grants:
        # The error path answers; the command left the form the user was in all the
        # same (bot/core/forms.py), without a note after the refusal.
        raise NotAllowed(REFUSAL_OF.get(name, "common.not_allowed"))
    if identity.chosen_community_id is not None:
        raise SkipHandler
    found = await scope.communities_for(session, identity, scope.ALL_STAFF_ROLES)
    if len(found) < 2:
        raise SkipHandler
    await ask_community(message, scope.ChooseCommunity(tuple(found)), t)


@router.callback_query(F.message.chat.type.in_(GROUP_TYPES))
async def private_flow_button_in_group(query: CallbackQuery, t: Translator) -> None:
    prefix = (query.data or "").split(":", 1)[0]
    if prefix in GROUP_CALLBACK_PREFIXES:
        raise SkipHandler
    await query.answer(t("privacy.use_private"), show_alert=True)


@router.callback_query(CaseDetailsCb.filter())
async def case_details(
    query: CallbackQuery,
    callback_data: CaseDetailsCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """The person and details of a case, in the presser's private chat, after the role
    check (roles from the database); every read is audited."""
    case = await cases.get_case_for(session, identity, callback_data.case_id)
    await audit.record(
        session,
        at=clock.now(),
        actor=identity.person,
        actor_telegram_id=identity.telegram_user_id,
        action="case.read",
        entity="case",
        entity_id=case.id,
        community_id=case.community_id,
    )
    text, markup = await cases.render_card(
        session, clock, catalog, case, full=True, locale=t.locale
    )
    bot = query.bot
    assert isinstance(bot, Bot)
    try:
        await bot.send_message(query.from_user.id, text, reply_markup=markup)
    except (TelegramForbiddenError, TelegramBadRequest):
        await query.answer(t("cases.details_need_private"), show_alert=True)
        return
    await query.answer(t("cases.details_sent"))


# ---------------------------------------------------------------- community picker


async def ask_community(message: Message, choices: scope.ChooseCommunity, t: Translator) -> None:
    rows = [[(c.name, CommunityPickCb(community_id=c.id))] for c in choices.communities]
    await message.answer(t("privacy.choose_community"), reply_markup=buttons(rows))


@router.message(Command("community"), F.chat.type == "private")
async def community_command(
    message: Message, session: AsyncSession, identity: Identity, t: Translator
) -> None:
    """Staff with roles in several communities choose which one they act in here."""
    found = await scope.communities_for(session, identity, scope.ALL_STAFF_ROLES)
    if not found:
        # A resident (no staff role anywhere): a staff command, refused as every other.
        await message.answer(t("common.not_allowed"))
        return
    if len(found) < 2:
        await message.answer(t("privacy.one_community"))
        return
    await ask_community(message, scope.ChooseCommunity(tuple(found)), t)


@router.callback_query(CommunityPickCb.filter())
async def community_picked(
    query: CallbackQuery,
    callback_data: CommunityPickCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    assert query.message is not None
    community = await scope.choose_community(
        session,
        clock,
        identity,
        chat_id=query.message.chat.id,
        community_id=callback_data.community_id,
    )
    await query.answer()
    await edit_or_send(query, t("privacy.community_chosen", community=community.name))
