"""Building status end to end (R-SEAL): /seal tells the residents privately (in their
language) and the owners' group anonymously, the gate refuses what the status forbids,
/seals lists what is in force, ending tells them again, and the history stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, GateEntry, GroupChat, PlaceStatus
from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import GUARD_ID, OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person

GROUP = -100777


async def _people(
    sessionmaker: async_sessionmaker[AsyncSession],
    community: SeededCommunity,
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        zh = await add_person(
            session, "陈一", community.household("阳光花园/1栋/1单元/101"), clock.now(), tg=6001
        )
        en = await add_person(
            session, "Bob", community.household("阳光花园/1栋/2单元/302"), clock.now(), tg=6002
        )
        en.language = "en"
        zh.language = "zh-CN"
        await add_person(
            session, "刘三", community.household("阳光花园/2栋/1单元/101"), clock.now(), tg=6003
        )
        session.add(
            GroupChat(chat_id=GROUP, compound_id=community.compound_ids["阳光花园"],
                      title="阳光花园业主群", bound_at=clock.now())
        )  # fmt: skip


async def test_seal_a_building_tell_residents_refuse_at_gate_and_end(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _people(sessionmaker, community, clock)
    for tg in (6001, 6002, 6003):
        double.private_chat(double.user(tg, f"u{tg}"))
        double.started.add(tg)
    double.group(GROUP, "阳光花园业主群")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))

    replies = await officer.send("/seal 阳光花园 9栋 封控")
    assert [m.content for m in replies] == [
        "找不到“阳光花园 9栋”。请写小区名，可加楼栋和单元，如“阳光花园 1栋 1单元”。"
    ]
    replies = await officer.send("/seal 阳光花园 1栋")
    assert replies[0].content is not None and replies[0].content.startswith("用法：")

    replies = await officer.send("/seal 阳光花园 1栋 封控 2022-03-24")
    assert [m.content for m in replies] == [
        "✅ 阳光花园 1栋 已设为封控，计划至 2022-03-24。\n"
        "已通知 2 位居民（私信）和本小区业主群（不含个人信息）。"
    ]
    await running_bot.drain()
    zh_notice = (
        "📢 阳光花园 1栋 自 2022-03-10 09:00 起实行封控，计划至 2022-03-24。\n"
        "封控期间请足不出户，生活物资和药品可在本机器人中申请（/supply），由志愿者送到门口。"
    )
    assert [m.content for m in double.messages(6001)] == [zh_notice]
    assert [m.content for m in double.messages(6002)] == [
        "📢 From 2022-03-10 09:00, 阳光花园 1栋 is sealed, planned until 2022-03-24.\n"
        "While sealed, please stay at home. Ask for supplies and medicine in this bot "
        "(/supply); volunteers bring them to your door."
    ]
    assert double.messages(6003) == []
    # The group gets the same place-level notice: no name, no room.
    assert [m.content for m in double.messages(GROUP)] == [zh_notice]

    replies = await officer.send("/seals")
    assert [m.content for m in replies] == [
        "生效中的管控状态\n阳光花园 1栋：封控，自 2022-03-10 09:00，计划至 2022-03-24"
    ]

    # The gate: a resident of the sealed building may not leave; one of 2栋 may.
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫"))
    await officer.send("/gate_add 阳光花园 南门")
    for name, allowed in (("陈一", False), ("刘三", True)):
        await guard.send("/gate")
        await guard.press("阳光花园 南门")
        await guard.press("出")
        await guard.press("居民")
        await guard.send(name)
        await guard.press(name)
        replies = await guard.send("36.5")
        text = replies[0].content or ""
        if allowed:
            assert text.startswith("✅"), text
        else:
            assert text == (
                "⛔ 不能放行：该住户所在楼栋/单元处于封控，居民不得出门。本次通行未登记。\n"
                "如有就医等紧急情况，请联系社区干部。"
            )
    async with sessionmaker() as session:
        entries = list(await session.scalars(select(GateEntry)))
        assert [e.name for e in entries] == ["刘三"]
        refused = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "gate.refused")
        )
        assert refused is not None and refused.details["level"] == "sealed"

    clock.advance(timedelta(days=5))
    replies = await officer.send("/seal 阳光花园 1栋 正常")
    assert [m.content for m in replies] == [
        "✅ 已解除 阳光花园 1栋 的封控状态。\n"
        "已通知 2 位居民（私信）和本小区业主群（不含个人信息）。"
    ]
    await running_bot.drain()
    assert double.messages(6001)[-1].content == "📢 阳光花园 1栋 的封控状态已解除。感谢大家的配合！"
    assert double.messages(6002)[-1].content == (
        "📢 The sealed status of 阳光花园 1栋 has ended. Thank you for your patience!"
    )
    replies = await officer.send("/seal 阳光花园 1栋 正常")
    assert [m.content for m in replies] == ["“阳光花园 1栋”目前没有生效的状态，无需解除。"]
    async with sessionmaker() as session:
        history = list(await session.scalars(select(PlaceStatus)))
        assert len(history) == 1 and history[0].ended_at is not None


async def test_residents_cannot_seal(
    running_bot: RunningBot, double: BotApiDouble, community: SeededCommunity
) -> None:
    someone = ChatUser(double, double.user(5001, "小明"))
    replies = await someone.send("/seal 阳光花园 封控")
    assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"]
    replies = await someone.send("/seals")
    assert [m.content for m in replies] == ["抱歉，您没有执行此操作的权限。"]


async def test_controlled_compound_refuses_visitors_and_precaution_warns(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    await officer.send("/language")
    await officer.press("English")
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫"))
    await officer.send("/gate_add 阳光花园 南门")
    replies = await officer.send("/seal 阳光花园 管控")
    assert [m.content for m in replies] == [
        "✅ 阳光花园 is now controlled.\n"
        "Told privately: 0 residents; the compound's owners' groups are told without any "
        "personal detail."
    ]

    async def visitor_in() -> str:
        await guard.send("/gate")
        await guard.press("阳光花园 南门")
        await guard.press("进")
        await guard.press("访客")
        await guard.send("李四")
        await guard.send("杭州")
        replies = await guard.send("36.5")
        return replies[0].content or ""

    assert await visitor_in() == (
        "⛔ 不能放行：此处处于管控，居民不得离开小区，外来人员不得进入。本次通行未登记。\n"
        "如有就医等紧急情况，请联系社区干部。"
    )
    await officer.send("/seal 阳光花园 防范")
    text = await visitor_in()
    assert text.startswith("⚠️ 注意：此处处于防范状态，请严格测温查码。\n✅"), text
    async with sessionmaker() as session:
        assert [e.name for e in await session.scalars(select(GateEntry))] == ["李四"]
        history = list(await session.scalars(select(PlaceStatus).order_by(PlaceStatus.id)))
        assert [(s.level, s.ended_at is not None) for s in history] == [
            ("controlled", True),
            ("precaution", False),
        ]
