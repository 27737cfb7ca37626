"""The role matrix (R-RBAC): every staff command and every staff callback, pressed by
every role, in scope and out of scope. Roles are read from the database; a chat or a
Telegram group right never counts. One rule (bot.services.scope) decides."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CaseKind, Compound, Grid, Isolation, Notice, Person, Role, ScopeType
from bot.double import BotApiDouble
from bot.presentation.callbacks import NoticeCb
from bot.services import cases
from bot.services.identity import ensure_staff_person, grant_role
from messages import Catalog
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import (
    ADMIN_ID,
    GRID_WORKER_ID,
    GUARD_ID,
    OFFICER_ID,
    VOLUNTEER_ID,
    SeededCommunity,
)

COMPOUND_OFFICER_ID = 9006  # officer granted for 幸福里 only
PROPERTY_MANAGER_ID = 9007  # property manager / lead-unit contact of 阳光花园
OTHER_GRID_ID = 9008  # grid worker of 第二网格 (阳光花园 2栋)
RESIDENT_ID = 5001
STRANGER_ID = 5999

ACTORS = {
    "admin": ADMIN_ID,
    "officer": OFFICER_ID,
    "compound_officer": COMPOUND_OFFICER_ID,
    "grid_worker": GRID_WORKER_ID,
    "other_grid_worker": OTHER_GRID_ID,
    "property_manager": PROPERTY_MANAGER_ID,
    "guard": GUARD_ID,
    "volunteer": VOLUNTEER_ID,
    "resident": RESIDENT_ID,
    "stranger": STRANGER_ID,
}


async def _extra_staff(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, community: SeededCommunity
) -> None:
    async with sessionmaker.begin() as session:
        compounds = {c.name: c.id for c in await session.scalars(select(Compound))}
        grids = {g.name: g.id for g in await session.scalars(select(Grid))}
        for tg, name, role, scope_type, scope_id in (
            (COMPOUND_OFFICER_ID, "钱干事", Role.OFFICER, ScopeType.COMPOUND, compounds["幸福里"]),
            (PROPERTY_MANAGER_ID, "孙物业", Role.PROPERTY_MANAGER, ScopeType.COMPOUND,
             compounds["阳光花园"]),
            (OTHER_GRID_ID, "周网格", Role.GRID_WORKER, ScopeType.GRID, grids["第二网格"]),
        ):  # fmt: skip
            person = await ensure_staff_person(session, clock, telegram_user_id=tg, name=name)
            await grant_role(
                session, clock, person=person, role=role, scope_type=scope_type,
                scope_id=scope_id, by=None,
            )  # fmt: skip


STAFF = ("admin", "officer", "compound_officer", "grid_worker", "other_grid_worker",
         "property_manager", "guard", "volunteer")  # fmt: skip
EVERYONE = (*STAFF, "resident", "stranger")
COMMUNITY_OFFICERS = {"admin", "officer"}

# command -> the roles it answers (everyone else is refused). Where a command takes a
# place, the "in scope / out of scope" cases are in the tests below.
COMMANDS: dict[str, set[str]] = {
    "cases": COMMUNITY_OFFICERS | {"compound_officer", "grid_worker", "other_grid_worker"},
    "case": COMMUNITY_OFFICERS | {"compound_officer", "grid_worker", "other_grid_worker"},
    "ledger": COMMUNITY_OFFICERS | {"compound_officer", "property_manager"},
    "gate": COMMUNITY_OFFICERS | {"compound_officer", "property_manager", "guard"},
    "gate_add": COMMUNITY_OFFICERS,
    "coverage": COMMUNITY_OFFICERS
    | {"compound_officer", "grid_worker", "other_grid_worker", "property_manager"},
    "screen": COMMUNITY_OFFICERS
    | {"compound_officer", "grid_worker", "other_grid_worker", "property_manager"},
    "isolations": COMMUNITY_OFFICERS | {"compound_officer"},
    "isolation": COMMUNITY_OFFICERS | {"compound_officer"},
    "checkins": COMMUNITY_OFFICERS | {"compound_officer"},
    "notice": COMMUNITY_OFFICERS | {"compound_officer"},
    "notices": COMMUNITY_OFFICERS | {"compound_officer"},
    "chart": COMMUNITY_OFFICERS | {"compound_officer"},
    "settings": COMMUNITY_OFFICERS,
    "set": COMMUNITY_OFFICERS,
    "risk": COMMUNITY_OFFICERS,
    "clinic": COMMUNITY_OFFICERS,
    "compounds": COMMUNITY_OFFICERS,
    "compound": COMMUNITY_OFFICERS,
    "grid": {"admin"},
    "grant": {"admin"},
    "revoke": {"admin"},
    "roles": {"admin"},
    "audit": {"admin"},
    # personal commands: only a registered resident
    "household": {"resident"},
    "profile": {"resident"},
    "me": {"resident"},
    "invite": {"resident"},
}

REFUSALS = {
    "抱歉，您没有执行此操作的权限。",
    "只有社区干部可以发布通知。",
    "您还没有登记，请先发送 /start。",
    "请先完成住户登记（发送 /start），再进行报备。",
}


async def _users(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> dict[str, ChatUser]:
    await _extra_staff(sessionmaker, clock, community)
    users = {k: ChatUser(double, double.user(v, k)) for k, v in ACTORS.items()}
    await register(sessionmaker, clock, community, users["resident"])
    for user in users.values():
        await user.send("/help")  # everyone has a private chat with the bot
    return users


async def test_every_staff_and_personal_command_by_every_role(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    wrong = []
    for command, allowed in COMMANDS.items():
        for role in EVERYONE:
            answer = texts(await users[role].send(f"/{command}"))
            refused = answer in REFUSALS
            if refused == (role in allowed):
                wrong.append(f"/{command} by {role}: {answer[:60]!r}")
    assert wrong == []


async def _case(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    community: SeededCommunity,
    room: str,
) -> int:
    async with sessionmaker.begin() as session:
        case = await cases.open_case(
            session, clock, catalog, community_id=community.community_id, kind=CaseKind.SYMPTOM,
            urgent=True, household_id=community.household(room), details={"summary": "发热"},
        )  # fmt: skip
        return case.id


CASE_REFUSED = "抱歉，只有社区工作人员、该楼栋的网格员（物资求助还有志愿者）可以处理这个事件。"


@pytest.mark.parametrize(
    ("room", "allowed"),
    [
        # 1栋 is 第一网格: the grid worker of 第一网格, not the one of 第二网格
        ("阳光花园/1栋/1单元/102", COMMUNITY_OFFICERS | {"grid_worker"}),
        # 幸福里: the officer granted for 幸福里 acts as a community officer there
        ("幸福里/A座/1单元/102", COMMUNITY_OFFICERS | {"compound_officer"}),
    ],
)
async def test_case_buttons_and_details_in_and_out_of_scope(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    room: str,
    allowed: set[str],
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    case_id = await _case(sessionmaker, clock, catalog, community, room)
    wrong = []
    for role in EVERYONE:
        user = users[role]
        carrier = user.last()
        for data in (f"cdt:{case_id}", f"case:take:{case_id}", f"case:ack:{case_id}"):
            await user.press_data(data, carrier, strict=False)
            refused = user.answer_of_last_press() == CASE_REFUSED
            if refused == (role in allowed):
                wrong.append(f"{data} by {role}: {user.answer_of_last_press()!r}")
            carrier = user.last()
    assert wrong == []
    # /cases lists only what the scope reaches
    for role in ("compound_officer", "grid_worker", "other_grid_worker"):
        listed = f"#{case_id} " in texts(await users[role].send("/cases"))
        assert listed == (role in allowed), role
    # /case N: the card where the scope reaches; other case readers are told "not found"
    # (as for a number never used), everyone else is refused
    for role in EVERYONE:
        answer = texts(await users[role].send(f"/case {case_id}"))
        if role in allowed:
            assert answer.startswith(f"🚨 紧急 #{case_id} 症状报告\n状态："), role
        elif role in COMMANDS["cases"]:
            assert answer == f"没有找到事件 #{case_id}。", role
        else:
            assert answer in REFUSALS, role


async def test_join_requests_and_staff_registration_in_and_out_of_scope(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    room = "阳光花园/1栋/1单元/101"  # the resident's household (第一网格)
    allowed = {"resident"} | COMMUNITY_OFFICERS | {"grid_worker"}
    async with sessionmaker.begin() as session:
        from bot.services.households import apply_to_join

        request = await apply_to_join(
            session, clock, running_bot.catalog, telegram_user_id=6001, language="zh-CN",
            household_id=community.household(room), name="申请人", phone=None,
        )  # fmt: skip
        request_id = request.id
    wrong = []
    for role in EVERYONE:
        user = users[role]
        await user.press_data(f"jr:no:{request_id}", user.last(), strict=False)
        answer = user.answer_of_last_press()
        refused = answer == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
        if refused == (role in allowed):
            wrong.append(f"join decision by {role}: {answer!r}")
    assert wrong == []
    # staff registering on someone's behalf: 1栋 (第一网格) and 幸福里
    for target, ok in (
        ("阳光花园/1栋/2单元/101", COMMUNITY_OFFICERS | {"grid_worker"}),
        ("幸福里/A座/1单元/101", COMMUNITY_OFFICERS | {"compound_officer"}),
    ):
        for role in EVERYONE:
            answer = texts(await users[role].send(f"/register_for {target} 代{role[:4]}"))
            refused = answer == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
            if refused == (role in ok):
                wrong.append(f"/register_for {target} by {role}: {answer!r}")
    assert wrong == []
    # the ledger: a compound's staff get their compound, never another one
    replies = await users["compound_officer"].send("/ledger 阳光花园")
    assert texts(replies) == "抱歉，您没有执行此操作的权限。"
    replies = await users["property_manager"].send("/ledger 幸福里")
    assert texts(replies) == "抱歉，您没有执行此操作的权限。"
    assert "阳光花园" in texts(await users["property_manager"].send("/ledger"))


async def test_isolations_in_and_out_of_a_compound_officers_scope(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    ids = {}
    async with sessionmaker.begin() as session:
        for name, room in (
            ("阳光甲", "阳光花园/2栋/1单元/101"),
            ("幸福乙", "幸福里/A座/1单元/101"),
        ):
            person = Person(
                household_id=community.household(room), name=name, is_head=True,
                created_at=clock.now(),
            )  # fmt: skip
            session.add(person)
            await session.flush()
            isolation = Isolation(
                community_id=community.community_id, person_id=person.id,
                start_date=date(2022, 3, 5), end_date=date(2022, 3, 18), created_at=clock.now(),
            )  # fmt: skip
            session.add(isolation)
            await session.flush()
            ids[name] = isolation.id
    listed = texts(await users["compound_officer"].send("/isolations"))
    assert "幸福乙" in listed and "阳光甲" not in listed
    listed = texts(await users["officer"].send("/isolations"))
    assert "幸福乙" in listed and "阳光甲" in listed
    assert (
        texts(await users["compound_officer"].send("/isolation 阳光甲"))
        == "没有找到正在隔离的此人。"
    )
    refused = "抱歉，您没有执行此操作的权限。"
    for name, allowed in (("阳光甲", False), ("幸福乙", True)):
        user = users["compound_officer"]
        await user.press_data(f"iso:extend:{ids[name]}:3", user.last(), strict=False)
        assert (user.answer_of_last_press() == refused) != allowed, name
    user = users["grid_worker"]
    await user.press_data(f"iso:extend:{ids['幸福乙']}:3", user.last(), strict=False)
    assert user.answer_of_last_press() == refused


async def test_screening_in_and_out_of_a_compound(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    refused = "抱歉，您没有执行此操作的权限。"
    pm, co = users["property_manager"], users["compound_officer"]
    assert texts(await pm.send("/coverage")).startswith("入户排查覆盖情况 — 阳光花园")
    assert texts(await pm.send("/coverage 幸福里")) == refused
    assert texts(await pm.send("/coverage 第三网格")) == refused
    assert texts(await co.send("/coverage")).startswith("入户排查覆盖情况 — 幸福里")
    assert texts(await co.send("/coverage 阳光花园")) == refused
    # the building picker offers only the compound's buildings
    replies = await pm.send("/screen")
    labels = [text for row in double.inline_buttons(replies[-1]) for text, _ in row]
    assert labels == ["阳光花园 1栋", "阳光花园 2栋"]
    replies = await co.send("/screen")
    labels = [text for row in double.inline_buttons(replies[-1]) for text, _ in row]
    assert labels == ["幸福里 A座"]
    # forged buttons for a household of the other compound
    other = community.household("幸福里/A座/1单元/101")
    await pm.press_data(f"sco:{other}:done", pm.last(), strict=False)
    assert pm.answer_of_last_press() == refused
    await pm.press_data(f"scp:r:{other}", pm.last(), strict=False)
    assert pm.answer_of_last_press() == refused
    mine = community.household("阳光花园/2栋/1单元/101")
    await pm.press_data(f"sco:{mine}:done", pm.last(), strict=False)
    assert pm.answer_of_last_press() is None or pm.answer_of_last_press() != refused


# Staff buttons of other features, forged by every role: whoever lacks the role gets a
# refusal (or "expired"), never the action. (Allowed roles depend on the flow's state.)
FORGED: dict[str, set[str]] = {
    "aud:1": {"admin"},
    "ntc:next:0": COMMUNITY_OFFICERS | {"compound_officer"},
    "ntc:cancel:1": COMMUNITY_OFFICERS | {"compound_officer"},
    "gt:gate:1": COMMUNITY_OFFICERS | {"compound_officer", "property_manager", "guard"},
    "iso:early:1": COMMUNITY_OFFICERS | {"compound_officer"},
    "bind:1": set(),  # only in a group
    "pf:remove": {"resident"},
    "hh:invite": {"resident"},
}
NOT_DONE = {
    "抱歉，您没有执行此操作的权限。",
    "只有社区干部可以发布通知。",
    "这个按钮已失效，请重新开始操作（例如发送 /start）。",
    "您还没有登记，请先发送 /start。",
    "没有找到这个隔离记录。",
    "没有找到这条通知。",
}


async def test_forged_staff_buttons_by_every_role(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    wrong = []
    for data, allowed in FORGED.items():
        for role in EVERYONE:
            if role in allowed:
                continue
            user = users[role]
            await user.press_data(data, user.last(), strict=False)
            answer = user.answer_of_last_press()
            if answer not in NOT_DONE:
                wrong.append(f"{data} by {role}: {answer!r}")
    assert wrong == []


async def _compose(user: ChatUser, double: BotApiDouble, compound: str | None) -> list[str]:
    """/notice, a text, then the audience picker: returns its compound labels; picks
    `compound` (if given), then schedules for tomorrow 08:00 (a notice to cancel)."""
    await user.send("/notice")
    replies = await user.send(f"通知 {compound}")
    rows = double.inline_buttons(replies[-1])[1:]  # after the channel row (groups / private)
    labels = [text for row in rows for text, _ in row if "业主群" in text]
    if compound is not None:
        await user.press(f"{compound}业主群")
        await user.press("下一步 ➡️")
        await user.press_data(NoticeCb(action="at").pack(), user.last())
        await user.send("明天 8:00")
    return labels


async def test_notices_and_chart_in_and_out_of_a_compound_officers_scope(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    users = await _users(running_bot, double, community, sessionmaker, clock)
    co, officer = users["compound_officer"], users["officer"]
    # the picker offers the compound officer only 幸福里; a community officer every compound
    assert await _compose(officer, double, "阳光花园") == ["幸福里业主群", "阳光花园业主群"]
    assert await _compose(co, double, None) == ["幸福里业主群"]
    # a forged button choosing 阳光花园 is refused, politely
    sunny = community.compound_ids["阳光花园"]
    await co.press_data(NoticeCb(action="aud_c", arg=sunny).pack(), co.last(), strict=False)
    assert co.answer_of_last_press() == "没有找到这个小区。"
    # residents alone (no compound) would be the whole community: refused at send time
    await co.press("直接发给居民")
    await co.press("下一步 ➡️")
    await co.press_data(NoticeCb(action="now").pack(), co.last(), strict=False)
    assert co.answer_of_last_press() == (
        "请至少选择一个您负责的小区（住户和隔离人员也只限于所选小区）。"
    )
    assert await _compose(co, double, "幸福里") == ["幸福里业主群"]
    async with sessionmaker() as session:
        ids = {
            n.audience["compounds"][0]: n.id
            for n in await session.scalars(select(Notice).order_by(Notice.id))
        }
    mine, theirs = ids[community.compound_ids["幸福里"]], ids[sunny]
    # /notices: the compound officer sees only 幸福里's; the community officer both
    listed = texts(await co.send("/notices"))
    assert f"#{mine}" in listed and f"#{theirs}" not in listed
    listed = texts(await officer.send("/notices"))
    assert f"#{mine}" in listed and f"#{theirs}" in listed
    # cancelling the other compound's notice is refused; their own works
    await co.press_data(NoticeCb(action="cancel", arg=theirs).pack(), co.last(), strict=False)
    assert co.answer_of_last_press() == "没有找到这条通知。"
    await co.press_data(NoticeCb(action="cancel", arg=mine).pack(), co.last(), strict=False)
    assert co.answer_of_last_press() != "没有找到这条通知。"
    async with sessionmaker() as session:
        assert (await session.get(Notice, mine)).status == "cancelled"  # type: ignore[union-attr]
        assert (await session.get(Notice, theirs)).status == "scheduled"  # type: ignore[union-attr]
    # /chart: the compound officer gets a chart; a grid worker none
    replies = await co.send("/chart")
    assert [bool(m.photo) for m in replies] == [True]
    assert texts(await users["grid_worker"].send("/chart")) == "抱歉，您没有执行此操作的权限。"
