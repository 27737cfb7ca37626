"""/audit: admins page through the audit log, by person and/or day (R-AUD)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import Community, Role
from bot.presentation.callbacks import AuditPage
from bot.presentation.keyboards import buttons
from bot.services import auditlog, staffscope
from bot.services.identity import Identity
from handlers.replies import edit_or_send
from messages import Translator

router = Router(name="audit")
router.message.filter(F.chat.type == "private")

ADMIN = {Role.ADMIN}


async def _page(
    session: AsyncSession,
    community: Community,
    t: Translator,
    filt: auditlog.AuditFilter,
    page: int,
) -> tuple[str, InlineKeyboardMarkup | None]:
    lines, pages = await auditlog.latest(session, community.timezone, filt, page)
    page = min(max(page, 0), pages - 1)
    zone = ZoneInfo(community.timezone)
    text = t(
        "audit.page",
        person=filt.person,
        first=filt.first.isoformat() if filt.first else "",
        last=filt.last.isoformat() if filt.last else "",
        page=page + 1,
        pages=pages,
        lines=[
            {"at": ln.at.astimezone(zone).strftime("%m-%d %H:%M"), "actor": ln.actor,
             "action": action_label(t, ln.action, ln.entity), "entity_id": ln.entity_id or ""}
            for ln in lines
        ],
    )  # fmt: skip
    nav = []
    if page > 0:
        nav.append((t("common.prev"), AuditPage(page=page - 1)))
    if page < pages - 1:
        nav.append((t("common.next"), AuditPage(page=page + 1)))
    return text, buttons([nav]) if nav else None


@router.message(Command("audit"), StateFilter("*"))
async def audit_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    community = await staffscope.acting_community(session, identity, ADMIN)
    filt = auditlog.parse_filter(command.args or "", local_today(clock, community.timezone))
    await state.update_data(
        audit={"person": filt.person,
               "first": filt.first.isoformat() if filt.first else None,
               "last": filt.last.isoformat() if filt.last else None}
    )  # fmt: skip
    text, markup = await _page(session, community, t, filt, 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(AuditPage.filter())
async def audit_page(
    query: CallbackQuery,
    callback_data: AuditPage,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    community = await staffscope.acting_community(session, identity, ADMIN)
    saved = (await state.get_data()).get("audit") or {}
    filt = auditlog.AuditFilter(
        str(saved.get("person") or ""),
        date.fromisoformat(saved["first"]) if saved.get("first") else None,
        date.fromisoformat(saved["last"]) if saved.get("last") else None,
    )
    text, markup = await _page(session, community, t, filt, callback_data.page)
    await edit_or_send(query, text, markup)


def action_label(t: Translator, action: str, entity: str) -> str:
    """ "risk.add" as "添加风险地区"; an action without a name keeps its code."""
    if t.has(f"audit.action.{action}"):
        return t(f"audit.action.{action}")
    key = f"audit.entity.{entity}"
    return t("audit.unknown_action", action=action, entity=t(key) if t.has(key) else entity)
