"""Registration end to end over HTTP (R-REG, R-I18N)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Consent, ConsentDecline, Person
from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import SeededCommunity


async def walk_to_name(user: ChatUser, building: str = "1栋", room: str = "101") -> None:
    await user.send("/start")
    await user.press("同意")
    await user.press("阳光花园")
    await user.press(building)
    await user.press("1单元")
    await user.press(room)


async def test_full_registration_in_chinese(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    double: BotApiDouble,
) -> None:
    replies = await resident.send("/start")
    assert "个人信息与健康信息处理告知" in texts(replies)
    await resident.press("同意")
    assert "小区" in resident.last().content
    await resident.press("阳光花园")
    await resident.press("1栋")
    await resident.press("1单元")
    replies = await resident.press("101")
    assert "姓名" in texts(replies)
    replies = await resident.send("张三")
    assert double.reply_keyboard(resident.id) is not None
    assert double.reply_keyboard(resident.id)["keyboard"][0][0]["request_contact"] is True
    await resident.share_contact("8613800138000")
    await resident.press("添加家庭成员")
    await resident.send("张奶奶")
    await resident.press("祖父母")
    replies = await resident.press("没有了")
    assert replies[-1].content == (
        "请确认登记信息\n\n"
        "住址：阳光花园 1栋 1单元 101\n"
        "姓名：张三\n"
        "手机：+8613800138000\n"
        "家庭成员（不使用 Telegram）：\n"
        "• 张奶奶（祖父母/外祖父母）"
    )
    replies = await resident.press("确认提交")
    # The summary loses its buttons (edited), then the confirmation.
    assert (
        replies[-1].content
        == "✅ 登记成功！\n\n发送 /start 打开主菜单，/profile 查看或修改登记信息。"
    )

    async with sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        assert person is not None and person.name == "张三" and person.is_head
        assert person.household_id == community.household("阳光花园/1栋/1单元/101")
        members = await session.scalar(
            select(func.count())
            .select_from(Person)
            .where(Person.household_id == person.household_id)
        )
        assert members == 2
    # Registered: /start now opens the main menu
    replies = await resident.send("/start")
    assert "请选择要办理的事项" in texts(replies)


async def test_restart_in_the_middle_keeps_the_conversation(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await walk_to_name(resident)
    await resident.send("张三")
    await running_bot.restart()
    # After the restart the bot still expects the phone number.
    replies = await resident.send("13800138000")
    assert "+8613800138000" in texts(replies)
    await running_bot.restart()
    await resident.press("没有了")
    replies = await resident.press("确认提交")
    assert "登记成功" in texts(replies)
    async with sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        assert person is not None and person.name == "张三" and person.phone == "+8613800138000"


async def test_bad_phone_numbers_are_refused_politely_and_nothing_is_lost(
    running_bot: RunningBot, resident: ChatUser, community: SeededCommunity
) -> None:
    await walk_to_name(resident)
    await resident.send("张三")
    for bad in ["12345", "phone", "138001380001234567", "+86 0000"]:
        replies = await resident.send(bad)
        assert "手机号码好像不对" in texts(replies), bad
    # someone else's contact is refused
    replies = await resident.share_contact("+8613900139000", user_id=777)
    assert "本人" in texts(replies)
    replies = await resident.send("138-0013-8000")
    assert "+8613800138000" in texts(replies)
    await resident.press("没有了")
    summary = texts(await resident.press("确认提交"))
    assert "登记成功" in summary


async def test_forged_and_stale_callbacks_get_a_polite_answer(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await resident.send("/start")
    await resident.press("同意")
    picker = resident.last()
    # unparseable data
    await resident.press_data("rp:nonsense", picker, strict=False)
    assert "失效" in (resident.answer_of_last_press() or "")
    # a room id from another unit, sent while a compound is expected
    other_room = community.household("幸福里/A座/1单元/101")
    await resident.press_data(f"rp:r:{other_room}", picker, strict=False)
    assert "不可用" in (resident.answer_of_last_press() or "")
    # a compound id that does not exist
    await resident.press_data("rp:c:999999", picker, strict=False)
    assert "不可用" in (resident.answer_of_last_press() or "")
    # an officer-only button pressed by a resident in private chat
    await resident.press_data("bind:1", picker, strict=False)
    assert resident.answer_of_last_press()
    # the conversation is intact: the real choice still works
    replies = await resident.press("阳光花园")
    assert "楼栋" in texts(replies)
    # a stale confirm button from nowhere does not register anything
    await resident.press_data("ra:confirm", picker, strict=False)
    async with sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Person)
                .where(Person.telegram_user_id == resident.id)
            )
            == 0
        )


async def test_declining_consent_stores_nothing_personal(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await resident.send("/start")
    replies = await resident.press("不同意")
    assert "没有保存您的任何个人信息" in texts(replies)
    replies = await resident.send("张三 13800138000")
    assert "/start" in texts(replies)
    async with sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Person)
                .where(Person.telegram_user_id == resident.id)
            )
            == 0
        )
        # Nothing identifying: no consent row with the account, only a daily count.
        assert (await session.scalars(select(Consent))).all() == []
        declines = (await session.scalars(select(ConsentDecline))).all()
        assert [(d.locale, d.count) for d in declines] == [("zh-CN", 1)]
    # changing one's mind later works
    await resident.send("/start")
    replies = await resident.press("同意")
    assert "小区" in texts(replies)


async def test_second_user_of_a_room_only_applies_and_claims_nobody(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    double: BotApiDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await walk_to_name(resident)
    await resident.send("张三")
    await resident.send("13800138000")
    await resident.press("添加家庭成员")
    await resident.send("李四")
    await resident.press("配偶")
    await resident.press("没有了")
    await resident.press("确认提交")

    stranger = ChatUser(double, double.user(5003, "李四", language_code="zh-hans"))
    await walk_to_name(stranger)
    await stranger.send("李四")
    await stranger.send("13900139000")
    await stranger.press("没有了")
    replies = await stranger.press("确认提交")
    text = replies[-1].content
    assert text == (
        "✅ 已提交入户申请：阳光花园 1栋 1单元 101。\n\n"
        "该房号已有住户登记。为保护这户人家的信息，需要户主（或负责的网格员/社区工作人员）"
        "确认后您才会加入；确认前您看不到这户的任何信息，也不能替这户报备。"
        "结果会通过本聊天通知您。"
    )
    assert "张三" not in text  # other members' names are not revealed to whoever picks a room
    async with sessionmaker() as session:
        household_id = community.household("阳光花园/1栋/1单元/101")
        members = (
            await session.scalars(
                select(Person).where(Person.household_id == household_id).order_by(Person.id)
            )
        ).all()
        # typing the listed name claimed nothing: 李四's record has no Telegram account
        assert [(m.name, m.telegram_user_id) for m in members] == [
            ("张三", resident.id),
            ("李四", None),
        ]
    # not a member: the profile says so, the report menu is not open to them
    replies = await stranger.send("/profile")
    assert texts(replies) == "您还没有登记，请先发送 /start。"


async def test_english_registration_escapes_html_in_names(
    running_bot: RunningBot, english_resident: ChatUser, community: SeededCommunity
) -> None:
    user = english_resident
    replies = await user.send("/start")
    assert "How your personal and health data is used" in texts(replies)
    await user.press("I agree")
    await user.press("阳光花园")
    await user.press("2栋")
    await user.press("2单元")
    replies = await user.press("302")
    assert "type your name" in texts(replies)
    await user.send("<b>Alice</b> & Bob")
    await user.send("+44 7700 900123")
    replies = await user.press("No more")
    summary = replies[-1]
    assert "Name: <b>Alice</b> & Bob" in (summary.content or "")
    assert "&lt;b&gt;Alice&lt;/b&gt; &amp; Bob" in (summary.raw_text or "")
    assert "+447700900123" in (summary.content or "")
    replies = await user.press("Confirm")
    assert "You are registered" in texts(replies)


async def test_language_cancel_and_profile_edit(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    replies = await resident.send("/cancel")
    assert "没有进行中的操作" in texts(replies)
    await walk_to_name(resident)
    replies = await resident.send("/cancel")
    assert "已取消" in texts(replies)
    await resident.send("/language")
    replies = await resident.press("English")
    assert "Language set to English" in texts(replies)
    replies = await resident.send("/help")
    assert "main menu" in texts(replies)
    # register in English now; consent was already given, so the address comes first
    replies = await resident.send("/start")
    assert "Step 1: choose your" in texts(replies)
    await resident.press("阳光花园")
    await resident.press("1栋")
    await resident.press("1单元")
    await resident.press("102")
    await resident.send("王五")
    await resident.send("13700137000")
    await resident.press("No more")
    await resident.press("Confirm")
    replies = await resident.send("/profile")
    assert replies[0].content == (
        "My registration\n"
        "\n"
        "Address: 阳光花园, 1栋, 1单元, room 102\n"
        "Name: 王五\n"
        "Phone: +8613700137000\n"
        "Household:\n"
        "• 王五 (me)"
    )
    await resident.press("Change name")
    await resident.send("王小五")
    await resident.send("/profile")
    await resident.press("Add member")
    await resident.send("王奶奶")
    replies = await resident.press("Grandparent")
    assert "王奶奶 added" in texts(replies)
    await resident.send("/profile")
    await resident.press("Remove member")
    replies = await resident.press("王奶奶")
    assert "王奶奶 removed" in texts(replies)
    async with sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        assert person is not None and person.name == "王小五" and person.language == "en"


def _buttons(message: object) -> list[str]:
    markup = getattr(message, "reply_markup", None) or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_the_address_can_be_typed_instead_of_pressed(
    running_bot: RunningBot,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """An elderly resident types the address where the buttons are: the register's names
    it names are taken as if pressed ("号楼", "室" and spaces as people write them), a
    building or room may be typed as its number, and text that names nothing in the list
    is answered with an example from it, the step kept."""
    await resident.send("/start")
    await resident.press("同意")
    replies = await resident.send("阳光花园 2号楼 1单元 301室")
    assert [r.content for r in replies] == [
        "住址：阳光花园 2栋 1单元 301",
        "第 5 步：请输入您的姓名：",
    ]
    await resident.send("张三")
    await resident.send("13800138000")
    await resident.press("没有了")
    await resident.press("确认提交")
    async with sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        assert person is not None
        assert person.household_id == community.household("阳光花园/2栋/1单元/301")

    # Step by step in English, with a miss on the way.
    user = english_resident
    await user.send("/start")
    await user.press("I agree")
    replies = await user.send("阳光花园")
    assert [r.content for r in replies] == ["Step 2: choose your building:"]
    assert _buttons(replies[-1]) == ["1栋", "2栋"]
    replies = await user.send("2")  # the building's number
    assert [r.content for r in replies] == ["Step 3: choose your unit:"]
    assert _buttons(replies[-1]) == ["1单元", "2单元"]
    replies = await user.send("Unit 9")
    assert [r.content for r in replies] == [
        "“Unit 9” is not in this list. Please press a button above, or type a name from the"
        " list, for example 1单元."
    ]
    replies = await user.send("2单元 302")
    assert [r.content for r in replies] == [
        "Address: 阳光花园, 2栋, 2单元, room 302",
        "Step 5: type your name:",
    ]
    replies = await user.send("Alice")
    assert "phone number" in texts(replies)
