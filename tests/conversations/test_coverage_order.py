"""Coverage grids in the order people count (R-COV): compounds, grids, buildings, units
and rooms sort naturally in /coverage, the grid workers' daily list and the /screen
pickers ("2栋" before "10栋", "二单元" before "十单元", "第二网格" before "第十网格"),
never lexicographically. Driven over HTTP through the Bot API double."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Building, Compound, Household, Unit
from bot.double import BotApiDouble
from bot.services.directory import import_register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.ledger_rows import add_person

ADMIN = 9401
# Registered in an order that a lexicographic sort would keep wrong.
ROWS = [
    ("10期", "1栋", "一单元", "101", "第十网格"),
    ("2期", "10栋", "十单元", "1001", "第二网格"),
    ("2期", "10栋", "二单元", "201", "第二网格"),
    ("2期", "2栋", "一单元", "1001", "第三网格"),
    ("2期", "2栋", "一单元", "201", "第三网格"),
    ("2期", "2栋", "一单元", "21", "第三网格"),
]


async def _community(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessionmaker.begin() as session:
        await import_register(
            session, clock, community_name="南湖社区", timezone="Asia/Shanghai",
            rows=[dict(zip(("compound", "building", "unit", "room", "grid"), row, strict=True))
                  for row in ROWS],
            admin_telegram_id=ADMIN, admin_name="南湖管理员",
        )  # fmt: skip


async def test_coverage_and_screen_pickers_sort_naturally(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _community(sessionmaker, clock)
    admin = ChatUser(double, double.user(ADMIN, "南湖管理员"))
    [summary] = await admin.send("/coverage")
    assert summary.content == (
        "入户排查覆盖情况 — 南湖社区\n"
        "已排查 0 / 未排查 6 / 共 6 户（0%）\n"
        "人员：已排查 0 / 共 0 人\n\n"
        "小区\n2期：0/5（0%）\n10期：0/1（0%）\n\n"
        "网格\n第二网格：0/2（0%）\n第三网格：0/3（0%）\n第十网格：0/1（0%）\n\n"
        "楼栋\n2期 2栋：0/3（0%）\n2期 10栋：0/2（0%）\n10期 1栋：0/1（0%）\n\n"
        "未排查住户\n"
        "• 2期 2栋 一单元 21\n• 2期 2栋 一单元 201\n• 2期 2栋 一单元 1001\n"
        "• 2期 10栋 二单元 201\n• 2期 10栋 十单元 1001\n• 10期 1栋 一单元 101"
    )
    [buildings] = await admin.send("/screen")
    labels = [[text for text, _ in row] for row in double.inline_buttons(buildings)]
    assert [label for row in labels for label in row][:3] == ["2期 2栋", "2期 10栋", "10期 1栋"]
    [units] = await admin.press("2期 10栋", buildings)
    labels = [[text for text, _ in row] for row in double.inline_buttons(units)]
    assert [label for row in labels for label in row][:2] == ["二单元", "十单元"]


async def test_care_list_sorts_naturally(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _community(sessionmaker, clock)
    async with sessionmaker.begin() as session:
        for compound, building, unit, room, _grid in ROWS:
            household = await session.scalar(
                select(Household.id)
                .join(Unit, Household.unit_id == Unit.id)
                .join(Building, Unit.building_id == Building.id)
                .join(Compound, Building.compound_id == Compound.id)
                .where(Compound.name == compound, Building.name == building,
                       Unit.name == unit, Household.room == room)
            )  # fmt: skip
            assert household is not None
            await add_person(session, f"住户{room}", household, clock.now())
    admin = ChatUser(double, double.user(ADMIN, "南湖管理员"))
    for compound, building, unit, room, _grid in ROWS:
        await admin.send(f"/care_add {compound} {building} {unit} {room} 住户{room} other 独居")
    assert texts(await admin.send("/care_list")) == (
        "重点关爱对象（6 人，管控、封控区域在前）\n"
        "住户21 2期 2栋 一单元 21：其他需要照顾（独居）\n"
        "住户201 2期 2栋 一单元 201：其他需要照顾（独居）\n"
        "住户1001 2期 2栋 一单元 1001：其他需要照顾（独居）\n"
        "住户201 2期 10栋 二单元 201：其他需要照顾（独居）\n"
        "住户1001 2期 10栋 十单元 1001：其他需要照顾（独居）\n"
        "住户101 10期 1栋 一单元 101：其他需要照顾（独居）"
    )
    # sealing 2期 2栋: its grid worker gets its people who need care in the same order
    worker_id = 9402
    double.private_chat(double.user(worker_id, "三网格"))
    double.started.add(worker_id)
    await admin.send(f"/grant {worker_id} grid_worker grid 第三网格")
    await admin.send("/seal 2期 2栋 封控")
    await running_bot.drain()
    assert double.last_message(worker_id).content == (  # type: ignore[union-attr]
        "🔒 2期 2栋 已封控。请先联系以下需要照顾的居民：\n"
        "1. 住户21 2期 2栋 一单元 21：其他需要照顾（独居）\n"
        "2. 住户201 2期 2栋 一单元 201：其他需要照顾（独居）\n"
        "3. 住户1001 2期 2栋 一单元 1001：其他需要照顾（独居）\n"
        "其余 0 户按常规联系。他们每天会收到平安确认，未回复的会作为待办事件推送给您。"
    )
