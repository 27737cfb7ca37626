"""A resident's own data (R-PRIV, issue 11): /privacy, /mydata, /forgetme, /withdraw;
officers confirm or decline deletion requests; admins see the purge's last run."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.db.models import Community, DataRequest, Role
from bot.presentation.callbacks import PrivacyAsk, PrivacyDecision
from bot.presentation.keyboards import buttons
from bot.services import data_requests, households, mydata, retention
from bot.services.identity import Identity
from bot.settings import Settings
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="privacy")
router.message.filter(F.chat.type == "private")

SECTIONS = (
    "person", "household", "members", "consents", "reports", "isolations", "gate_passages",
    "cases", "data_requests",
)  # fmt: skip


async def _admin_status(
    session: AsyncSession, identity: Identity, settings: Settings, t: Translator
) -> str:
    community_id = identity.acting_community_id({Role.ADMIN})
    if community_id is None:
        return ""
    run = await retention.last_run(session)
    shown: dict[str, object] | None = None
    if run is not None and run.finished_at is not None:
        community = await session.get(Community, community_id)
        zone = ZoneInfo(community.timezone if community else settings.default_timezone)
        numbers = {k: int(v) for k, v in run.counts.items() if int(v)}
        shown = {
            "at": run.finished_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "total": sum(numbers.values()),
            "counts": [{"name": k, "n": n} for k, n in numbers.items()],
        }
    open_requests = await session.scalar(
        select(func.count(DataRequest.id)).where(
            DataRequest.status == data_requests.OPEN, DataRequest.community_id == community_id
        )
    )
    return "\n\n" + t(
        "privacy.admin_status",
        days=settings.retention_days,
        outbox_days=settings.outbox_retention_days,
        fsm_days=settings.fsm_retention_days,
        audit_days=settings.audit_retention_days,
        run=shown,
        open_requests=int(open_requests or 0),
    )


@router.message(Command("privacy"), StateFilter("*"))
async def privacy_command(
    message: Message, session: AsyncSession, identity: Identity, settings: Settings, t: Translator
) -> None:
    text = t("privacy.menu", days=settings.retention_days)
    text += await _admin_status(session, identity, settings, t)
    await message.answer(text)


@router.message(Command("mydata"), StateFilter("*"))
async def mydata_command(
    message: Message,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    settings: Settings,
    t: Translator,
) -> None:
    found = await mydata.export_my_data(
        session, clock, identity.person,
        labels={key: t(f"privacy.section_{key}") for key in SECTIONS},
        title=t("privacy.mydata_title"),
    )  # fmt: skip
    # The file is dated in the community's time zone (as everything the resident sees).
    community = None
    if identity.person is not None and identity.person.household_id is not None:
        community = await households.community_of(session, identity.person.household_id)
    zone = community.timezone if community is not None else settings.default_timezone
    stem = f"mydata-{local_today(clock, zone).isoformat()}"
    await message.answer_document(
        BufferedInputFile(found.html_bytes, filename=f"{stem}.html"),
        caption=t("privacy.mydata_caption", fmt="HTML"),
    )
    await message.answer_document(
        BufferedInputFile(found.json_bytes, filename=f"{stem}.json"),
        caption=t("privacy.mydata_caption", fmt="JSON"),
    )


async def _ask(message: Message, identity: Identity, kind: str, t: Translator) -> None:
    if identity.person is None or identity.person.household_id is None:
        await message.answer(t("privacy.not_registered"))
        return
    yes = "privacy.button_yes_withdraw" if kind == "withdrawal" else "privacy.button_yes_delete"
    await message.answer(
        t(f"privacy.ask_{kind}"),
        reply_markup=buttons(
            [[(t(yes), PrivacyAsk(kind=kind, yes=True)),
              (t("privacy.button_cancel"), PrivacyAsk(kind=kind, yes=False))]]
        ),
    )  # fmt: skip


@router.message(Command("forgetme"), StateFilter("*"))
async def forgetme_command(message: Message, identity: Identity, t: Translator) -> None:
    await _ask(message, identity, data_requests.KIND_DELETION, t)


@router.message(Command("withdraw"), StateFilter("*"))
async def withdraw_command(message: Message, identity: Identity, t: Translator) -> None:
    await _ask(message, identity, data_requests.KIND_WITHDRAWAL, t)


@router.callback_query(PrivacyAsk.filter())
async def privacy_answer(
    query: CallbackQuery,
    callback_data: PrivacyAsk,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    settings: Settings,
    identity: Identity,
    t: Translator,
) -> None:
    kind = callback_data.kind
    if not callback_data.yes or kind not in (
        data_requests.KIND_DELETION, data_requests.KIND_WITHDRAWAL
    ):  # fmt: skip
        await query.answer()
        await edit_or_send(query, t("privacy.cancelled"))
        return
    req, blockers, new = await data_requests.request(
        session, clock, catalog, settings, person=identity.person, kind=kind, locale=t.locale
    )
    await query.answer()
    if new:
        text = t(
            "privacy.requested", kind=req.kind, id=req.id, blockers=blockers,
            days=settings.deletion_auto_days,
        )  # fmt: skip
    else:
        text = t("privacy.already_requested", id=req.id)
    await edit_or_send(query, text)


@router.callback_query(PrivacyDecision.filter())
async def officer_decision(
    query: CallbackQuery,
    callback_data: PrivacyDecision,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    req, blockers = await data_requests.decide(
        session, clock, catalog, identity, callback_data.request_id, callback_data.confirm
    )
    await query.answer()
    await drop_buttons(query)
    if not callback_data.confirm:
        key = "privacy.decided_decline"
    elif blockers:
        key = "privacy.decided_blocked"
    else:
        key = "privacy.decided_confirm"
    if isinstance(query.message, Message):
        await query.message.answer(t(key, id=req.id))
