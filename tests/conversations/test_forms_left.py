"""A command typed in the middle of any form leaves it, says so, and runs; what had been
entered is dropped, not applied by the next message (bot/core/forms.py).

The report, registration and notice forms are covered in test_walk2.py; here the care,
gate and profile forms, the screening people step, and a refused command, in both
languages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CareFlag, Community, GateEntry, Person, ScreeningVisit
from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import GRID_WORKER_ID, GUARD_ID, OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person

ROOM = "阳光花园/1栋/1单元/101"

EXPECTED: dict[str, dict[str, Any]] = {
    "zh-CN": {
        "lang": "zh-hans",
        "add_for": "为陈一添加",
        "dialysis": "透析",
        "care_left": (
            "您正在填写的照护需求已放下，填过的内容没有保存。需要时请发送 /care 重新开始。"
        ),
        "entry": "进",
        "visitor": "访客",
        "gate_left": (
            "您正在进行的门岗登记已放下，填过的内容没有保存。需要时请发送 /gate 重新开始。"
        ),
        "not_allowed": "抱歉，您没有执行此操作的权限。",
        "change_name": "修改姓名",
        "profile_left": (
            "您正在修改的登记信息已放下，登记信息没有改动。需要时请发送 /profile 重新开始。"
        ),
        "done": "已排查",
        "screening_left": "您正在登记的入户排查已放下，没有保存。需要时请发送 /screen 重新开始。",
    },
    "en": {
        "lang": "en",
        "add_for": "Add for 陈一",
        "dialysis": "Dialysis",
        "care_left": (
            "The care need you were describing was set aside; nothing of it was saved. "
            "Send /care to start again."
        ),
        "entry": "Entry",
        "visitor": "Visitor",
        "gate_left": (
            "The passage you were recording was set aside; nothing of it was saved. "
            "Send /gate to start again."
        ),
        "not_allowed": "Sorry, you do not have permission to do this.",
        "change_name": "Change name",
        "profile_left": (
            "The profile change you were making was set aside; nothing was changed. "
            "Send /profile to start again."
        ),
        "done": "Screened",
        "screening_left": (
            "The door visit you were recording was set aside; it was not saved. "
            "Send /screen to start again."
        ),
    },
}

LOCALES = pytest.mark.parametrize("locale", ["zh-CN", "en"])


def my_id(locale: str, user_id: int) -> str:
    """The answer to /myid, as the chat shows it."""
    if locale == "en":
        return (
            f"Your Telegram user id is: {user_id}\n"
            "Give this number to the community's admin, who can then give you a staff role."
        )
    return (
        f"您的 Telegram 用户 ID 是：{user_id}\n"
        "请把这个数字告诉社区管理员，由管理员为您分配工作人员角色。"
    )


async def _resident(
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    locale: str,
) -> ChatUser:
    async with sessionmaker.begin() as session:
        person = await add_person(session, "陈一", community.household(ROOM), clock.now(), 6001)
        person.is_head = True
        person.language = locale
    user = double.user(6001, "陈一", language_code=EXPECTED[locale]["lang"])
    double.private_chat(user)
    return ChatUser(double, user)


async def _count(sessionmaker: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@LOCALES
async def test_a_command_leaves_the_care_form(
    locale: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    x = EXPECTED[locale]
    chen = await _resident(double, sessionmaker, clock, community, locale)
    await chen.send("/care")
    await chen.press(x["add_for"])
    await chen.press(x["dialysis"])
    replies = await chen.send("/myid")
    assert [m.content for m in replies] == [
        my_id(locale, 6001),
        x["care_left"],
    ]
    # The schedule typed next is not the detail of the care need left behind.
    replies = await chen.send("周二 周四 8:00")
    assert x["care_left"] not in [m.content for m in replies]
    assert await _count(sessionmaker, CareFlag) == 0
    # The form's own command starts it over and says nothing more.
    await chen.send("/care")
    await chen.press(x["add_for"])
    await chen.press(x["dialysis"])
    replies = await chen.send("/care")
    assert x["care_left"] not in [m.content for m in replies]


@LOCALES
async def test_a_command_leaves_the_gate_form_also_when_refused(
    locale: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    x = EXPECTED[locale]
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫", language_code=x["lang"]))
    await officer.send("/gate_add 阳光花园 南门")

    async def up_to_the_origin() -> None:
        await guard.send("/gate")
        await guard.press("阳光花园 南门")
        await guard.press(x["entry"])
        await guard.press(x["visitor"])
        await guard.send("李四")

    await up_to_the_origin()
    replies = await guard.send("/myid")
    assert [m.content for m in replies] == [
        my_id(locale, GUARD_ID),
        x["gate_left"],
    ]
    # "武汉" is not taken for where 李四 came from, nor 36.5 for a temperature.
    await guard.send("武汉")
    await guard.send("36.5")
    assert await _count(sessionmaker, GateEntry) == 0

    # A command the guard may not use is refused, and leaves the form all the same.
    await up_to_the_origin()
    replies = await guard.send("/cases")
    assert [m.content for m in replies] == [x["not_allowed"]]
    await guard.send("武汉")
    await guard.send("36.5")
    assert await _count(sessionmaker, GateEntry) == 0
    # /help keeps the form: the answers that follow complete it.
    await up_to_the_origin()
    replies = await guard.send("/help")
    assert x["gate_left"] not in [m.content for m in replies]
    await guard.send("武汉")
    await guard.send("36.5")
    assert await _count(sessionmaker, GateEntry) == 1


@LOCALES
async def test_a_command_leaves_the_profile_form(
    locale: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    x = EXPECTED[locale]
    chen = await _resident(double, sessionmaker, clock, community, locale)
    await chen.send("/profile")
    await chen.press(x["change_name"])
    replies = await chen.send("/myid")
    assert [m.content for m in replies] == [
        my_id(locale, 6001),
        x["profile_left"],
    ]
    await chen.send("陈二")
    async with sessionmaker() as session:
        names = list(
            await session.scalars(select(Person.name).where(Person.telegram_user_id == 6001))
        )
    assert names == ["陈一"]


@LOCALES
async def test_a_command_leaves_the_screening_people_step(
    locale: str,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    x = EXPECTED[locale]
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.locale = locale
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格", language_code=x["lang"]))
    await worker.send("/screen")
    await worker.press("阳光花园 1栋")
    await worker.press("1单元")
    await worker.press("101")
    await worker.press(x["done"])
    # Before: the command was swallowed by the people step (nothing answered).
    replies = await worker.send("/myid")
    assert [m.content for m in replies] == [
        my_id(locale, GRID_WORKER_ID),
        x["screening_left"],
    ]
    # The name typed next is not a new occupant of the visit left behind.
    await worker.send("王五")
    assert await _count(sessionmaker, ScreeningVisit) == 0
