"""Issue 16's acceptance, through the Bot API double in both languages: a building of 40
households is sealed (3 elderly living alone, 1 dialysis patient, 1 pregnant woman); the
residents and the owners' group get their notices, the grid worker the care-first list;
3 volunteers on a delivery shift deliver 30 supply requests; 2 requests left waiting
become overdue cases; the officers' per-building view and the ledger show it all."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    Building,
    Case,
    Community,
    GroupChat,
    Household,
    Role,
    ScopeType,
    SupplyRequest,
    Unit,
)
from bot.double import BotApiDouble
from bot.services.identity import ensure_staff_person, grant_role
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, VOLUNTEER_ID, SeededCommunity
from tests.support.ledger_rows import add_person

GROUP = -100555
OFFICERS = -100556
VOLUNTEERS = (VOLUNTEER_ID, 9021, 9022)
FIRST_RESIDENT = 70000


async def _building_of_40(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
    double: BotApiDouble,
) -> list[tuple[int, str, str]]:
    """9栋 of 阳光花园 (grid 第一网格): 4 units × 10 rooms, one resident with Telegram in
    each; even ones write Chinese, odd ones English. Returns (tg, name, address)."""
    people = []
    async with sessionmaker.begin() as session:
        building = Building(
            compound_id=community.compound_ids["阳光花园"], grid_id=community.grid_ids["第一网格"],
            name="9栋",
        )  # fmt: skip
        session.add(building)
        await session.flush()
        for u in range(1, 5):
            unit = Unit(building_id=building.id, name=f"{u}单元")
            session.add(unit)
            await session.flush()
            for r in range(1, 11):
                household = Household(unit_id=unit.id, room=f"{(r + 1) // 2}0{2 - r % 2}")
                session.add(household)
                await session.flush()
                index = len(people)
                tg = FIRST_RESIDENT + index
                name = f"居民{index:02d}" if index % 2 == 0 else f"Resident{index:02d}"
                person = await add_person(session, name, household.id, clock.now(), tg)
                person.language = "zh-CN" if index % 2 == 0 else "en"
                people.append((tg, name, f"阳光花园 9栋 {unit.name} {household.room}"))
                double.private_chat(double.user(tg, name))
                double.started.add(tg)
        session.add(
            GroupChat(chat_id=GROUP, compound_id=community.compound_ids["阳光花园"],
                      title="阳光花园业主群", bound_at=clock.now())
        )  # fmt: skip
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.officer_chat_id = OFFICERS
        for tg, name in ((9021, "钱志愿"), (9022, "Vera")):
            volunteer = await ensure_staff_person(session, clock, telegram_user_id=tg, name=name)
            volunteer.language = "en" if name == "Vera" else "zh-CN"
            await grant_role(
                session, clock, person=volunteer, role=Role.VOLUNTEER,
                scope_type=ScopeType.GRID, scope_id=community.grid_ids["第一网格"], by=None,
            )  # fmt: skip
    double.group(GROUP, "阳光花园业主群")
    double.group(OFFICERS, "干部群")
    for tg in (*VOLUNTEERS, GRID_WORKER_ID, OFFICER_ID):
        double.private_chat(double.user(tg, str(tg)))
        double.started.add(tg)
    return people


async def test_a_sealed_building_of_40_households(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    people = await _building_of_40(sessionmaker, community, clock, double)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    volunteers = [
        ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿")),
        ChatUser(double, double.user(9021, "钱志愿")),
        ChatUser(double, double.user(9022, "Vera", language_code="en")),
    ]
    residents = [
        ChatUser(double, double.user(tg, name, language_code="zh-hans" if i % 2 == 0 else "en"))
        for i, (tg, name, _) in enumerate(people)
    ]

    # Care flags: 3 elderly living alone, 1 dialysis patient, 1 pregnant woman.
    flags = (
        (0, "elderly_alone", ""), (7, "elderly_alone", ""), (22, "elderly_alone", ""),
        (13, "dialysis", "每周二四六 8:00 市一医院"), (30, "pregnant", "2022-04-02"),
    )  # fmt: skip
    for index, kind, detail in flags:
        _, name, address = people[index]
        replies = await officer.send(f"/care_add {address} {name} {kind} {detail}".strip())
        assert (replies[0].content or "").startswith("✅ 已为"), replies[0].content

    # Sealing: 40 private notices in each resident's language, one anonymised group notice.
    replies = await officer.send("/seal 阳光花园 9栋 封控 2022-03-24")
    assert [m.content for m in replies] == [
        "✅ 阳光花园 9栋 已设为封控，计划至 2022-03-24。\n"
        "已通知 40 位居民（私信）和本小区业主群（不含个人信息）。"
    ]
    await running_bot.drain()
    zh_notice = (
        "📢 阳光花园 9栋 自 2022-03-10 09:00 起实行封控，计划至 2022-03-24。\n"
        "封控期间请足不出户，生活物资和药品可在本机器人中申请（/supply），由志愿者送到门口。"
    )
    en_notice = (
        "📢 From 2022-03-10 09:00, 阳光花园 9栋 is sealed, planned until 2022-03-24.\n"
        "While sealed, please stay at home. Ask for supplies and medicine in this bot "
        "(/supply); volunteers bring them to your door."
    )
    for i, resident in enumerate(residents):
        assert [m.content for m in double.messages(resident.id)] == [
            zh_notice if i % 2 == 0 else en_notice
        ]
    assert [m.content for m in double.messages(GROUP)] == [zh_notice]
    assert worker.last().content == (
        "🔒 阳光花园 9栋 已封控。请先联系以下需要照顾的居民：\n"
        "1. 居民00 阳光花园 9栋 1单元 101：独居老人\n"
        "2. Resident07 阳光花园 9栋 1单元 402：独居老人\n"
        "3. Resident13 阳光花园 9栋 2单元 202：透析（每周二四六 8:00 市一医院）\n"
        "4. 居民22 阳光花园 9栋 3单元 201：独居老人\n"
        "5. 居民30 阳光花园 9栋 4单元 101：孕妇（2022-04-02）\n"
        "其余 35 户按常规联系。他们每天会收到平安确认，未回复的会作为待办事件推送给您。"
    )

    # A delivery shift now, 3 places; the 3 volunteers sign up and pass the self-check.
    await officer.send("/shift_add delivery 阳光花园 2022-03-10 09:30-13:30 3")
    for volunteer in volunteers:
        await volunteer.send("/shifts")
        await volunteer.press("#1")
    clock.advance(timedelta(minutes=30))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    for volunteer, button in zip(
        volunteers,
        ("✅ 已戴口罩、体温正常，开始值班", "✅ 已戴口罩、体温正常，开始值班",
         "✅ Mask on, temperature normal: start"),
        strict=True,
    ):  # fmt: skip
        replies = await volunteer.press(button)
        assert replies[-1].content in (
            "✅ 已确认上岗。谢谢您的付出，注意防护！",
            "✅ Start confirmed. Thank you, and stay safe!",
        )

    # The same tick asked the 5 people who need care whether they are all right: 3 are
    # fine, the pregnant woman needs help (urgent case), one elderly does not answer.
    for index, button in ((0, "🙂 我很好"), (7, "🙂 I'm fine"), (13, "🙂 I'm fine"),
                          (30, "🆘 需要帮助")):  # fmt: skip
        await residents[index].press(button)
    async with sessionmaker() as session:
        found = [(c.kind, c.urgent) for c in await session.scalars(select(Case))]
        assert found == [("care_check", True)]

    # 32 households ask for a food pack (in their own language).
    for resident in residents[:32]:
        await resident.send("/supply")
        await resident.press("🥬")
    # The 3 volunteers deliver 30 of them, 10 each; the households confirm.
    delivered = 0
    for volunteer in volunteers:
        for _ in range(10):
            replies = await volunteer.send("/deliveries")
            await volunteer.press("#", replies[0])
            replies = await volunteer.press("✅")
            assert (replies[-1].content or "").startswith("✅ #"), replies[-1].content
            delivered += 1
    await running_bot.drain()
    confirmed = 0
    for resident in residents[:32]:
        last = resident.last()
        if "📦" in (last.content or ""):
            await resident.press("✅", last)
            confirmed += 1
    assert delivered == confirmed == 30

    # Four hours later the 2 requests nobody took are overdue: 2 cases, once; the
    # silent elderly resident becomes a call task for the grid worker.
    clock.advance(timedelta(hours=4))
    await tick(running_bot.application.job_context())
    await tick(running_bot.application.job_context())
    async with sessionmaker() as session:
        statuses = sorted(r.status for r in await session.scalars(select(SupplyRequest)))
        assert statuses == ["confirmed"] * 30 + ["open"] * 2
        overdue = list(await session.scalars(select(Case).where(Case.kind == "supply_overdue")))
        assert len(overdue) == 2
        care_cases = list(await session.scalars(select(Case).where(Case.kind == "care_check")))
        assert sorted(c.urgent for c in care_cases) == [False, True]
    replies = await officer.send("/supplies")
    assert [m.content for m in replies] == [
        "物资配送情况（超过 240 分钟未送达即为超时）\n"
        "阳光花园 9栋：待领取 2，配送中 0，已送达 30，⏰ 超时 2"
    ]

    # The ledger of the day, in English: the status, the 32 requests, the care list, the
    # 2 overdue cases.
    officer_en = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await officer_en.send("/language")
    await officer_en.press("English")
    replies = await officer_en.send("/ledger today 阳光花园")
    docs = [m for m in replies if m.document is not None]
    assert len(docs) == 2
    assert docs[0].caption == (
        "Ledger 2022-03-10, 阳光花园: 0 reports, 0 check-ins, 0 gate entries, 4 cases, "
        "1 building status, 32 supply requests."
    )
    book = load_workbook(io.BytesIO(double.file(docs[0].document["file_id"]).content))  # type: ignore[index]
    statuses_sheet = list(book["Building statuses"].values)
    assert statuses_sheet[1][1:5] == ("阳光花园", "阳光花园 9栋", "sealed", "2022-03-10 09:00")
    supplies_sheet = list(book["Supplies and medicine"].values)
    assert len(supplies_sheet) == 33
    assert sum(1 for row in supplies_sheet[1:] if row[7] == "Received") == 30
    care_sheet = list(book["Care list"].values)
    assert sorted(row[5] for row in care_sheet[1:]) == [
        "Dialysis",
        "Elderly, living alone",
        "Elderly, living alone",
        "Elderly, living alone",
        "Pregnant",
    ]
    cases_sheet = list(book["Cases"].values)
    assert [row[2] for row in cases_sheet[1:]] == [
        "Care check: needs help or did not answer",
        "Supplies request overdue",
        "Supplies request overdue",
        "Care check: needs help or did not answer",
    ]
