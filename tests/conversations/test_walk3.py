"""Walk 3: what a resident, a grid worker and an officer met walking every screen,
each reproduced over HTTP before it was fixed (whole messages, both languages)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CheckInStatus, Person, Role, ScopeType
from bot.double import BotApiDouble
from bot.services.identity import ensure_staff_person, grant_role
from tests.conversations.test_checkin_answers import (
    at,
    checkin_of,
    isolated_and_prompted,
    run_tick,
)
from tests.conversations.test_notices_flow import officer, setup_world
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, SeededCommunity

UTC = ZoneInfo("UTC")
BOT_GIVEN_RELATIONS = (("李访客", "visitor"), ("王租户", "tenant"), ("赵协查", "assigned"))


def officer_en(double: BotApiDouble) -> ChatUser:
    return ChatUser(double, double.user(ADMIN_ID, "Admin", language_code="en"))


async def test_me_counts_days_in_the_community_zone_and_lists_family_in_isolation(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await isolated_and_prompted(
        running_bot, resident, community, sessionmaker, clock, members=("张奶奶",)
    )
    await resident.send("36.5")
    await resident.press("张三")
    clock.set(at(9, 1, day=11))
    await run_tick(running_bot)
    # 07:30 in Shanghai on 3/12 is still 3/11 in UTC: today is day 3, not day 2.
    clock.set(at(7, 30, day=12))
    assert clock.now().astimezone(UTC).day == 11
    await run_tick(running_bot)
    replies = await resident.send("/me")
    assert texts(replies) == (
        "我的报备\n还没有报备记录。\n\n"
        "居家隔离：2022-03-10 至 2022-03-23（共 14 天），今天是第 3 天，还剩 12 天。\n"
        "健康打卡\n"
        "第 1 天 2022-03-10：✅ 36.5℃\n"
        "第 2 天 2022-03-11：❌ 未打卡\n\n"
        "张奶奶的居家隔离：2022-03-10 至 2022-03-23（共 14 天），今天是第 3 天，还剩 12 天。\n"
        "健康打卡\n"
        "第 1 天 2022-03-10：❌ 未打卡\n"
        "第 2 天 2022-03-11：❌ 未打卡"
    )


async def test_me_in_english_lists_a_member_while_the_resident_is_not_isolated(
    running_bot: RunningBot,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await isolated_and_prompted(
        running_bot,
        english_resident,
        community,
        sessionmaker,
        clock,
        name="Alice",
        members=("Grandma",),
        isolate_self=False,
        language="en",
    )
    replies = await english_resident.send("/me")
    assert texts(replies) == (
        "My reports\nNo reports yet.\n\n"
        "You are not in home isolation.\n\n"
        "Home isolation of Grandma: 2022-03-10 to 2022-03-23 (14 days), today is day 1, "
        "14 days left.\n"
        "Check-ins\n"
        "Day 1 2022-03-10: ⏳ pending"
    )


async def test_an_impossible_temperature_is_refused_at_once_with_several_pending(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    iso = await isolated_and_prompted(
        running_bot, resident, community, sessionmaker, clock, members=("张奶奶",)
    )
    replies = await resident.send("36.8")
    assert texts(replies) == "今天有多人需要打卡。36.8℃ 是谁的体温？请点选："
    # 45 is no one's temperature: refused before asking whose it is.
    replies = await resident.send("45")
    assert texts(replies) == (
        "体温 45.0℃ 不在合理范围内（34–43℃），请重新测量后再输入，例如 36.5。"
    )
    # What was typed before is kept: pressing the name records 36.8.
    await resident.press("张奶奶")
    member = await checkin_of(sessionmaker, iso.member_isolation_ids[0])
    assert member.status == CheckInStatus.ANSWERED and member.temperature == Decimal("36.8")
    assert (await checkin_of(sessionmaker, iso.isolation_id)).status == CheckInStatus.PENDING

    await isolated_and_prompted(
        running_bot, english_resident, community, sessionmaker, clock, name="Alice",
        household="阳光花园/1栋/1单元/102", members=("Grandma",), language="en",
    )  # fmt: skip
    replies = await english_resident.send("113F")
    assert texts(replies) == (
        "A temperature of 45.0 °C is not plausible (34–43 °C). "
        "Please measure again and type it, e.g. 36.5."
    )


async def test_profile_shows_visitors_tenants_and_people_from_a_trace_list(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    head = await register(sessionmaker, clock, community, resident, member=None)
    await register(
        sessionmaker, clock, community, english_resident, name="Alice",
        room="阳光花园/1栋/1单元/102", member=None,
    )  # fmt: skip
    async with sessionmaker.begin() as session:
        for room in ("阳光花园/1栋/1单元/101", "阳光花园/1栋/1单元/102"):
            for name, relation in BOT_GIVEN_RELATIONS:
                session.add(
                    Person(household_id=community.household(room), name=name, relation=relation,
                           reported_by_id=head, created_at=clock.now())
                )  # fmt: skip
    replies = await resident.send("/profile")
    assert texts(replies) == (
        "我的登记信息\n\n住址：阳光花园 1栋 1单元 101\n姓名：张三\n手机：+8613800138000\n"
        "家庭成员：\n• 张三（本人）\n• 李访客（来访人员）（由家人代报）\n"
        "• 王租户（租户/来住亲属）（由家人代报）\n• 赵协查（社区登记（协查名单））（由家人代报）"
    )
    replies = await english_resident.send("/profile")
    assert "李访客 (visitor)" in texts(replies)
    assert "王租户 (tenant or staying relative)" in texts(replies)
    assert "赵协查 (added by the community (trace list))" in texts(replies)


async def test_a_huge_id_is_answered_politely_not_with_an_error(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    me = officer(double)
    huge = "99999999999999999999"
    for command in (f"/monitor history {huge}", f"/monitor end {huge} 已核实",
                    f"/monitor extend {huge} 3 复查"):  # fmt: skip
        replies = await me.send(command)
        assert texts(replies) == f"登记册中没有找到“{huge}”。", command


async def test_isolations_and_checkins_of_an_unknown_compound_say_so(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    me = officer(double)
    for command in ("/isolations 不存在", "/checkins 不存在"):
        replies = await me.send(command)
        assert texts(replies) == "没有名为“不存在”的小区。可以查看：幸福里、阳光花园。"
    replies = await officer_en(double).send("/checkins Nowhere")
    assert texts(replies) == "There is no compound called “Nowhere”. You can see: 幸福里, 阳光花园."
    # A known compound still lists; today's unanswered check-in is 待打卡 (pending), as
    # in /checkins; 未打卡 is kept for a missed one.
    replies = await me.send("/isolations 阳光花园")
    assert texts(replies).endswith("今日打卡：待打卡")
    replies = await me.send("/checkins 阳光花园")
    assert texts(replies) == (
        "今日打卡情况（2022-03-10）\n阳光花园：已打卡 0，待打卡 1，未打卡 0\n待打卡：张三"
    )


async def test_typed_text_where_only_a_button_answers_asks_for_the_button(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await resident.send("/start")
    replies = await resident.send("同意")
    assert texts(replies) == (
        "这一步请点击上方的按钮选择，打字无法回答。想放弃本次填写，请发送 /cancel。"
    )
    await english_resident.send("/start")
    replies = await english_resident.send("yes")
    assert texts(replies) == (
        "Please press one of the buttons above: this step cannot be answered by typing. "
        "To stop, send /cancel."
    )
    # A sticker is of the wrong kind anywhere: the general wording stays.
    await setup_world(double, sessionmaker, clock, community)
    me = officer(double)
    await me.send("/notice")
    await me.send("明早8点核酸检测")
    replies = await me.send("发给阳光花园")
    assert texts(replies) == (
        "这一步请点击上方的按钮选择，打字无法回答。想放弃本次填写，请发送 /cancel。"
    )
    # The form is still there: the buttons answer.
    await me.press("阳光花园业主群")
    replies = await me.press("下一步")
    assert "明早8点核酸检测" in texts(replies)


async def test_relatives_are_asked_where_they_stay_not_which_flat_is_let(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    clock.set(at(10))
    await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("🔑 租户/来住亲属报备")
    await resident.press("外地来住的亲属")
    await resident.send("李四")
    await resident.send("北京")
    await resident.send("3/9")
    replies = await resident.send("13900139000")
    assert texts(replies) == (
        "第 6/6 步：亲属住在哪一户？就住在您家请点“跳过”；住在别的房屋请写明，如“2栋1单元201”："
    )
    await register(
        sessionmaker, clock, community, english_resident, name="Alice",
        room="阳光花园/1栋/1单元/102", member=None,
    )  # fmt: skip
    await english_resident.send("/report")
    await english_resident.press("🔑 Tenants / relatives staying")
    await english_resident.press("Tenants")
    await english_resident.send("Bob")
    await english_resident.send("Beijing")
    await english_resident.send("3/9")
    replies = await english_resident.send("13900139000")
    assert texts(replies) == (
        "Step 6/6: which flat is let? If it is the flat you registered, press “Skip”; "
        "otherwise type it, e.g. “building 2 unit 1 201”:"
    )


async def test_mydata_files_are_dated_in_the_community_zone(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)
    # 07:30 on 3/12 in Shanghai is 23:30 on 3/11 in UTC.
    clock.set(datetime(2022, 3, 11, 23, 30, tzinfo=UTC))
    replies = await resident.send("/mydata")
    names = [m.document["file_name"] for m in replies if m.document is not None]  # type: ignore[index]
    assert names == ["mydata-2022-03-12.html", "mydata-2022-03-12.json"]


async def test_a_one_line_answer_typed_on_two_lines_stays_on_one_line(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    clock.set(at(10))
    await register(sessionmaker, clock, community, resident)
    await resident.send("/report")
    await resident.press("🕵️ 线索举报（匿名）")
    await resident.press("返乡未报备")
    await resident.send("3栋\n2单元 401")
    replies = await resident.send("每天晚上有人回来\n没有报备")
    assert texts(replies) == (
        "请核对：🕵️ 线索举报（匿名）\n"
        "类别：返乡未报备\n"
        "涉及：3栋 2单元 401\n"
        "情况：每天晚上有人回来\n没有报备\n\n"
        "您的身份只有系统知道，不会告诉被举报人，也不会在任何群里出现。\n\n"
        "信息无误请点“确认提交”。"
    )


async def test_a_phone_typed_after_a_word_is_understood(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident, member=None)
    await resident.send("/profile")
    await resident.press("📱 修改手机号")
    replies = await resident.send("手机13900139000")
    assert texts(replies) == "✅ 已更新。"
    replies = await resident.send("/profile")
    assert "手机：+8613900139000" in texts(replies)


async def test_binding_a_bound_group_elsewhere_is_said_and_needs_both_compounds(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    group = double.group(-100991, "业主群")
    me = ChatUser(double, double.user(9002, "王干事"))
    replies = await me.send("/bind 阳光花园", chat=group)
    assert "已绑定到小区：阳光花园" in texts(replies)
    # An officer of 幸福里 only cannot take 阳光花园's group away.
    async with sessionmaker.begin() as session:
        person = await ensure_staff_person(session, clock, telegram_user_id=9107, name="孙干事")
        await grant_role(
            session, clock, person=person, role=Role.OFFICER, scope_type=ScopeType.COMPOUND,
            scope_id=community.compound_ids["幸福里"], by=None,
        )  # fmt: skip
    other = ChatUser(double, double.user(9107, "孙干事"))
    replies = await other.send("/bind 幸福里", chat=group)
    assert texts(replies) == "本群已绑定到小区 阳光花园，只有负责该小区的工作人员可以改绑。"
    # The community officer may, and the move is said.
    replies = await me.send("/bind 幸福里", chat=group)
    assert texts(replies) == (
        "✅ 本群已从小区 阳光花园 改绑到小区：幸福里。"
        "今后 阳光花园 的通知和每日匿名统计不再发到这里。"
    )
