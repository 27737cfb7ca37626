"""Officer and admin commands (R-ADM, R-RBAC): risk areas, fever clinics, roles,
grids, compounds. The role is read from the database on every command."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_today
from bot.commands import refresh_staff_commands
from bot.core.filters import ActingCommunity
from bot.db.models import Community, RiskArea, Role
from bot.parsing import ParseError, parse_date, parse_id
from bot.places import Gazetteer
from bot.services import admin, clinics, rematch, risk_areas, scope
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity, own_locales
from messages import Catalog, Translator

router = Router(name="admin")
MAX_CSV_BYTES = 1_000_000


# ---------------------------------------------------------------- risk areas


@router.message(Command("risk"), StateFilter("*"), ActingCommunity())
async def risk(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    """/risk add <place> <high|medium|low> [from] [to] · /risk remove <id> · /risk list.
    In a community's officers' chat (handlers/where.py) only the list answers, for that
    community (its officers only), in its language."""
    sub, _, rest = (command.args or "list").strip().partition(" ")
    if message.chat.type in ("group", "supergroup"):
        chat_community = await scope.officers_chat_community(session, message.chat.id)
        if chat_community is None or sub != "list":
            raise NotAllowed("privacy.use_private")
        if chat_community.id not in identity.community_ids(OFFICER_ROLES):
            raise NotAllowed()
        community, t = chat_community, catalog.translator(chat_community.locale)
    if sub == "add":
        args = risk_areas.parse_add_args(rest, local_today(clock, community.timezone))
        listed = await risk_areas.already_listed(
            session, community_id=community.id, args=args,
            today=local_today(clock, community.timezone),
        )  # fmt: skip
        if listed is not None:
            raise DomainError("admin.risk_already_listed", area=_area(listed, t))
        area = await risk_areas.add_risk_area(
            session, clock, community_id=community.id, args=args, actor=identity.person
        )
        # Re-match the reports of its window (R-RISK): once per report / passage.
        found = await rematch.rematch_area(
            session, clock, catalog, area=area, actor=identity.person
        )
        text = t("admin.risk_added", area=_area(area, t))
        if found.cases:
            text += "\n" + t("monitoring.rematched", r=found, cases=len(found.cases))
        await message.answer(text)
    elif sub == "from" and len(rest.split()) == 2 and rest.split()[0].isdigit():
        # Backdate an area: "/risk from <id> <date>", then re-match its window.
        area_id, when = rest.split()
        try:
            new_from = parse_date(when, local_today(clock, community.timezone))
        except ParseError as exc:
            raise DomainError("risk.bad_date") from exc
        area = await risk_areas.backdate_risk_area(
            session, clock, community_id=community.id, area_id=parse_id(area_id),
            valid_from=new_from, actor=identity.person,
        )  # fmt: skip
        found = await rematch.rematch_area(
            session, clock, catalog, area=area, actor=identity.person
        )
        await message.answer(
            t("monitoring.risk_backdated", area=_area(area, t))
            + "\n"
            + t("monitoring.rematched", r=found, cases=len(found.cases))
        )
    elif sub == "remove" and rest.strip().isdigit():
        area = await risk_areas.remove_risk_area(
            session, clock, community_id=community.id, area_id=parse_id(rest),
            actor=identity.person,
        )  # fmt: skip
        await message.answer(t("admin.risk_removed", area=_area(area, t)))
    elif sub == "list":
        # Areas expire by their end date: the list shows those still in force.
        today = local_today(clock, community.timezone)
        areas = [
            a
            for a in await risk_areas.list_risk_areas(session, community.id)
            if a.valid_to is None or a.valid_to >= today
        ]
        await message.answer(t("admin.risk_list", areas=[_area(a, t) for a in areas]))
    else:
        raise DomainError("risk.usage")


def _area(area: RiskArea, t: Translator) -> dict[str, object]:
    return {
        "id": area.id,
        "place": Gazetteer.load().full_name(area.place_code, t.locale),
        "level": t(f"reports.level_{area.level}"),
        "from": area.valid_from.isoformat(),
        "to": area.valid_to.isoformat() if area.valid_to else "",
    }


# ---------------------------------------------------------------- fever clinics


@router.message(Command("clinic"), StateFilter("*"), ActingCommunity())
async def clinic(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    """/clinic add 名称|地址|电话 · /clinic list · /clinic remove N"""
    sub, _, rest = (command.args or "list").strip().partition(" ")
    if sub == "add":
        await clinics.add_clinic(
            session, clock, community=community, clinic=clinics.parse_clinic(rest),
            actor=identity.person,
        )  # fmt: skip
    elif sub == "remove" and rest.strip().isdigit():
        await clinics.remove_clinic(
            session, clock, community=community, number=parse_id(rest),
            actor=identity.person,
        )  # fmt: skip
    elif sub != "list":
        raise DomainError("clinics.usage")
    await message.answer(t("admin.clinic_list", clinics=list(community.fever_clinics or [])))


# ---------------------------------------------------------------- roles


@router.message(Command("grant", "revoke"), StateFilter("*"), ActingCommunity({Role.ADMIN}))
async def grant_or_revoke(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    """/grant <telegram_user_id> <role> [community | compound <name> | grid <name>]"""
    args = await admin.parse_role_args(session, community.id, command.args or "")
    if command.command == "grant":
        person = await admin.grant(session, clock, args=args, by=identity.person)
    else:
        person = await admin.revoke(session, clock, args=args, by=identity.person)
    if message.bot is not None:
        # The person's menu follows their roles: shown when granted, gone when revoked.
        locale = (await own_locales(session, [person], community.locale))[person.id]
        await refresh_staff_commands(message.bot, catalog, session, args.telegram_user_id, locale)
    await message.answer(
        t("admin.role_granted" if command.command == "grant" else "admin.role_revoked",
          user=args.telegram_user_id,
          role=t(f"admin.role_name_{args.role.value}"), scope=args.scope_name)
    )  # fmt: skip


@router.message(Command("roles"), StateFilter("*"), ActingCommunity({Role.ADMIN}))
async def roles(
    message: Message, session: AsyncSession, t: Translator, community: Community
) -> None:
    rows = await admin.list_roles(session, community.id)
    await message.answer(
        t("admin.roles", rows=[{"name": r.name, "id": r.telegram_user_id or "",
                                "role": t(f"admin.role_name_{r.role}"), "scope": r.scope}
                               for r in rows])
    )  # fmt: skip


# ---------------------------------------------------------------- grids and compounds


@router.message(Command("grid"), StateFilter("*"), ~F.document, ActingCommunity({Role.ADMIN}))
async def grid(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    """/grid set <grid> <compound> <building>...  (/grid import: attach a CSV)"""
    words = (command.args or "").split()
    if len(words) < 4 or words[0] != "set":
        await message.answer(t("admin.grid_usage"))
        return
    found = await admin.set_grid(
        session, clock, community_id=community.id, grid_name=words[1],
        compound_name=words[2], buildings=words[3:], actor=identity.person,
    )  # fmt: skip
    await message.answer(t("admin.grid_set", grid=found.name, count=len(words) - 3))


@router.message(
    F.document, F.caption.startswith("/grid"), StateFilter("*"), ActingCommunity({Role.ADMIN})
)
async def grid_import(
    message: Message,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    """A CSV (compound,building,grid) sent with the caption /grid import."""
    document = message.document
    assert document is not None and message.bot is not None
    if (document.file_size or 0) > MAX_CSV_BYTES:
        await message.answer(t("admin.csv_too_big"))
        return
    file = await message.bot.download(document)
    data = file.read() if file is not None else b""
    count = await admin.import_grids_csv(
        session, clock, community_id=community.id, data=data, actor=identity.person
    )
    await message.answer(t("admin.grid_imported", count=count))


@router.message(Command("compound"), StateFilter("*"), ActingCommunity())
async def compound(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    """/compound <name> managed [company] | lead <unit> | manager|stationed <name> <phone>"""
    words = (command.args or "").split()
    if len(words) < 2:
        await message.answer(t("admin.compound_usage"))
        return
    await admin.set_compound(
        session, clock, community_id=community.id, name=words[0], field=words[1],
        values=words[2:], actor=identity.person,
    )  # fmt: skip
    await compounds(message, session, identity, t, community)


@router.message(Command("compounds"), StateFilter("*"), ActingCommunity())
async def compounds(
    message: Message,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
    community: Community,
) -> None:
    await message.answer(
        t("admin.compounds", compounds=await admin.list_compounds(session, community.id))
    )
