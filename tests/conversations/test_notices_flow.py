"""Official notices end to end over HTTP (R-NOT): compose, audience, preview, send now /
at a time / daily, progress card, /notices + cancel, and refusals (zh + en)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    Community,
    Delivery,
    GroupChat,
    Isolation,
    Notice,
    Person,
    Role,
    ScopeType,
)
from bot.double import BotApiDouble
from bot.presentation.callbacks import NoticeCb
from bot.services.identity import ensure_staff_person, grant_role
from scheduler import tick
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, OFFICER_ID, SeededCommunity

GROUP = -100200


async def setup_world(
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> dict[str, int]:
    double.group(GROUP, "阳光花园业主群")
    ids: dict[str, int] = {}
    async with sessionmaker.begin() as session:
        session.add(
            GroupChat(
                chat_id=GROUP,
                compound_id=community.compound_ids["阳光花园"],
                title="阳光花园业主群",
                bound_at=clock.now(),
            )
        )
        c = await session.get(Community, community.community_id)
        assert c is not None
        c.fever_clinics = [
            {"name": "市第一医院发热门诊", "address": "人民路1号", "phone": "0571-1"}
        ]
        for tg, name, room in ((6001, "住户甲", "101"), (6002, "隔离者", "102")):
            person = Person(
                telegram_user_id=tg,
                name=name,
                household_id=community.household(f"阳光花园/1栋/1单元/{room}"),
                created_at=clock.now(),
            )
            session.add(person)
            await session.flush()
            ids[name] = person.id
            user = double.user(tg, name)
            double.private_chat(user)
            double.started.add(tg)
        session.add(
            Isolation(
                community_id=community.community_id,
                person_id=ids["隔离者"],
                start_date=date(2022, 3, 8),
                end_date=date(2022, 3, 21),
                created_at=clock.now(),
            )
        )
    return ids


def officer(double: BotApiDouble) -> ChatUser:
    return ChatUser(double, double.user(OFFICER_ID, "王干部", language_code="zh-hans"))


def admin_en(double: BotApiDouble) -> ChatUser:
    return ChatUser(double, double.user(ADMIN_ID, "Admin", language_code="en"))


async def test_compose_and_send_now_in_chinese(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    await setup_world(double, sessionmaker, clock, community)
    me = officer(double)
    replies = await me.send("/notice")
    assert "请发送通知内容" in texts(replies)
    replies = await me.send("今晚<b>停水</b> & 请储水")
    assert "发给谁" in texts(replies)
    await me.press("阳光花园业主群")
    replies = await me.press("直接发给居民")
    assert "✅ 阳光花园业主群" in str(double.inline_buttons(replies[-1]))
    await me.press("在群里置顶")
    replies = await me.press("下一步")
    preview = texts(replies)
    assert "预览" in preview and "阳光花园业主群" in preview and "居民" in preview
    assert "今晚<b>停水</b> & 请储水" in preview  # escaped: shown literally, not bold
    replies = await me.press("立即发送")
    assert "通知 #" in texts(replies) and "待发送 3" in texts(replies)

    await running_bot.drain()
    group_texts = [m.text or "" for m in double.messages(GROUP)]
    assert any("社区通知" in t and "今晚<b>停水</b>" in t for t in group_texts)
    assert "今晚<b>停水</b>" in (double.messages(6001)[-1].text or "")
    assert "今晚<b>停水</b>" in (double.messages(6002)[-1].text or "")
    assert len(double.calls_of("pinChatMessage")) == 1

    # The card is updated with the progress by the periodic task.
    app = running_bot.application
    await tick(app.job_context())
    await running_bot.drain()
    card = me.last()
    assert "已送达 3" in (card.text or "") and "待发送 0" in (card.text or "")

    # Running the tick again changes nothing: no duplicate notice, no new edit.
    def bot_calls() -> int:
        return len([c for c in double.calls if c.method.lower() != "getupdates"])

    before = bot_calls()
    await tick(app.job_context())
    await running_bot.drain()
    assert bot_calls() == before
    async with sessionmaker() as session:
        notice = await session.scalar(select(Notice))
        assert notice is not None and notice.status == "sent"


async def test_library_notice_at_a_set_time_in_english(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    await setup_world(double, sessionmaker, clock, community)
    me = admin_en(double)
    await me.send("/notice")
    replies = await me.press("Where the fever clinics are")
    assert "Who should get it" in texts(replies)
    replies = await me.press("Next")
    assert me.answer_of_last_press() == "Please choose at least one audience."
    await me.press("People in isolation")
    replies = await me.press("Next")
    assert "市第一医院发热门诊" in texts(replies) and "people in isolation" in texts(replies)
    replies = await me.press("Send at a time")
    assert "local time" in texts(replies)
    assert "could not read" in texts(await me.send("next blue moon"))
    assert "already passed" in texts(await me.send("2022-03-10 08:00"))
    assert "60 days" in texts(await me.send("2022-06-10 08:00"))
    replies = await me.send("tomorrow 8:00")
    assert "due 2022-03-11 08:00" in texts(replies)

    def notices(chat_id: int) -> list[str]:
        # The person in isolation also gets the daily check-in prompt from the same tick.
        texts_ = [m.text or "" for m in double.messages(chat_id)]
        return [t for t in texts_ if not t.startswith("🌡")]

    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert notices(6002) == []
    clock.set(datetime(2022, 3, 11, 8, 0, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    received = notices(6002)
    # In the language the officer composed in, as previewed.
    assert len(received) == 1 and received[0].startswith("📢 Community notice")
    assert "市第一医院发热门诊" in received[0]
    assert double.messages(6001) == []  # only people in isolation


async def test_daily_notice_repeats_and_can_be_cancelled(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    await setup_world(double, sessionmaker, clock, community)
    me = officer(double)
    await me.send("/notice")
    await me.send("每日提醒：按时测温")
    await me.press("阳光花园业主群")
    await me.press("下一步")
    replies = await me.press("每天重复")
    assert "每天几点" in texts(replies)
    assert "没看懂这个时间" in texts(await me.send("25:00"))
    replies = await me.send("20:00")
    assert "每天 20:00" in texts(replies)
    job = running_bot.application.job_context()

    for day in (10, 11):
        clock.set(datetime(2022, 3, day, 20, 0, 30, tzinfo=SHANGHAI))
        await tick(job)
        await tick(job)
        await running_bot.drain()
    daily = [m for m in double.messages(GROUP) if "按时测温" in (m.text or "")]
    assert len(daily) == 2

    replies = await me.send("/notices")
    assert "每天 20:00" in texts(replies)
    replies = await me.press("取消这条通知")
    assert "已取消" in texts(replies)
    clock.set(datetime(2022, 3, 12, 20, 0, 30, tzinfo=SHANGHAI))
    await tick(job)
    await running_bot.drain()
    assert len([m for m in double.messages(GROUP) if "按时测温" in (m.text or "")]) == 2
    assert "目前没有" in texts(await me.send("/notices"))


async def test_residents_cannot_send_or_cancel_notices(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    resident: ChatUser,
    english_resident: ChatUser,
) -> None:
    await setup_world(double, sessionmaker, clock, community)
    assert "只有社区干部" in texts(await resident.send("/notice"))
    assert "Only community officers" in texts(await english_resident.send("/notice"))
    assert "只有社区干部" in texts(await resident.send("/notices"))
    # An officer schedules one; a resident forges the cancel button.
    me = officer(double)
    await me.send("/notice")
    await me.send("明早消杀")
    await me.press("阳光花园业主群")
    await me.press("下一步")
    await me.press("定时发送")
    await me.send("明天 9:00")
    async with sessionmaker() as session:
        notice = await session.scalar(select(Notice))
        assert notice is not None
    last = resident.last()
    await resident.press_data(NoticeCb(action="cancel", arg=notice.id).pack(), last, strict=False)
    assert resident.answer_of_last_press() == "只有社区干部可以发布通知。"
    # A forged compose button without a compose in progress is refused too.
    await resident.press_data(NoticeCb(action="now").pack(), last, strict=False)
    assert resident.answer_of_last_press() == "只有社区干部可以发布通知。"
    # The officer's own stale press after finishing: expired, not a crash.
    await me.press_data(NoticeCb(action="now").pack(), me.last(), strict=False)
    assert me.answer_of_last_press() == "这条操作已失效，请重新发送 /notice。"
    async with sessionmaker() as session:
        found = await session.get(Notice, notice.id)
        assert found is not None and found.status == "scheduled"
        assert (await session.scalars(select(Delivery))).all() == []


async def test_photo_notice_survives_a_restart_mid_flow(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    await setup_world(double, sessionmaker, clock, community)
    me = officer(double)
    await me.send("/notice")
    replies = await me._run(double.send_photo(me.user), me.id)
    assert "需要配上说明文字" in texts(replies)
    assert "900" in texts(await me._run(double.send_photo(me.user, caption="长" * 1000), me.id))
    replies = await me._run(double.send_photo(me.user, caption="消杀<i>路线</i>图"), me.id)
    assert "发给谁" in texts(replies)
    await running_bot.restart()  # the compose state is in the database, not in memory
    await me.press("阳光花园业主群")
    await me.press("下一步")
    preview, data = me.button_data("立即发送")
    await me.press_data(data, preview)
    await me.press_data(data, preview, strict=False)  # twice: stale, nothing more is sent
    assert me.answer_of_last_press() == "这条操作已失效，请重新发送 /notice。"
    await running_bot.drain()
    photos = double.calls_of("sendPhoto")
    to_group = [c for c in photos if c.params.get("chat_id") == GROUP]
    assert len(to_group) == 1
    assert "消杀&lt;i&gt;路线&lt;/i&gt;图" in str(to_group[0].params.get("caption"))


async def test_compound_officer_writes_to_residents_without_a_group_post(
    running_bot: RunningBot,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
) -> None:
    """QA: a compound officer could not reach their residents without posting in the
    compound's groups too. The audience now has a choice: groups and private chats /
    groups only / private chats only (zh and en, whole messages)."""
    await setup_world(double, sessionmaker, clock, community)
    async with sessionmaker.begin() as session:
        person = await ensure_staff_person(session, clock, telegram_user_id=9106, name="钱干事")
        await grant_role(
            session, clock, person=person, role=Role.OFFICER, scope_type=ScopeType.COMPOUND,
            scope_id=community.compound_ids["阳光花园"], by=None,
        )  # fmt: skip
    me = ChatUser(double, double.user(9106, "钱干事", language_code="zh-hans"))
    await me.send("/notice")
    replies = await me.send("明早8点核酸检测")
    assert texts(replies) == (
        "发给谁？可多选，✅ 表示已选。\n"
        "• 第一行：发到业主群、居民私聊，还是两者都发；\n"
        "• 小区：业主群只发所选小区的群；私聊也只发这些小区的人（不选小区则发给全社区）；\n"
        "• “直接发给居民”“发给隔离人员”：私聊发给本人。\n"
        "选好后点“下一步”，发送前会先给您预览。"
    )
    assert [[label for label, _ in row] for row in double.inline_buttons(replies[-1])] == [
        ["业主群 + 私聊", "✅ 仅业主群", "仅私聊"], ["阳光花园业主群"], ["直接发给居民"],
        ["发给隔离人员"], ["在群里置顶"], ["下一步 ➡️"], ["取消"],
    ]  # fmt: skip
    replies = await me.press("仅私聊")
    assert [[label for label, _ in row] for row in double.inline_buttons(replies[-1])] == [
        ["业主群 + 私聊", "仅业主群", "✅ 仅私聊"], ["阳光花园（仅该小区住户，不发群）"],
        ["✅ 直接发给居民"], ["发给隔离人员"], ["在群里置顶"], ["下一步 ➡️"], ["取消"],
    ]  # fmt: skip
    await me.press("阳光花园")
    replies = await me.press("下一步")
    assert [m.content for m in replies[1:3]] == [
        "预览（对象：阳光花园的居民，仅私聊，不发业主群）：",
        "📢 社区通知\n\n明早8点核酸检测",
    ]
    await me.press("立即发送")
    await running_bot.drain()
    assert [m.text for m in double.messages(GROUP)] == []  # no group post
    for resident in (6001, 6002):
        assert [m.text for m in double.messages(resident)] == ["📢 社区通知\n\n明早8点核酸检测"]
    async with sessionmaker() as session:
        notice = await session.scalar(select(Notice))
        assert notice is not None and notice.audience["groups"] is False
    # In English: groups only (residents are not written to), then both.
    admin = admin_en(double)
    await admin.send("/notice")
    await admin.send("Water off tonight")
    await admin.press("阳光花园 owners' group")
    await admin.press("Owners' groups only")  # already so: nothing changes
    assert [[label for label, _ in row] for row in double.inline_buttons(admin.last())][:3] == [
        ["Groups + private chats", "✅ Owners' groups only", "Private chats only"],
        ["幸福里 owners' group"], ["✅ 阳光花园 owners' group"],
    ]  # fmt: skip
    replies = await admin.press("Next")
    assert replies[1].content == "Preview (to: 阳光花园 owners' group):"
    await admin.press("Send now")
    await running_bot.drain()
    assert [m.text for m in double.messages(GROUP)] == ["📢 Community notice\n\nWater off tonight"]
    assert len(double.messages(6001)) == 1
    await admin.send("/notice")
    await admin.send("Lift repair")
    await admin.press("阳光花园 owners' group")
    replies = await admin.press("Groups + private chats")
    assert [[label for label, _ in row] for row in double.inline_buttons(replies[-1])][:4] == [
        ["✅ Groups + private chats", "Owners' groups only", "Private chats only"],
        ["幸福里 owners' group"], ["✅ 阳光花园 owners' group"], ["✅ Residents directly"],
    ]  # fmt: skip
    replies = await admin.press("Next")
    assert replies[1].content == "Preview (to: 阳光花园 owners' group + residents):"
    await admin.press("Send now")
    await running_bot.drain()
    assert double.messages(GROUP)[-1].text == "📢 Community notice\n\nLift repair"
    assert double.messages(6001)[-1].text == "📢 Community notice\n\nLift repair"
