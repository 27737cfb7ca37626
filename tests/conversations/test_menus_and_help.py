"""Command menus and /help follow the roles a person holds in the database (QA findings:
residents saw /shifts and /deliveries; an officer's /help listed resident commands only)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.commands import PRIVATE_COMMANDS
from bot.double import BotApiDouble
from messages import Catalog
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, GRID_WORKER_ID, OFFICER_ID, SeededCommunity

PRIVATE = {"type": "all_private_chats"}


def _names(double: BotApiDouble, scope: dict[str, object], language: str = "") -> list[str]:
    return [c["command"] for c in double.commands(scope, language)]


def _plain(catalog: Catalog, locale: str) -> str:
    """The residents' help as the user sees it (without the HTML tags)."""
    return catalog.render(locale, "common.help").replace("<b>", "").replace("</b>", "")


async def test_residents_menu_has_no_staff_commands_and_a_grant_adds_them_until_revoked(
    community: SeededCommunity,
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    for language in ("", "en"):
        names = _names(double, PRIVATE, language)
        assert names == list(PRIVATE_COMMANDS)
        assert "shifts" not in names and "deliveries" not in names
    await register(sessionmaker, clock, community, resident)
    chat = {"type": "chat", "chat_id": resident.id}
    assert _names(double, chat) == []  # no per-chat menu: the residents' one applies
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员"))
    await admin.send(f"/grant {resident.id} volunteer")
    assert _names(double, chat) == [
        *PRIVATE_COMMANDS, "shifts", "deliveries", "round_tick", "round_todo", "care_list",
    ]  # fmt: skip
    await admin.send(f"/grant {resident.id} guard")
    assert _names(double, chat) == [
        *PRIVATE_COMMANDS, "gate", "shifts", "deliveries", "round_tick", "round_todo",
        "care_list",
    ]  # fmt: skip
    await admin.send(f"/revoke {resident.id} volunteer")
    assert _names(double, chat) == [*PRIVATE_COMMANDS, "gate", "shifts"]
    await admin.send(f"/revoke {resident.id} guard")
    assert _names(double, chat) == []


async def test_help_shows_the_commands_of_each_role_held(
    community: SeededCommunity,
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    await register(sessionmaker, clock, community, resident)
    assert texts(await resident.send("/help")) == _plain(catalog, "zh-CN")
    grid_worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    assert texts(await grid_worker.send("/help")) == _plain(catalog, "zh-CN") + (
        "\n\n网格员"
        "\n/cases — 未办结事件，可按小区/网格/类别筛选"
        "\n/case — 按编号查看一个事件"
        "\n/coverage — 入户排查覆盖情况"
        "\n/screen — 登记入户排查"
        "\n/round_tick — 按住户登记核酸检测"
        "\n/round_todo — 未检测名单"
        "\n/deliveries — 志愿者：待配送的物资申请"
        "\n/care_list — 重点关爱对象名单"
    )
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    officer_help = texts(await officer.send("/help"))
    assert "\n\n社区干部\n/bind — " in officer_help
    assert "/cases — " in officer_help and "/notice — " in officer_help
    assert "/grant" not in officer_help and "管理员" not in officer_help
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="en"))
    admin_help = texts(await admin.send("/help"))
    assert admin_help.startswith(_plain(catalog, "en") + "\n\nOfficer\n/bind — ")
    assert admin_help.endswith(
        "\n\nAdmin"
        "\n/grant — Grant a role (admin)"
        "\n/revoke — Revoke a role (admin)"
        "\n/roles — List roles (admin)"
        "\n/grid — Grids: set, or import a CSV"
        "\n/audit — Audit log (admins)"
    )
    # each command once, in the first section that has it
    assert admin_help.count("/cases — ") == 1
