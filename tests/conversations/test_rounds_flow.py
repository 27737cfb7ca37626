"""A testing round from announcement to closing cases, through the Bot API double, in both
languages (issue 15, R-ROUND): 3 buildings, 60 people (10 without Telegram, 3 tested at
the door, 5 not tested); the grid worker sees exactly the 5; the ledger has the round."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    Case,
    Community,
    Delivery,
    Isolation,
    Person,
    PersonCode,
    RoundPerson,
)
from bot.double import BotApiDouble
from bot.services import case_text, ledger
from scheduler import JobContext, tick
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import (
    GRID_WORKER_ID,
    OFFICER_ID,
    VOLUNTEER_ID,
    SeededCommunity,
)
from tests.support.rounds import HAPPY_GROUP, OFFICER_CHAT, SUN_GROUP, seed_round_world

NOT_TESTED = ["甲户主2", "甲户主3", "甲户主4", "甲户主5", "甲户主6"]

EXPECTED = {
    "zh-CN": {
        "created": (
            "📝 核酸轮次 #1（草稿）\n"
            "日期：2022-03-11　对象：全员\n"
            "阳光花园 1栋：08:00-09:00 东门采样点\n"
            "阳光花园 2栋：09:00-10:00 东门采样点\n"
            "幸福里 A座：10:00-11:00 幸福里门口\n"
            "上门检测：2 户\n"
            "确认无误后点“发布”，会通知各小区业主群和每户居民。"
        ),
        "group_sun": (
            "📢 核酸检测通知（阳光花园）\n"
            "2022-03-11 开展核酸检测，请按楼栋时段到采样点，戴好口罩、保持一米距离：\n"
            "1栋：08:00-09:00 东门采样点\n"
            "2栋：09:00-10:00 东门采样点\n"
            "行动不便的居民请私聊本机器人或联系网格员，工作人员会上门采样。"
        ),
        "household": (
            "🧪 核酸检测通知\n"
            "2022-03-11 阳光花园 1栋 的采样时段：08:00-09:00，地点：东门采样点。\n"
            "本户需要检测：\n"
            "· 甲户主1\n"
            "· 甲家人1（工作人员上门采样）\n"
            "请带上个人核酸码（发送 /mycode 查看）。已经做完可以点下面的按钮自行登记。"
        ),
        "remind": (
            "⏰ 核酸检测提醒\n"
            "阳光花园 1栋 的采样时段 08:00-09:00 就要到了，地点：东门采样点。\n"
            "本户还未检测：\n"
            "· 甲户主2\n"
            "· 甲家人2"
        ),
        "todo": (
            "📋 核酸轮次 #1 2022-03-11 未检测名单（第一网格）\n"
            "共 5 人\n"
            "1. 甲户主2 · 阳光花园 1栋 1单元 102\n"
            "2. 甲户主3 · 阳光花园 1栋 1单元 201\n"
            "3. 甲户主4 · 阳光花园 1栋 1单元 202\n"
            "4. 甲户主5 · 阳光花园 1栋 1单元 301\n"
            "5. 甲户主6 · 阳光花园 1栋 1单元 302\n"
            "上门采样后点“已上门”；免检或外出请点按钮后写明原因或去向。"
        ),
        "progress": (
            "📊 核酸轮次 #1 2022-03-11（进行中）\n"
            "阳光花园 1栋：已检 19/24，未检 5\n"
            "阳光花园 2栋：已检 24/24\n"
            "幸福里 A座：已检 12/12\n"
            "合计：已检 55/60（92%），未检 5"
        ),
        "closed": "🔒 核酸轮次 #1 已结束，未检测的 5 户已转为事件。",
        "scan_ok": "✅ 已登记检测：甲家人1（阳光花园 1栋 1单元 101），核酸轮次 #1。",
        "scan_again": ("ℹ️ 甲家人1（阳光花园 1栋 1单元 101）在核酸轮次 #1 已经登记过，不重复计数。"),
        "code_for_staff": "这是个人核酸码，请在采样点出示给工作人员扫描。",
        "announce": "📢 发布",
        "close": "🔒 结束本轮",
        "self": "✅ 登记已检测",
        "case_kind": "核酸轮次未检测",
        "sheet": "核酸轮次",
    },
    "en": {
        "created": (
            "📝 Testing round #1 (draft)\n"
            "Date: 2022-03-11　Who: everyone\n"
            "阳光花园 1栋: 08:00-09:00 东门采样点\n"
            "阳光花园 2栋: 09:00-10:00 东门采样点\n"
            "幸福里 A座: 10:00-11:00 幸福里门口\n"
            "Tested at the door: 2 households\n"
            'When it is right, press "Announce": the owners\' groups and every household are told.'
        ),
        "group_sun": (
            "📢 Testing notice (阳光花园)\n"
            "Testing on 2022-03-11. Please come to the site in your building's slot, with a "
            "mask, one metre apart:\n"
            "1栋: 08:00-09:00 东门采样点\n"
            "2栋: 09:00-10:00 东门采样点\n"
            "Residents who cannot come down: message this bot privately or your grid worker; "
            "staff will come to the door."
        ),
        "household": (
            "🧪 Testing notice\n"
            "2022-03-11, slot for 阳光花园 1栋: 08:00-09:00, at 东门采样点.\n"
            "To be tested in your household:\n"
            "· 甲户主1\n"
            "· 甲家人1 (staff come to the door)\n"
            "Bring the personal codes (send /mycode). Already tested? Record it with the "
            "button below."
        ),
        "remind": (
            "⏰ Testing reminder\n"
            "The slot for 阳光花园 1栋, 08:00-09:00, is about to start, at 东门采样点.\n"
            "Not tested yet in your household:\n"
            "· 甲户主2\n"
            "· 甲家人2"
        ),
        "todo": (
            "📋 Testing round #1 2022-03-11: not tested yet (第一网格)\n"
            "5 people\n"
            "1. 甲户主2 · 阳光花园 1栋 1单元 102\n"
            "2. 甲户主3 · 阳光花园 1栋 1单元 201\n"
            "3. 甲户主4 · 阳光花园 1栋 1单元 202\n"
            "4. 甲户主5 · 阳光花园 1栋 1单元 301\n"
            "5. 甲户主6 · 阳光花园 1栋 1单元 302\n"
            'After sampling at the door press "visited"; for exempt or away press the button '
            "and write the reason or where."
        ),
        "progress": (
            "📊 Testing round #1 2022-03-11 (in progress)\n"
            "阳光花园 1栋: tested 19/24, not yet 5\n"
            "阳光花园 2栋: tested 24/24\n"
            "幸福里 A座: tested 12/12\n"
            "Total: tested 55/60 (92%), not yet 5"
        ),
        "closed": ("🔒 Testing round #1 closed; households with people not tested, now cases: 5."),
        "scan_ok": "✅ Tested: 甲家人1 (阳光花园 1栋 1单元 101), testing round #1.",
        "scan_again": (
            "ℹ️ 甲家人1 (阳光花园 1栋 1单元 101) is already recorded in testing round #1; "
            "not counted twice."
        ),
        "code_for_staff": (
            "This is a personal testing code: show it to the staff at the test site."
        ),
        "announce": "📢 Announce",
        "close": "🔒 Close the round",
        "self": "✅ Record as tested",
        "case_kind": "Not tested in a testing round",
        "sheet": "Testing rounds",
    },
}

SPEC = {
    "zh-CN": (
        "/round_new 2022-03-11 全员\n"
        "阳光花园 1栋 08:00-09:00 东门采样点\n"
        "阳光花园 2栋 09:00-10:00 东门采样点\n"
        "幸福里 10:00-11:00 幸福里门口\n"
        "上门 阳光花园 1栋 1单元 101 甲家人1\n"
        "上门 阳光花园 2栋 1单元 101"
    ),
    "en": (
        "/round_new 2022-03-11 everyone\n"
        "阳光花园 1栋 08:00-09:00 东门采样点\n"
        "阳光花园 2栋 09:00-10:00 东门采样点\n"
        "幸福里 10:00-11:00 幸福里门口\n"
        "door 阳光花园 1栋 1单元 101 甲家人1\n"
        "door 阳光花园 2栋 1单元 101"
    ),
}


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2022, 3, 11, hour, minute, tzinfo=SHANGHAI)


async def _token(sessionmaker: async_sessionmaker[AsyncSession], person_id: int) -> str:
    from bot.services.rounds import code_for

    async with sessionmaker.begin() as session:
        return await code_for(session, FakeClock(_at(7)), person_id)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_round_from_announcement_to_closing_cases(
    locale: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    x = EXPECTED[locale]
    lang = "en" if locale == "en" else "zh-hans"
    world = await seed_round_world(double, sessionmaker, clock, community, locale=locale)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code=lang))
    volunteer = ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿", language_code=lang))
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格", language_code=lang))
    await worker.send("/help")  # the grid worker has opened the bot
    app = running_bot.application
    ctx = JobContext(sessionmaker, clock, app.settings, app.catalog)

    # The officer writes the round (3 buildings: two by name, one through its compound).
    replies = await officer.send(SPEC[locale])
    assert [m.content for m in replies] == [x["created"]]
    replies = await officer.press(x["announce"])
    await running_bot.drain()
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(RoundPerson)) == 60
        doors = await session.scalar(
            select(func.count()).select_from(RoundPerson).where(RoundPerson.door_to_door)
        )
        assert doors == 3
    sun = [m.content for m in double.messages(SUN_GROUP)]
    assert sun == [x["group_sun"]]
    happy = double.messages(HAPPY_GROUP)
    assert len(happy) == 1 and "A座" in (happy[0].content or "")
    # Groups get no personal data: no resident's name.
    assert not any(name in (m.content or "") for m in happy for name in world.people)
    assert not any(name in (s or "") for s in sun for name in world.people)
    # One private notice per household (26), to its head, with its slot.
    notices = [
        m
        for tg in world.telegram.values()
        for m in double.messages(tg)
        if m.content and ("🧪" in m.content)
    ]
    assert len(notices) == 26
    head1 = ChatUser(double, double.user(world.telegram["甲户主1"], "甲户主1"))
    assert head1.last().content == x["household"]

    # Before 1栋's slot, households with someone not tested are reminded (once).
    clock.set(_at(7, 40))
    await tick(ctx)
    await tick(ctx)
    await running_bot.drain()
    async with sessionmaker() as session:
        reminders = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.kind == "round_remind")
        )
    assert reminders == 12  # 1栋's 12 households; 2栋 and A座 are not due yet
    head2 = ChatUser(double, double.user(world.telegram["甲户主2"], "甲户主2"))
    assert head2.last().content == x["remind"]

    # The head shows the code of the member without Telegram; the volunteer scans it at
    # the door (it counts once, however often it is scanned); a resident cannot use it.
    await head1.send("/mycode")
    await head1.press("甲家人1")
    photo = double.messages(head1.id)[-1]
    assert photo.kind == "photo"
    async with sessionmaker() as session:
        code = await session.get(PersonCode, world.people["甲家人1"])
        assert code is not None and len(code.token) >= 16
    replies = await volunteer.send(f"/start p_{code.token}")
    assert [m.content for m in replies] == [x["scan_ok"]]
    replies = await volunteer.send(f"/start p_{code.token}")
    assert [m.content for m in replies] == [x["scan_again"]]
    stranger = ChatUser(double, double.user(world.telegram["乙户主3"], "乙户主3"))
    replies = await stranger.send(f"/start p_{code.token}")
    assert [m.content for m in replies] == [x["code_for_staff"]]
    replies = await volunteer.send("/start p_notavalidtoken000")
    assert replies and "p_" not in (replies[0].content or "")

    # The door-to-door household of 2栋 is ticked in the household list.
    await volunteer.send("/round_tick")
    await volunteer.press("阳光花园 2栋")
    await volunteer.press("1单元 101")
    await volunteer.press("乙户主1")
    replies = await volunteer.press("乙家人1")
    assert "✅ 乙户主1" in str(double.inline_buttons(replies[-1]))

    # A household of A座 self-reports, with a photo of the result screen.
    head_c = ChatUser(double, double.user(world.telegram["丙1号1"], "丙1号1"))
    await head_c.press(x["self"])
    for k in range(1, 7):
        await head_c.press(f"丙1号{k}")
    mark = double.mark()
    update = double.send_photo(head_c.user)
    await double.wait_processed(update, timeout=10)
    assert head_c.replies_since(mark, head_c.id)
    async with sessionmaker() as session:
        photos = await session.scalar(
            select(func.count())
            .select_from(RoundPerson)
            .where(RoundPerson.photo_file_id.is_not(None), RoundPerson.method == "self")
        )
        assert photos == 6

    # Everyone else but the 5 is scanned at the site.
    done = {"甲家人1", "乙户主1", "乙家人1", *(f"丙1号{k}" for k in range(1, 7))}
    for name, person_id in world.people.items():
        if name in done or name in NOT_TESTED:
            continue
        replies = await volunteer.send(f"/start p_{await _token(sessionmaker, person_id)}")
        assert len(replies) == 1 and (replies[0].content or "").startswith("✅")

    # Live progress for the officer.
    replies = await officer.send("/round")
    assert [m.content for m in replies] == [x["progress"]]

    # When 1栋's slot is over, the grid worker gets exactly the 5 not tested.
    clock.set(_at(9, 1))
    await tick(ctx)
    await tick(ctx)
    await running_bot.drain()
    todo = [m for m in double.messages(GRID_WORKER_ID) if m.content and "📋" in m.content]
    assert [m.content for m in todo] == [x["todo"]]
    assert len(double.inline_buttons(todo[0])) == 5

    # The officer closes the round: the 5 households become cases, with no names.
    cards_before = len(double.messages(OFFICER_CHAT))
    await officer.send("/round 1")
    replies = await officer.press(x["close"])
    assert x["closed"] in [m.content for m in replies]
    await running_bot.drain()
    cards = double.messages(OFFICER_CHAT)[cards_before:]
    assert len(cards) == 5
    assert all(x["case_kind"] in (c.content or "") for c in cards)
    assert not any(name in (c.content or "") for c in cards for name in world.people)
    async with sessionmaker() as session:
        kinds = list(await session.scalars(select(Case.kind)))
        assert kinds == ["round_missed"] * 5
        first = await session.scalar(select(Case).order_by(Case.id))
        assert first is not None
        assert (
            case_text.summary_text(running_bot.catalog, "en", first.details)
            == "Testing round #1: 1 person of this household not tested"
        )
        community_row = await session.get(Community, community.community_id)
        assert community_row is not None
        files = await ledger.export_ledger(
            session,
            clock,
            ledger.LedgerRequest(community_row, date(2022, 3, 11), date(2022, 3, 11)),
            label=lambda key, **p: app.catalog.render(locale, key, **p),
            directory=tmp_path,
        )
    # The ledger has the round: one row per person expected.
    assert files.counts["test_rounds"] == 60
    book = load_workbook(files.xlsx)
    sheet = book[x["sheet"]]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 61
    assert sum(1 for r in rows[1:] if r[4] in NOT_TESTED) == 5


async def test_positives_exempt_and_away_and_forged_buttons(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    from bot.presentation.callbacks import CodeCb, RoundCb, RoundMarkCb

    world = await seed_round_world(double, sessionmaker, clock, community)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    await officer.send(
        "/round_new 2022-03-10\n阳光花园 1栋 10:00-11:00 东门\n阳光花园 2栋 10:00-11:00 东门"
    )
    await officer.press("📢 发布")
    # The grid worker of 第一网格 asks for the list now (/round_todo) and marks two people.
    replies = await worker.send("/round_todo")
    assert "共 24 人" in (replies[0].content or "")
    names = [line for line in (replies[0].content or "").splitlines() if line[:2] == "1."]
    assert names == ["1. 甲户主1 · 阳光花园 1栋 1单元 101"]
    await worker.press("1 免检")
    replies = await worker.send("卧床，医生上门")
    assert [m.content for m in replies] == ["已登记 甲户主1 免检：卧床，医生上门"]
    replies = await worker.send("/round_todo")
    assert "共 23 人" in (replies[0].content or "")
    await worker.press("1 外出")
    replies = await worker.send("在杭州出差")
    assert [m.content for m in replies] == ["已登记 甲家人1 外出：在杭州出差"]
    replies = await worker.send("/round_todo")
    await worker.press("1 已上门")
    assert worker.answer_of_last_press() == "已登记 甲户主2 上门采样"
    # A person of 2栋 (another grid) through a forged button: refused, nothing changes.
    other = world.people["乙户主1"]
    msg = worker.last()
    await worker.press_data(
        RoundMarkCb(action="v", round_id=1, person_id=other).pack(), msg, strict=False
    )
    assert "只有负责该楼栋" in (worker.answer_of_last_press() or "")
    await worker.press_data(
        RoundMarkCb(action="zz", round_id=1, person_id=other).pack(), msg, strict=False
    )
    assert worker.answer_of_last_press()
    # A resident cannot open the progress or close the round, nor show another
    # household's code; a volunteer cannot create a round.
    resident = ChatUser(double, double.user(world.telegram["乙户主1"], "乙户主1"))
    replies = await resident.send("/round")
    assert "权限" in (replies[0].content or "")
    replies = await resident.send("/mycode")
    await resident.press_data(
        CodeCb(person_id=world.people["甲家人1"]).pack(), replies[0], strict=False
    )
    assert "权限" in (resident.answer_of_last_press() or "")
    await resident.press_data(RoundCb(action="close", round_id=1).pack(), replies[0], strict=False)
    assert "权限" in (resident.answer_of_last_press() or "")
    volunteer = ChatUser(double, double.user(VOLUNTEER_ID, "赵志愿"))
    replies = await volunteer.send("/round_new 2022-03-11\n全部 08:00-09:00 东门")
    assert "权限" in (replies[0].content or "")
    for bad in ("/round ²", "/round 99", "/round_todo abc"):
        replies = await (worker if "todo" in bad else officer).send(bad)
        assert len(replies) == 1 and "没有找到核酸轮次" in (replies[0].content or "")
    replies = await officer.send("/round_new 2022-03-11\n阳光花园 1栋 九点 东门")
    assert [m.content for m in replies] == [
        "看不懂这一行：“阳光花园 1栋 九点 东门”。请写：楼栋 08:00-09:00 采样点。"
    ]
    async with sessionmaker() as session:
        statuses = dict(
            (
                await session.execute(
                    select(RoundPerson.person_id, RoundPerson.status).where(
                        RoundPerson.person_id.in_(
                            [world.people[n] for n in ("甲户主1", "甲家人1", "甲户主2", "乙户主1")]
                        )
                    )
                )
            ).all()
        )
    assert statuses == {
        world.people["甲户主1"]: "exempt",
        world.people["甲家人1"]: "away",
        world.people["甲户主2"]: "tested",
        world.people["乙户主1"]: "pending",
    }

    # Lab positives: one matched by phone-less address + name, one line unmatched.
    await officer.send("/round_positives 1")
    replies = await officer.send("姓名,楼栋,单元,房号\n乙户主1,2栋,1单元,101\n无此人,2栋,1单元,101")
    assert [m.content for m in replies] == [
        "🧾 核酸轮次 #1 阳性名单导入：匹配 1 人。\n"
        "· 乙户主1（已开始居家隔离，已生成紧急事件）\n"
        "未能匹配的行：3，请核对后重新导入。"
    ]
    async with sessionmaker() as session:
        isolation = await session.scalar(select(Isolation))
        assert isolation is not None and isolation.person_id == other
        case = await session.scalar(select(Case).where(Case.kind == "round_positive"))
        assert case is not None and case.urgent
        assert (
            case_text.summary_text(running_bot.catalog, "en", case.details)
            == "Testing round #1: positive result; home isolation started"
        )
    # Importing the same list again changes nothing.
    await officer.send("/round_positives 1")
    replies = await officer.send("姓名,楼栋,单元,房号\n乙户主1,2栋,1单元,101")
    assert "已导入过 1 人" in (replies[0].content or "")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Isolation)) == 1


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _send_file(
    double: BotApiDouble, user: ChatUser, name: str, content: bytes, caption: str | None = None
) -> list[str | None]:
    mark = double.mark()
    update = double.send_document(user.user, name, content, caption=caption)
    await double.wait_processed(update, timeout=30)
    return [m.content for m in user.replies_since(mark, user.id)]


async def test_lab_positives_as_csv_or_xlsx_file(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The lab's file, uploaded (getFile + download through the double), is read like a
    pasted list: same header, same matching, same limits; formulas are never evaluated."""
    world = await seed_round_world(double, sessionmaker, clock, community)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await officer.send("/round_new 2022-03-10\n阳光花园 2栋 10:00-11:00 东门")
    await officer.press("📢 发布")
    async with sessionmaker.begin() as session:
        person = await session.get(Person, world.people["乙户主2"])
        assert person is not None
        person.phone = "+8613800010002"

    replies = [m.content for m in await officer.send("/round_positives 1")]
    assert replies == [
        "请发送核酸轮次 #1 的阳性名单：粘贴 CSV 文本（第一行表头：姓名,电话,楼栋,单元,房号），"
        "或直接发送检测机构的 CSV / XLSX 文件。发送 /cancel 放弃。"
    ]
    # Not a list: a polite answer, and the officer can still send the right file.
    assert await _send_file(double, officer, "report.pdf", b"%PDF-1.4") == [
        "请以 CSV 或 XLSX 文件发送名单（也可以直接粘贴文本）。"
    ]
    assert await _send_file(double, officer, "lab.xlsx", b"PK\x03\x04 not a workbook") == [
        "无法读取这个文件。请另存为 CSV（UTF-8）或 XLSX 后重新发送，或直接粘贴名单文本。"
    ]
    assert await _send_file(double, officer, "lab.csv", b"a,b\n" + b"x" * 1_000_000) == [
        "文件太大（最多 1000 KB）。请拆分后依次导入。"
    ]
    too_many = "姓名,楼栋,单元,房号\n" + "某人,2栋,1单元,101\n" * 5001
    assert await _send_file(double, officer, "lab.csv", too_many.encode()) == [
        "名单行数太多（最多 5000 行）。请拆分后依次导入。"
    ]
    # The XLSX: a phone typed as a number, a name by address, a formula (never evaluated,
    # read as an empty cell, so its line is not matched), a stranger.
    workbook = _xlsx(
        [
            ["姓名", "电话", "楼栋", "单元", "房号"],
            ["乙户主2", 8613800010002, None, None, None],
            ["乙户主1", None, "2栋", "1单元", "101"],
            ['=HYPERLINK("http://x","乙家人1")', None, "2栋", "1单元", "101"],
            ["无此人", None, "2栋", "1单元", "101"],
        ]
    )
    assert await _send_file(double, officer, "阳性名单.XLSX", workbook) == [
        "🧾 核酸轮次 #1 阳性名单导入：匹配 2 人。\n"
        "· 乙户主2（已开始居家隔离，已生成紧急事件）\n"
        "· 乙户主1（已开始居家隔离，已生成紧急事件）\n"
        "未能匹配的行：4、5，请核对后重新导入。"
    ]
    async with sessionmaker() as session:
        isolated = set(await session.scalars(select(Isolation.person_id)))
        assert isolated == {world.people["乙户主2"], world.people["乙户主1"]}
        cases = await session.scalar(
            select(func.count()).select_from(Case).where(Case.kind == "round_positive")
        )
        assert cases == 2
    # A GB18030 CSV sent with the command as its caption, no state needed; the two already
    # imported are not imported twice.
    csv_text = "姓名,楼栋,单元,房号\n乙户主1,2栋,1单元,101\n乙户主3,2栋,1单元,201\n"
    replies = await _send_file(
        double, officer, "lab.csv", csv_text.encode("gb18030"), caption="/round_positives 1"
    )
    assert replies == [
        "🧾 核酸轮次 #1 阳性名单导入：匹配 1 人，已导入过 1 人。\n"
        "· 乙户主3（已开始居家隔离，已生成紧急事件）"
    ]
    # A resident's file with that caption is refused like the command.
    resident = ChatUser(double, double.user(world.telegram["乙户主4"], "乙户主4"))
    replies = await _send_file(double, resident, "lab.csv", csv_text.encode(), "/round_positives 1")
    assert len(replies) == 1 and replies[0] is not None and "阳性" not in replies[0]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Isolation)) == 3
