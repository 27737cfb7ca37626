"""The return and tenant reports, completed in English (the other flows have English
walks in test_reports_flow.py and test_reports_more_flows.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, Isolation, Person, Report
from bot.double import BotApiDouble
from tests.conversations.test_reports_flow import add_risk, register
from tests.conversations.test_reports_more_flows import OFFICER_GROUP, bind
from tests.support.chat import ChatUser, RunningBot, private_details, texts
from tests.support.community import SeededCommunity


async def test_return_from_a_risk_area_in_english(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    user = english_resident
    await register(sessionmaker, clock, community, user, name="Alice", member="Grandma Li")
    await add_risk(sessionmaker, clock, community, "深圳 high 3-1")
    officer = await bind(double)
    await user.send("/report")
    await user.press("I came back")
    replies = await user.send("atlantis")
    assert "not found" in texts(replies).lower() or "could not find" in texts(replies).lower()
    replies = await user.send("shenzhen nanshan")
    assert "Nanshan, Shenzhen, Guangdong" in texts(replies)
    replies = await user.send("2022-02-30")
    assert "could not read that date" in texts(replies)
    replies = await user.send("tomorrow")
    assert "could not read" in texts(replies) or "future" in texts(replies)
    await user.send("yesterday")
    await user.press("Plane")
    await user.press("Alice")
    await user.press("Grandma Li")
    replies = await user.press("Done")
    summary = texts(replies)
    assert "Nanshan, Shenzhen, Guangdong" in summary and "2022-03-09" in summary
    assert "Grandma Li" in summary
    replies = await user.press("Submit")
    saved = texts(replies)
    assert "Return reported" in saved and "stay at home in isolation" in saved
    assert "until 2022-03-22" in saved
    await running_bot.drain()
    group_card = double.messages(OFFICER_GROUP)[-1]
    assert "Alice" not in (group_card.content or "")  # the officers' chat is a group
    card = (await private_details(officer, group_card)).content or ""
    assert "Alice" in card
    async with sessionmaker() as session:
        isolated = (
            await session.scalars(
                select(Person.name).join(Isolation, Isolation.person_id == Person.id)
            )
        ).all()
        assert sorted(isolated) == ["Alice", "Grandma Li"]
        case = await session.scalar(select(Case))
        assert case is not None and case.kind == "return" and case.urgent


async def test_tenant_report_in_english_escapes_names(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    user = english_resident
    await register(sessionmaker, clock, community, user, name="Alice", member=None)
    officer = await bind(double)
    await user.send("/report")
    await user.press("Tenants / relatives staying")
    await user.press("Tenants")
    await user.send("<i>Bob</i>, Carol")
    await user.send("Wuhan")
    replies = await user.send("2030-05-01")
    assert "future" in texts(replies)
    await user.send("2022-03-05")
    replies = await user.send("12")
    assert "does not look right" in texts(replies)
    await user.send("13900139000")
    replies = await user.send("building 2 unit 1 201")
    summary = replies[-1]
    assert "<i>Bob</i>" in (summary.content or "") and "Carol" in (summary.content or "")
    assert "&lt;i&gt;Bob&lt;/i&gt;" in (summary.raw_text or "")
    replies = await user.press("Submit")
    assert "the officers have been told" in texts(replies)
    await running_bot.drain()
    card = await private_details(officer, double.messages(OFFICER_GROUP)[-1])
    assert "&lt;i&gt;Bob&lt;/i&gt;" in (card.raw_text or "")
    async with sessionmaker() as session:
        report = await session.scalar(select(Report))
        assert report is not None and report.kind == "tenant"


async def _return_for(user: ChatUser, place: str, day: str, transport: str, who: str) -> str:
    await user.send("/report")
    await user.press("I came back" if transport == "Plane" else "返乡报备")
    await user.send(place)
    await user.send(day)
    await user.press(transport)
    await user.press(who)
    await user.press("Done" if transport == "Plane" else "选好了")
    replies = await user.press("Submit" if transport == "Plane" else "确认提交")
    return replies[-1].content or ""


async def test_a_return_reported_for_a_family_member_addresses_that_member(
    running_bot: RunningBot,
    english_resident: ChatUser,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """QA: "You came from a high-risk area: please stay at home" went to the reporter when
    only their grandmother had travelled. The member is named (private chat only)."""
    await register(sessionmaker, clock, community, english_resident, name="Alice",
                   member="Grandma Li")  # fmt: skip
    await add_risk(sessionmaker, clock, community, "深圳 high 3-1")
    saved = await _return_for(english_resident, "shenzhen nanshan", "yesterday", "Plane",
                              "Grandma Li")  # fmt: skip
    assert saved == (
        "✅ Return reported.\n"
        "Grandma Li came from a high-risk area and must stay at home in isolation:\n"
        "• Grandma Li: until 2022-03-22\n"
        "An officer will contact you; when reminded, please report the temperature of each "
        "person above every day (you can answer for them)."
    )
    await register(sessionmaker, clock, community, resident)
    saved = await _return_for(resident, "深圳南山", "3月9日", "火车", "张奶奶")
    assert saved == (
        "✅ 返乡报备已提交。\n"
        "张奶奶 的出发地属于高风险地区，需要居家隔离，不要外出：\n"
        "• 张奶奶：隔离至 2022-03-22\n"
        "社区工作人员会联系您，每天请按提醒为以上人员报告体温（可由您代为打卡）。"
    )
