"""Officer and admin commands over HTTP (R-ADM, R-RBAC, R-ME)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    Building,
    CheckIn,
    Community,
    Compound,
    Grid,
    Isolation,
    Person,
    RiskArea,
    RoleGrant,
)
from bot.double import BotApiDouble
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, OFFICER_ID, SeededCommunity


async def test_risk_areas_and_clinics_by_officer_only(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await resident.send("/risk add 深圳 high")
    assert "没有执行此操作的权限" in texts(replies)
    replies = await officer.send("/risk add 深圳南山 high 3-1 3-31")
    assert "广东省深圳市南山区" in texts(replies) and "高风险" in texts(replies)
    replies = await officer.send("/risk add 朝阳 medium")
    assert "更具体" in texts(replies)
    replies = await officer.send("/risk add 火星 high")
    assert "没有找到地点" in texts(replies)
    replies = await officer.send("/risk add 深圳 extreme")
    assert "用法" in texts(replies)
    replies = await officer.send("/risk list")
    assert texts(replies) == (
        "风险地区\n#1 广东省深圳市南山区 · 高风险地区 · 2022-03-01 起至 2022-03-31"
    )
    replies = await officer.send("/risk remove 1")
    assert "已移除" in texts(replies)
    replies = await officer.send("/risk remove 1")
    assert "没有找到" in texts(replies)
    async with sessionmaker() as session:
        area = await session.scalar(select(RiskArea))
        assert area is not None and area.removed_at is not None
    await officer.send("/clinic add 市二医院")
    replies = await officer.send("/clinic add 市一医院发热门诊|解放路1号|027-1234")
    assert texts(replies) == ("指定发热门诊\n1. 市二医院\n2. 市一医院发热门诊，解放路1号，027-1234")
    replies = await officer.send("/clinic add <b>x</b>|" + "y" * 200)
    assert "用法" in texts(replies)
    replies = await officer.send("/clinic remove 5")
    assert "没有序号" in texts(replies)
    await officer.send("/clinic remove 1")
    await officer.send("/clinic remove 1")
    async with sessionmaker() as session:
        c = await session.get(Community, community.community_id)
        assert c is not None and c.fever_clinics == []


async def test_roles_grids_and_compounds_by_admin(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="en"))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await officer.send("/grant 7777 officer")
    assert "没有执行此操作的权限" in texts(replies)
    replies = await admin.send("/grant 7777 officer")
    assert "User 7777 is now officer" in texts(replies)
    # a resident who is made an officer gets the officer commands in their chat
    await resident.send("/help")
    await admin.send(f"/grant {resident.id} officer")
    names = [c["command"] for c in double.commands({"type": "chat", "chat_id": resident.id})]
    assert "risk" in names and "cases" in names
    replies = await admin.send("/grant 7778 grid_worker grid 第二网格")
    assert "(第二网格)" in texts(replies)
    replies = await admin.send("/grant 7778 wizard")
    assert "no role" in texts(replies)
    replies = await admin.send("/grant 7778 guard compound 不存在")
    assert "No compound" in texts(replies)
    replies = await admin.send("/roles")
    assert "#7777" in texts(replies) and "grid worker" in texts(replies)
    # Once the new officer writes to the bot, they are shown by their Telegram name.
    newcomer = ChatUser(double, double.user(7777, "赵<b>干事</b>"))
    await newcomer.send("/help")
    lines = texts(await admin.send("/roles")).splitlines()
    assert "officer: 赵<b>干事</b> (7777)" in lines and "#7777" not in "\n".join(lines)
    replies = await admin.send("/revoke 7777 officer")
    assert "no longer officer" in texts(replies)
    replies = await admin.send("/revoke 7777 officer")
    assert "does not have" in texts(replies)
    async with sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == 7777))
        assert person is not None
        grant = await session.scalar(select(RoleGrant).where(RoleGrant.person_id == person.id))
        assert grant is not None and grant.revoked_at is not None
    # grids
    replies = await admin.send("/grid set 新网格 阳光花园 1栋 2栋")
    assert "2 buildings put into 新网格" in texts(replies)
    replies = await admin.send("/grid set 新网格 阳光花园 9栋")
    assert "no building" in texts(replies)
    mark = double.mark()
    update = double.send_document(
        admin.user, "grids.csv", "compound,building,grid\n幸福里,A座,第一网格\n".encode(),
        caption="/grid import",
    )  # fmt: skip
    await double.wait_processed(update, timeout=10)
    assert "1 grid row imported" in texts(admin.replies_since(mark, admin.id))
    async with sessionmaker() as session:
        grid = await session.scalar(select(Grid).where(Grid.name == "第一网格"))
        building = await session.scalar(select(Building).where(Building.name == "A座"))
        assert grid is not None and building is not None and building.grid_id == grid.id
    # compounds
    replies = await officer.send("/compound 幸福里 manager 刘经理 13900139000")
    assert "刘经理 +8613900139000" in texts(replies)
    replies = await officer.send("/compound 幸福里 lead 市第二机械厂")
    assert "牵头单位：市第二机械厂" in texts(replies)
    replies = await officer.send("/compound 幸福里 stationed 陈<b>驻点</b> 12345")
    assert "手机号" in texts(replies)
    async with sessionmaker() as session:
        compound = await session.scalar(select(Compound).where(Compound.name == "幸福里"))
        assert compound is not None and compound.manager_name == "刘经理"
        assert compound.stationed_name is None


async def test_me_shows_reports_isolation_and_checkins(
    running_bot: RunningBot,
    english_resident: ChatUser,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    replies = await resident.send("/me")
    assert "请先完成住户登记" in texts(replies)
    person_id = await register(
        sessionmaker, clock, community, english_resident, name="Alice", member=None
    )
    replies = await english_resident.send("/me")
    assert texts(replies) == "My reports\nNo reports yet.\n\nYou are not in home isolation."
    async with sessionmaker.begin() as session:
        iso = Isolation(
            community_id=community.community_id, person_id=person_id, start_date=date(2022, 3, 8),
            end_date=date(2022, 3, 21), status="active", created_at=clock.now(),
        )  # fmt: skip
        session.add(iso)
        await session.flush()
        session.add(
            CheckIn(isolation_id=iso.id, day=date(2022, 3, 8), day_number=1, status="answered",
                    temperature=36.6, created_at=clock.now() - timedelta(days=2))
        )  # fmt: skip
    await english_resident.send("/start")
    replies = await english_resident.press("My reports")
    assert replies[-1].content == (
        "My reports\n"
        "No reports yet.\n"
        "\n"
        "Home isolation: 2022-03-08 to 2022-03-21 (14 days), today is day 3, 12 days left.\n"
        "Check-ins\n"
        "Day 1 2022-03-08: ✅ 36.6 °C"
    )


async def test_grid_csv_import_is_all_or_nothing_and_admin_only(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员"))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))

    async def upload(user: ChatUser, content: bytes) -> str:
        mark = double.mark()
        update = double.send_document(user.user, "g.csv", content, caption="/grid import")
        await double.wait_processed(update, timeout=10)
        return texts(user.replies_since(mark, user.id))

    assert "没有执行此操作的权限" in await upload(officer, b"compound,building,grid\n")
    assert "三列" in await upload(admin, "小区,楼\n阳光花园,1栋\n".encode())
    bad = "compound,building,grid\n幸福里,A座,第一网格\n阳光花园,99栋,第一网格\n".encode()
    assert "没有“99栋”" in await upload(admin, bad)
    assert "第 3 行" in await upload(admin, "compound,building,grid\n幸福里,A座,新\n,,\n".encode())
    # As Excel on Chinese Windows saves it: GBK, Chinese headers.
    chinese = "小区,楼栋,网格\r\n幸福里,A座,第三网格\r\n".encode("gbk")
    assert await upload(admin, chinese) == "✅ 已导入 1 行网格划分。"
    async with sessionmaker() as session:
        building = await session.scalar(select(Building).where(Building.name == "A座"))
        assert building is not None and building.grid_id == community.grid_ids["第三网格"]


async def test_an_ambiguous_place_is_named_in_the_officers_language(
    running_bot: RunningBot, double: BotApiDouble, community: SeededCommunity
) -> None:
    """/risk add and /risk_import with a place name several places share: an English-
    speaking officer reads the candidates' English names (each with its Chinese name,
    which bulletins use and which can be typed), a Chinese-speaking one the Chinese."""
    english = ChatUser(double, double.user(OFFICER_ID, "Officer Wang", language_code="en"))
    assert texts(await english.send("/risk add 南山 medium 3-5")) == (
        "Several places are called “南山”; please be more specific: "
        "Nanshan, Hegang, Heilongjiang (黑龙江省鹤岗市南山区); "
        "Nanshan, Shenzhen, Guangdong (广东省深圳市南山区)"
    )
    # a county named like its city is named in full, not as the city again
    assert texts(await english.send("/risk add chaoyang high")) == (
        "Several places are called “chaoyang”; please be more specific: "
        "Chaoyang, Liaoning (辽宁省朝阳市); Chaoyang, Beijing (北京市朝阳区); "
        "Chaoyang, Chaoyang, Liaoning (辽宁省朝阳市朝阳县); "
        "Chaoyang, Changchun, Jilin (吉林省长春市朝阳区); "
        "Chaoyang, Shantou, Guangdong (广东省汕头市潮阳区)"
    )
    assert texts(await english.send("/risk_import\n南山 high 2022-03-01")) == (
        "✅ 0 risk areas imported.\n"
        "🔁 Re-matched: 0 reports and 0 gate passages; 0 isolations started, 0 new cases.\n"
        "⚠️ Line 1 “南山 high 2022-03-01”: Several places are called “南山”; please be more "
        "specific: Nanshan, Hegang, Heilongjiang (黑龙江省鹤岗市南山区); "
        "Nanshan, Shenzhen, Guangdong (广东省深圳市南山区)"
    )
    chinese = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await chinese.send("/language")
    await chinese.press("中文")
    assert texts(await chinese.send("/risk add 南山 medium 3-5")) == (
        "“南山”对应的地名有多个，请写得更具体：黑龙江省鹤岗市南山区、广东省深圳市南山区"
    )
    # once the place is precise, the area is added, named in the officer's language
    await chinese.send("/language")
    await chinese.press("English")
    assert texts(await english.send("/risk add 深圳南山 medium 3-5")) == (
        "✅ Risk area #1 added: Nanshan, Shenzhen, Guangdong, medium-risk area, from 2022-03-05."
    )
