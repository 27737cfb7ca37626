"""Residents who need care end to end (R-CARE): the household flags its own members,
staff flag others; only staff whose roles cover them see the list; sealing the building
sends the grid worker a care-first list; the daily check's "fine", "help" and silence."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CareCheck, CareFlag, Case
from bot.double import BotApiDouble
from bot.presentation.callbacks import CareCb
from scheduler import tick
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person


async def test_flags_care_first_list_and_daily_check(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        for tg, name, room in (
            (6001, "陈一", "阳光花园/1栋/1单元/101"),
            (6002, "Bob", "阳光花园/1栋/1单元/102"),
            (6003, "刘三", "阳光花园/2栋/1单元/101"),
            (None, "王奶奶", "阳光花园/1栋/1单元/102"),
        ):
            person = await add_person(session, name, community.household(room), clock.now(), tg)
            if name == "Bob":
                person.language = "en"
            if name == "王奶奶":
                person.phone = "13800000000"
            if tg:
                double.private_chat(double.user(tg, name))
                double.started.add(tg)
    double.private_chat(double.user(GRID_WORKER_ID, "李网格"))
    double.started.add(GRID_WORKER_ID)
    chen = ChatUser(double, double.user(6001, "陈一"))
    bob = ChatUser(double, double.user(6002, "Bob", language_code="en"))
    liu = ChatUser(double, double.user(6003, "刘三"))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))

    await chen.send("/care")
    await chen.press("➕ 为陈一添加")
    replies = await chen.press("独居老人")
    assert replies[-1].content == (
        "✅ 已保存。\n需要照顾的家庭成员\n"
        "只有负责本楼的社区干部、网格员和志愿者能看到这些信息；封控、管控时他们会优先联系。\n"
        "陈一：独居老人"
    )
    replies = await officer.send("/care_add 阳光花园 1栋 1单元 102 王奶奶 dialysis 每周二四六 8:00")
    assert [m.content for m in replies] == ["✅ 已为 王奶奶 添加：透析（每周二四六 8:00）。"]
    await officer.send("/care_add 阳光花园 1栋 1单元 102 Bob pregnant 2022-04-02")
    # A resident can neither list nor add, nor remove another household's flag.
    for command in ("/care_list", "/care_add 阳光花园 1栋 1单元 101 陈一 other x"):
        replies = await liu.send(command)
        assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"], command
    async with sessionmaker() as session:
        flag = await session.scalar(select(CareFlag).where(CareFlag.kind == "elderly_alone"))
        assert flag is not None
    await liu.send("/care")
    await liu.press_data(CareCb(action="rm", id=flag.id).pack(), liu.last(), strict=False)
    assert liu.answer_of_last_press() == "抱歉，您没有执行此操作的权限。"

    replies = await worker.send("/care_list")
    assert [m.content for m in replies] == [
        "重点关爱对象（3 人，管控、封控区域在前）\n"
        "陈一 阳光花园 1栋 1单元 101：独居老人\n"
        "Bob 阳光花园 1栋 1单元 102：孕妇（2022-04-02）\n"
        "王奶奶 阳光花园 1栋 1单元 102 13800000000：透析（每周二四六 8:00）"
    ]

    await officer.send("/seal 阳光花园 1栋 封控")
    await running_bot.drain()
    assert worker.last().content == (
        "🔒 阳光花园 1栋 已封控。请先联系以下需要照顾的居民：\n"
        "1. 陈一 阳光花园 1栋 1单元 101：独居老人\n"
        "2. Bob 阳光花园 1栋 1单元 102：孕妇（2022-04-02）\n"
        "3. 王奶奶 阳光花园 1栋 1单元 102 ☎ 13800000000：透析（每周二四六 8:00）\n"
        "其余 10 户按常规联系。他们每天会收到平安确认，未回复的会作为待办事件推送给您。"
    )
    replies = await worker.send("/care_list")
    assert (replies[0].content or "").splitlines()[1] == "🔒 陈一 阳光花园 1栋 1单元 101：独居老人"

    # /coverage adds the care list the grid worker may see, sealed places first.
    replies = await worker.send("/coverage")
    assert replies[-1].content == (
        "重点关爱对象 3 人：独居老人 1，孕妇 1，透析 1\n"
        "管控、封控区域内：\n"
        "🔒 陈一 阳光花园 1栋 1单元 101\n"
        "🔒 Bob 阳光花园 1栋 1单元 102\n"
        "🔒 王奶奶 阳光花园 1栋 1单元 102 13800000000"
    )

    # The daily check at the community's check-in time (09:00): Chen and Bob have Telegram.
    await tick(running_bot.application.job_context())
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert chen.last().content == (
        "👋 陈一，您好！今天一切都好吗？需要什么请告诉我们。\n请按下面的按钮回复。"
    )
    assert bob.last().content == (
        "👋 Hello Bob! Is everything all right today? Tell us if you need anything.\n"
        "Please answer with a button below."
    )
    replies = await chen.press("🙂 我很好")
    assert replies[-1].content == "谢谢，祝您平安！有需要随时用 /supply 申请物资或药品。"
    clock.advance(timedelta(hours=4))
    await tick(running_bot.application.job_context())
    async with sessionmaker() as session:
        checks = {c.person_id: c.status for c in await session.scalars(select(CareCheck))}
        assert sorted(checks.values()) == ["fine", "missed"]
        found = list(await session.scalars(select(Case)))
        assert [(c.kind, c.urgent) for c in found] == [("care_check", False)]
        assert found[0].details["summary"] == (
            "重点关爱对象今日未回复平安确认，请电话联系：孕妇（2022-04-02）"
        )
    # Bob answers late, asking for help: an urgent case.
    replies = await bob.press("🆘 I need help")
    assert replies[-1].content == (
        "Got it: your grid worker will contact you soon. In an emergency call 120."
    )
    async with sessionmaker() as session:
        kinds = [(c.kind, c.urgent) for c in await session.scalars(select(Case).order_by(Case.id))]
        assert kinds == [("care_check", False), ("care_check", True)]
