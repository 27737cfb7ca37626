"""/coverage and /screen over HTTP, and the grid workers' daily list (R-COV)."""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Community, Delivery, ScreeningVisit
from bot.double import BotApiDouble
from bot.presentation.callbacks import ScreenOutcomeCb, ScreenPick
from scheduler import JobContext, tick
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity


async def test_grid_worker_screens_a_household_at_the_door(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    replies = await worker.send("/coverage")
    # Only their own grid (第一网格 = 1栋, 12 households), nothing of 2栋 or 幸福里.
    rooms = [f"{u}单元 {r}" for u in (1, 2) for r in ("101", "102", "201", "202", "301", "302")]
    assert texts(replies) == "\n".join(
        [
            "入户排查覆盖情况 — 东湖社区",
            "已排查 0 / 未排查 12 / 共 12 户（0%）",
            "人员：已排查 0 / 共 0 人",
            "",
            "小区",
            "阳光花园：0/12（0%）",
            "",
            "网格",
            "第一网格：0/12（0%）",
            "",
            "楼栋",
            "阳光花园 1栋：0/12（0%）",
            "",
            "未排查住户",
            *[f"• 阳光花园 1栋 {room}" for room in rooms],
        ]
    )
    replies = await worker.send("/coverage 第二网格")
    assert "权限" in texts(replies)

    replies = await worker.send("/screen")
    assert "楼栋" in texts(replies)
    assert "2栋" not in str(double.inline_buttons(worker.last()))
    await worker.press("阳光花园 1栋")
    await worker.press("1单元")
    replies = await worker.press("101")
    assert "入户结果" in texts(replies)
    replies = await worker.press("已排查")
    assert "在场人员" in texts(replies)
    replies = await worker.press("💾 保存")
    assert "已保存" in texts(replies)
    replies = await worker.send("家中 <b>两人</b>，体温正常")
    assert "备注已保存" in texts(replies)
    # The same button pressed twice records a second visit, harmlessly.
    async with sessionmaker() as session:
        visit = await session.scalar(select(ScreeningVisit))
        assert visit is not None and visit.outcome == "done"
        assert visit.note == "家中 <b>两人</b>，体温正常"
        assert visit.household_id == community.household("阳光花园/1栋/1单元/101")
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "screening.visit")
            )
            == 1
        )

    # Forged buttons: a household of another grid, a bogus outcome.
    other = community.household("阳光花园/2栋/1单元/101")
    msg = worker.last()
    await worker.press_data(ScreenPick(level="r", id=other).pack(), msg, strict=False)
    assert "权限" in (worker.answer_of_last_press() or "")
    await worker.press_data(
        ScreenOutcomeCb(household_id=other, outcome="done").pack(), msg, strict=False
    )
    assert "权限" in (worker.answer_of_last_press() or "")
    await worker.press_data(
        ScreenOutcomeCb(household_id=visit.household_id, outcome="bogus").pack(), msg, strict=False
    )
    assert worker.answer_of_last_press()
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ScreeningVisit)) == 1


async def test_officer_sees_all_and_resident_is_refused(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send("/coverage")
    rooms = [f"{u}单元 {r}" for u in (1, 2) for r in ("101", "102", "201", "202", "301", "302")]
    assert texts(replies) == "\n".join(
        [
            "Screening coverage — 东湖社区",
            "Screened 0 / not screened 26 / total 26 (0%)",
            "People: screened 0 / 0",
            "",
            "Compounds",
            "幸福里: 0/2 (0%)",
            "阳光花园: 0/24 (0%)",
            "",
            "Grids",
            "第一网格: 0/12 (0%)",
            "第二网格: 0/12 (0%)",
            "第三网格: 0/2 (0%)",
            "",
            "Buildings",
            "幸福里 A座: 0/2 (0%)",
            "阳光花园 1栋: 0/12 (0%)",
            "阳光花园 2栋: 0/12 (0%)",
            "",
            "Not screened",
            "• 幸福里 A座 1单元 101",
            "• 幸福里 A座 1单元 102",
            *[f"• 阳光花园 {b} {room}" for b in ("1栋", "2栋") for room in rooms],
        ]
    )
    replies = await officer.send("/coverage 月亮湾")
    assert "月亮湾" in texts(replies)
    replies = await resident.send("/coverage")
    assert "权限" in texts(replies)
    replies = await resident.send("/screen")
    assert "权限" in texts(replies)
    msg = replies[0]
    await resident.press_data(
        ScreenOutcomeCb(
            household_id=community.household("阳光花园/1栋/1单元/101"), outcome="done"
        ).pack(),
        msg,
        strict=False,
    )
    assert "权限" in (resident.answer_of_last_press() or "")


async def test_daily_list_reaches_grid_worker_once(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    await worker.send("/help")  # the worker has opened the bot
    app = running_bot.application
    ctx = JobContext(sessionmaker, clock, app.settings, app.catalog)
    # The time is the community's setting (08:00 unless set): here 08:30.
    async with sessionmaker.begin() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.coverage_list_time = time(8, 30)
    clock.advance(timedelta(hours=-2))  # 07:00 local: not yet due
    await tick(ctx)
    clock.advance(timedelta(hours=1, minutes=29))  # 08:29
    await tick(ctx)
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 0
    clock.advance(timedelta(minutes=1))
    await tick(ctx)
    await tick(ctx)
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(select(Delivery).where(Delivery.kind == "coverage_reminder"))
        )
    assert [r.chat_id for r in rows] == [GRID_WORKER_ID]
    await running_bot.drain()
    text = double.last_message(GRID_WORKER_ID)
    assert text is not None
    rooms = [f"{u}单元 {r}" for u in (1, 2) for r in ("101", "102", "201", "202", "301", "302")]
    assert text.content == "\n".join(
        [
            "第一网格 尚未排查的住户（12 户）：",
            *[f"• 阳光花园 1栋 {room}" for room in rooms],
            "入户后请用 /screen 登记。",
        ]
    )
