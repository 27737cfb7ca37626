"""Door visits that cover people (issue 15, R-SCREEN): who was there, temperatures and a
fever found (→ urgent case), new occupants and people who moved out as pending register
changes, refusal and two "no answer" visits → cases, people counted in /coverage."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Community, Person, ScreeningVisitPerson
from bot.double import BotApiDouble
from bot.services import case_text, ledger
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity

OFFICER_CHAT = -100499

EXPECTED = {
    "zh-CN": {
        "done": "已排查",
        "editor": (
            "101 室：在场人员\n"
            "· 张三：在家\n"
            "· 李四：在家\n"
            "点姓名切换 在家/外出/已搬走，点 🌡 标记发热；输入“姓名 36.5”记录体温，"
            "输入新姓名登记新住户（待确认）。完成后点“保存”。"
        ),
        "edited": (
            "101 室：在场人员\n"
            "· 张三：在家 38.2℃ 🌡发热\n"
            "· 李四：已搬走\n"
            "· 王五：新住户\n"
            "点姓名切换 在家/外出/已搬走，点 🌡 标记发热；输入“姓名 36.5”记录体温，"
            "输入新姓名登记新住户（待确认）。完成后点“保存”。"
        ),
        "li": "李四 · 在家",
        "li_away": "李四 · 外出",
        "save": "💾 保存",
        "saved": (
            "已保存：101 室 — ✅ 已排查。如需备注，请直接输入（或发送 /cancel）。\n"
            "已生成事件 #1，已通知社区干部。"
        ),
        "refused": "拒绝",
        "no_answer": "无人应答",
        "people_line": "人员：已排查 3 / 共 3 人",
        "confirm": "✅ 确认",
        "fever_kind": "入户排查发热",
        "sheet": "入户排查",
        "outcome_done": "✅ 已排查",
        "people_cell": "张三 在家 38.2 发热; 李四 已搬走; 王五 新住户",
        "early_note": "家中两人，体温正常",
        "looks_like_note": (
            "“家中两人，体温正常”像是一句备注，不是姓名。请先点“💾 保存”，保存后再输入备注；"
            "要登记新住户，请只写姓名（可加体温，例如：张三 36.5）。"
        ),
    },
    "en": {
        "done": "Screened",
        "editor": (
            "Room 101: who is there\n"
            "· 张三: present\n"
            "· 李四: present\n"
            'Tap a name to switch present / away / moved out, 🌡 to mark a fever; type "name '
            '36.5" for a temperature, or a new name for a new occupant (to be confirmed). Then '
            'press "Save".'
        ),
        "edited": (
            "Room 101: who is there\n"
            "· 张三: present 38.2 °C 🌡fever\n"
            "· 李四: moved out\n"
            "· 王五: new occupant\n"
            'Tap a name to switch present / away / moved out, 🌡 to mark a fever; type "name '
            '36.5" for a temperature, or a new name for a new occupant (to be confirmed). Then '
            'press "Save".'
        ),
        "li": "李四 · present",
        "li_away": "李四 · away",
        "save": "💾 Save",
        "saved": (
            "Saved: room 101 — ✅ Screened. Type a note now if you want one (or /cancel).\n"
            "Case #1 opened; the officers are told."
        ),
        "refused": "Refused",
        "no_answer": "No answer",
        "people_line": "People: screened 3 / 3",
        "confirm": "✅ Confirm",
        "fever_kind": "Fever found at a door visit",
        "sheet": "Door screening",
        "outcome_done": "✅ Screened",
        "people_cell": "张三 present 38.2 fever; 李四 moved out; 王五 new occupant",
        "early_note": "Two at home, both fine.",
        "looks_like_note": (
            "“Two at home, both fine.” looks like a note, not a name. Press “💾 Save” first, "
            "then type the note; to add a new occupant, type only their name (a temperature "
            "may follow, e.g. 张三 36.5)."
        ),
    },
}


async def _visit(worker: ChatUser, room: str, unit: str = "1单元") -> None:
    await worker.send("/screen")
    await worker.press("阳光花园 1栋")
    await worker.press(unit)
    await worker.press(room)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_door_visit_records_people_fever_and_escalations(
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
    double.group(OFFICER_CHAT, "工作群")
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.officer_chat_id = OFFICER_CHAT
        c.locale = locale
        # A household with no Telegram user, registered long ago by staff.
        for name, head in (("张三", True), ("李四", False)):
            session.add(
                Person(
                    name=name, is_head=head, created_at=clock.now() - timedelta(days=60),
                    household_id=community.household("阳光花园/1栋/1单元/101"),
                )
            )  # fmt: skip
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格", language_code=lang))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code=lang))

    await _visit(worker, "101")
    replies = await worker.press(x["done"])
    assert [m.content for m in replies] == [x["editor"]]
    await worker.press(x["li"])
    await worker.press(x["li_away"])
    await worker.send("张三 38.2")
    # The visit's note typed too early is not taken for a new occupant; nothing is lost.
    replies = await worker.send(x["early_note"])
    assert [m.content for m in replies] == [x["looks_like_note"]]
    replies = await worker.send("王五")
    assert [m.content for m in replies] == [x["edited"]]
    replies = await worker.press(x["save"])
    assert x["saved"] in [m.content for m in replies]
    await running_bot.drain()
    card = double.messages(OFFICER_CHAT)[-1].content or ""
    assert x["fever_kind"] in card and "🚨" in card
    assert "张三" not in card and "王五" not in card
    async with sessionmaker() as session:
        seen = {
            r.name: (r.status, r.temperature, r.fever)
            for r in await session.scalars(select(ScreeningVisitPerson))
        }
        case = await session.scalar(select(Case))
    assert seen["李四"][0] == "moved_out" and seen["王五"][0] == "new"
    assert seen["张三"][1] is not None and float(seen["张三"][1]) == 38.2 and seen["张三"][2]
    assert case is not None and case.kind == "screen_fever" and case.urgent
    assert (
        case_text.summary_text(running_bot.catalog, "en", case.details)
        == "Door screening found 1 person with fever"
    )

    # "Refused" → a case; "no answer" twice → a case, a third time nothing new.
    await _visit(worker, "102")
    replies = await worker.press(x["refused"])
    await _visit(worker, "201")
    await worker.press(x["no_answer"])
    await _visit(worker, "201")
    await worker.press(x["no_answer"])
    await _visit(worker, "201")
    await worker.press(x["no_answer"])
    async with sessionmaker() as session:
        kinds = sorted(k for k in await session.scalars(select(Case.kind)))
    assert kinds == ["screen_fever", "screen_no_answer", "screen_refused"]

    # A room not in the register is screened by the visit itself (a new occupant found).
    await _visit(worker, "202")
    await worker.press(x["done"])
    await worker.send("赵六 36.5")
    await worker.press(x["save"])
    replies = await officer.send("/coverage 1栋")
    text = texts(replies)
    # 101 (2 members) and 202 (1 found at the door) are screened: 3 people of 3.
    assert x["people_line"] in text.splitlines()

    # Register changes wait for confirmation; a grid worker may not remove a member.
    replies = await worker.send("/screen_pending")
    assert len(replies) == 3  # 李四 moved out, 王五 and 赵六 new
    li_card = next(m for m in replies if "李四" in (m.content or ""))
    await worker.press(x["confirm"], li_card)
    assert worker.answer_of_last_press()
    replies = await officer.send("/screen_pending")
    for card_message in replies:
        await officer.press(x["confirm"], card_message)
    async with sessionmaker() as session:
        li = await session.scalar(select(Person).where(Person.name == "李四"))
        wang = await session.scalar(select(Person).where(Person.name == "王五"))
        assert li is not None and li.household_id is None
        assert wang is not None
        assert wang.household_id == community.household("阳光花园/1栋/1单元/101")
    replies = await officer.send("/screen_pending")
    assert len(replies) == 1 and "王五" not in (replies[0].content or "")

    # The ledger has the visits, with the people seen, on their own sheet.
    async with sessionmaker() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        files = await ledger.export_ledger(
            session, clock, ledger.LedgerRequest(c, date(2022, 3, 10), date(2022, 3, 10)),
            label=lambda key, **p: running_bot.application.catalog.render(locale, key, **p),
            directory=tmp_path,
        )  # fmt: skip
    assert files.counts["screening"] == 6
    rows = list(load_workbook(files.xlsx)[x["sheet"]].iter_rows(values_only=True))
    assert rows[1][3:6] == ("1栋 1单元 101", x["outcome_done"], x["people_cell"])
    assert rows[1][6] == "✔" and rows[1][8] == "李网格"
