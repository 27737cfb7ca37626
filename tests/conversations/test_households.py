"""Households joined only with consent (R-HH), end to end through the Bot API double:
join requests to the head and the staff fallback, one-time invitations, leaving and
removing members, staff registering on someone's behalf; both languages."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, Invitation, Isolation, JoinRequest, Person
from bot.double import BotApiDouble
from scheduler import JobContext, escalate_join_requests
from tests.conversations.test_registration_flow import walk_to_name
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity

ROOM = "阳光花园/1栋/1单元/101"
ADDRESS = "阳光花园 1栋 1单元 101"


async def _apply(user: ChatUser, name: str, phone: str) -> str:
    await walk_to_name(user)
    await user.send(name)
    await user.send(phone)
    await user.press("没有了")
    replies = await user.press("确认提交")
    return replies[-1].content or ""


def _request_card(user: ChatUser, name: str) -> tuple[str, str]:
    cards = [m for m in user.double.messages(user.id) if f"{name}（" in (m.content or "")]
    assert cards, texts(user.double.messages(user.id))
    return cards[-1].content or "", cards[-1].message_id.__str__()


async def test_head_approves_one_applicant_and_rejects_another(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await register(sessionmaker, running_bot.clock, community, resident)  # 张三, head
    await resident.send("/help")  # the head has talked to the bot before
    wife = ChatUser(double, double.user(5101, "李四"))
    stranger = ChatUser(double, double.user(5102, "陌生人"))
    assert (await _apply(wife, "李四", "13900139000")).startswith("✅ 已提交入户申请")
    assert (await _apply(stranger, "王五", "13700137000")).startswith("✅ 已提交入户申请")
    # the applicant cannot report for the household, nor see it
    replies = await stranger.send("/household")
    assert texts(replies) == "您还没有登记，请先发送 /start。"
    await running_bot.drain()
    requests = [m for m in double.messages(resident.id) if "入户申请" in (m.content or "")]
    assert [m.content for m in requests] == [
        "🏠 入户申请 #1\n李四（+8613900139000） 申请加入您家：阳光花园 1栋 1单元 101。\n"
        "如果是您的家人，请点“同意”；不认识请点“拒绝”。",
        "🏠 入户申请 #2\n王五（+8613700137000） 申请加入您家：阳光花园 1栋 1单元 101。\n"
        "如果是您的家人，请点“同意”；不认识请点“拒绝”。",
    ]
    # the stranger presses the head's button (forged): refused
    _, approve_wife = resident.button_data("同意", requests[0])
    await stranger.press_data(approve_wife, requests[0], strict=False, chat_id=resident.id)
    assert stranger.answer_of_last_press() == (
        "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
    )
    replies = await resident.press("同意", requests[0])
    assert texts(replies) == "✅ 已同意 李四 加入。"
    replies = await resident.press("拒绝", requests[1])
    assert texts(replies) == "已拒绝 王五 的申请。"
    # approving twice
    await resident.press_data(approve_wife, requests[0], strict=False)
    assert resident.answer_of_last_press() == "这个申请已经同意过了。"
    # the rejected stranger cannot pester the household again today
    replies = await stranger.send("/register")
    await stranger.press("阳光花园")
    await stranger.press("1栋")
    await stranger.press("1单元")
    await stranger.press("101")
    await stranger.send("王五")
    await stranger.send("13700137000")
    await stranger.press("没有了")
    await stranger.press("确认提交")
    assert stranger.answer_of_last_press() == (
        "这户人家已经拒绝了您的入户申请，24 小时内不能再次申请。如有误会请联系网格员。"
    )
    await running_bot.drain()
    assert wife.last().content == (
        "✅ 您加入 阳光花园 1栋 1单元 101 的申请已通过。发送 /start 打开主菜单。"
    )
    assert stranger.last().content == (
        "您加入 阳光花园 1栋 1单元 101 的申请未获同意。如有疑问请联系网格员。"
    )
    async with sessionmaker() as session:
        members = (
            await session.scalars(
                select(Person)
                .where(Person.household_id == community.household(ROOM))
                .order_by(Person.id)
            )
        ).all()
        assert [(m.name, m.telegram_user_id, m.is_head) for m in members] == [
            ("张三", resident.id, True),
            ("张奶奶", None, False),
            ("李四", wife.id, False),
        ]
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        assert actions.count("household.join_approve") == 1
        assert actions.count("household.join_reject") == 1
    # now a member, the wife sees the household
    replies = await wife.send("/household")
    assert texts(replies) == (
        "我的家庭\n住址：阳光花园 1栋 1单元 101\n• 张三（户主）\n"
        "• 张奶奶（无 Telegram，由家人代报）\n• 李四（本人）"
    )


async def test_unanswered_request_goes_to_the_grid_worker_privately(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: object,
) -> None:
    await register(sessionmaker, clock, community, resident)
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    for user in (resident, grid, officer):
        await user.send("/help")
    mark = double.mark()
    applicant = ChatUser(double, double.user(5103, "李四"))
    await _apply(applicant, "李四", "13900139000")
    ctx = JobContext(sessionmaker, clock, running_bot.settings, running_bot.catalog)
    await escalate_join_requests(ctx)  # too early: nothing for the grid worker
    await running_bot.drain()
    assert grid.replies_since(mark, GRID_WORKER_ID) == []
    clock.advance(timedelta(minutes=721))
    await escalate_join_requests(ctx)
    await escalate_join_requests(ctx)  # idempotent
    await running_bot.drain()
    sent = grid.replies_since(mark, GRID_WORKER_ID)
    assert [m.content for m in sent] == [
        "🏠 入户申请 #1（户主未确认）\n李四（+8613900139000） 申请加入：阳光花园 1栋 1单元 101。\n"
        "户主没有 Telegram 或未在规定时间内答复，请核实后处理。"
    ]
    # the grid worker's scope covers 1栋: approve works; nothing went to the officer
    assert officer.replies_since(mark, OFFICER_ID) == []
    replies = await grid.press("同意", sent[0])
    assert texts(replies) == "✅ 已同意 李四 加入。"
    # the head's own (late) button now says it was decided
    await running_bot.drain()
    head_card = next(m for m in double.messages(resident.id) if "入户申请" in (m.content or ""))
    await resident.press("同意", head_card)
    assert resident.answer_of_last_press() == "这个申请已经同意过了。"


async def test_head_without_telegram_request_goes_to_staff_at_once_and_out_of_scope_refused(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    await grid.send("/help")
    # door to door: the grid worker registers an elderly person without a phone
    replies = await grid.send("/register_for 阳光花园/1栋/1单元/101 张奶奶")
    assert texts(replies) == (
        "✅ 已代为登记 张奶奶：阳光花园 1栋 1单元 101（标记为工作人员代登记）。"
    )
    # outside the grid worker's grid (2栋 is 第二网格): refused
    replies = await grid.send("/register_for 阳光花园/2栋/1单元/101 王奶奶")
    assert texts(replies) == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
    resident = ChatUser(double, double.user(5104, "居民"))
    replies = await resident.send("/register_for 阳光花园/1栋/1单元/102 假人")
    assert texts(replies) == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
    replies = await grid.send("/register_for 不存在/1/1/1 某人")
    assert "名册里没有“不存在/1/1/1”" in texts(replies)
    replies = await grid.send("/register_for")
    assert texts(replies).startswith("用法：/register_for")
    async with sessionmaker() as session:
        grandma = await session.scalar(select(Person).where(Person.name == "张奶奶"))
        assert grandma is not None and grandma.is_head and grandma.registered_by_staff_id
    # a grandson applies: the head has no Telegram, so the grid worker is asked at once
    grandson = ChatUser(double, double.user(5105, "张小"))
    await _apply(grandson, "张小", "13600136000")
    await running_bot.drain()
    assert [m.content for m in double.messages(GRID_WORKER_ID) if "入户申请" in (m.content or "")]
    card = [m for m in double.messages(GRID_WORKER_ID) if "入户申请" in (m.content or "")][-1]
    replies = await grid.press("同意", card)
    assert texts(replies) == "✅ 已同意 张小 加入。"
    async with sessionmaker() as session:
        grandson_row = await session.scalar(
            select(Person).where(Person.telegram_user_id == grandson.id)
        )
        # the head stays the grandmother; the grandson is a member
        assert grandson_row is not None and not grandson_row.is_head
        assert grandson_row.household_id == community.household(ROOM)


async def test_invitation_links_single_use_expiry_revocation_and_member_takeover(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)  # 张三 + 张奶奶 (no Telegram)
    replies = await resident.send("/invite")
    text = texts(replies)
    async with sessionmaker() as session:
        invitation = await session.scalar(select(Invitation).order_by(Invitation.id.desc()))
        assert invitation is not None and invitation.member_id is None
    link = f"https://t.me/{running_bot.application.bot_username}?start=join_{invitation.token}"
    assert text == (
        f"🔗 一次性邀请链接\n{link}\n"
        "把链接私下发给要邀请的人。链接只能用一次，72 小时后失效，可以在 /household 里撤销。"
        "请不要发到群里。"
    )
    son = ChatUser(double, double.user(5106, "张小"))
    replies = await son.send(f"/start join_{invitation.token}")
    assert texts(replies).startswith("🏠 您收到了加入 阳光花园 1栋 1单元 101 的邀请。")
    await son.press("同意")
    replies = await son.send("张小")
    replies = await son.send("13600136000")
    assert texts(replies) == "✅ 您已加入 阳光花园 1栋 1单元 101。发送 /start 打开主菜单。"
    # the same link a second time, by someone else
    other = ChatUser(double, double.user(5107, "别人"))
    replies = await other.send(f"/start join_{invitation.token}")
    assert texts(replies) == (
        "这个邀请链接已经用过了（每个链接只能用一次）。请向户主要一个新的链接。"
    )
    replies = await other.send("/start join_nonsense")
    assert texts(replies) == "这个邀请链接无效。请向户主要一个新的链接。"
    # a link bound to the grandmother: she takes over her own record
    replies = await resident.send("/invite 张奶奶")
    assert "（仅供 张奶奶 本人使用）" in texts(replies)
    async with sessionmaker() as session:
        bound = await session.scalar(select(Invitation).order_by(Invitation.id.desc()))
        assert bound is not None and bound.member_id is not None
    # an expired one
    replies = await resident.send("/invite")
    async with sessionmaker() as session:
        late = await session.scalar(select(Invitation).order_by(Invitation.id.desc()))
        assert late is not None
    grandma = ChatUser(double, double.user(5108, "奶奶"))
    replies = await grandma.send(f"/start join_{bound.token}")
    assert texts(replies).startswith("🏠 户主邀请您接管家庭成员“张奶奶”的记录")
    replies = await grandma.press("同意")
    assert texts(replies).endswith(
        "✅ “张奶奶”的记录已关联到您的账号，今后的健康打卡会直接发给您。"
    )
    async with sessionmaker() as session:
        row = await session.scalar(select(Person).where(Person.name == "张奶奶"))
        assert row is not None and row.telegram_user_id == grandma.id
        assert row.household_id == community.household(ROOM)
    # revoke: the head's /household lists the open link with a revoke button
    replies = await resident.send("/household")
    await resident.press(f"撤销邀请 #{late.id}")
    replies = await other.send(f"/start join_{late.token}")
    assert texts(replies) == "这个邀请链接已被户主撤销。"
    # expiry
    await resident.send("/invite")
    async with sessionmaker() as session:
        last = await session.scalar(select(Invitation).order_by(Invitation.id.desc()))
        assert last is not None
    clock.advance(timedelta(hours=73))
    replies = await other.send(f"/start join_{last.token}")
    assert texts(replies) == ("这个邀请链接已过期（有效期 72 小时）。请向户主要一个新的链接。")
    # a member (not the head) cannot invite
    replies = await son.send("/invite")
    assert texts(replies) == "抱歉，只有户主（或社区工作人员）可以这样做。"


async def test_leaving_removing_and_changing_head(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    head_id = await register(sessionmaker, clock, community, resident)
    son = ChatUser(double, double.user(5109, "张小"))
    async with sessionmaker.begin() as session:
        session.add(
            Person(
                telegram_user_id=son.id, household_id=community.household(ROOM), name="张小",
                created_at=clock.now(), language="zh-CN",
            )
        )  # fmt: skip
        grandma = await session.scalar(select(Person).where(Person.name == "张奶奶"))
        assert grandma is not None
        session.add(
            Isolation(
                community_id=community.community_id, person_id=grandma.id,
                start_date=date(2022, 3, 5), end_date=date(2022, 3, 18), created_at=clock.now(),
            )
        )  # fmt: skip
    # a member cannot remove anyone: there are no remove buttons, and a forged one fails
    replies = await son.send("/household")
    assert "移除" not in str(replies[-1].reply_markup)
    await son.press_data(f"hh:remove:{head_id}", replies[-1], strict=False)
    assert son.answer_of_last_press() == "抱歉，只有户主（或社区工作人员）可以这样做。"
    # the head cannot leave while another Telegram member remains
    await resident.send("/household")
    await resident.press("退出这户")
    await resident.press("确认退出")
    assert resident.answer_of_last_press() == (
        "您是户主，家里还有其他使用 Telegram 的成员。"
        "请先在 /household 里把户主转给其中一人，再退出。"
    )
    # the grandmother in isolation cannot be removed
    await resident.send("/household")
    await resident.press("移除 张奶奶")
    assert resident.answer_of_last_press() == (
        "张奶奶 正在居家隔离，不能移除或搬出；如需变动请联系社区工作人员。"
    )
    # hand over the head; then the old head leaves
    replies = await resident.press("转让户主给 张小")
    assert texts(replies) == "✅ 张小 现在是户主。"
    await resident.send("/household")
    await resident.press("退出这户")
    replies = await resident.press("确认退出")
    assert texts(replies) == "您已退出这户。发送 /start 可重新登记。"
    # the last Telegram member cannot leave the grandmother without anyone to report
    await son.send("/household")
    await son.press("退出这户")
    await son.press("确认退出")
    assert son.answer_of_last_press() == (
        "您是这户最后一位使用 Telegram 的成员，其他成员需要有人代为报备。"
        "请先邀请一位家人加入（/invite），或联系网格员，再退出。"
    )
    # only staff move a member in isolation: out of scope refused, then an officer does
    other_grid = ChatUser(double, double.user(9010, "周网格"))
    async with sessionmaker.begin() as session:
        grandma = await session.scalar(select(Person).where(Person.name == "张奶奶"))
        assert grandma is not None
        grandma_id = grandma.id
        from bot.db.models import Role, ScopeType
        from bot.services.identity import ensure_staff_person, grant_role

        staff = await ensure_staff_person(session, clock, telegram_user_id=9010, name="周网格")
        await grant_role(
            session, clock, person=staff, role=Role.GRID_WORKER, scope_type=ScopeType.GRID,
            scope_id=community.grid_ids["第二网格"], by=None,
        )  # fmt: skip
    replies = await other_grid.send(f"/move_member {grandma_id} 阳光花园/1栋/1单元/102")
    assert texts(replies) == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
    replies = await resident.send(f"/move_member {grandma_id} 阳光花园/1栋/1单元/102")
    assert texts(replies) == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await officer.send(f"/move_member {grandma_id} 阳光花园/1栋/1单元/102")
    assert texts(replies) == "✅ 已将 张奶奶 迁到 阳光花园 1栋 1单元 102。"
    # now the son is the only member: he may leave, and the household is empty
    await son.send("/household")
    await son.press("退出这户")
    replies = await son.press("确认退出")
    assert texts(replies) == (
        "您已退出这户。这户现在没有登记的成员了，房号仍保留在社区名册中。发送 /start 可重新登记。"
    )
    async with sessionmaker() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
        assert "household.change_head" in actions and "member.leave" in actions
        moved = await session.scalar(select(AuditEntry).where(AuditEntry.action == "member.move"))
        assert moved is not None and moved.actor_telegram_id == OFFICER_ID
        assert moved.details["household_id"] == {
            "old": community.household(ROOM),
            "new": community.household("阳光花园/1栋/1单元/102"),
        }


async def test_english_join_request_and_invitation_errors(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, english_resident, name="Alice")
    await english_resident.send("/help")
    bob = ChatUser(double, double.user(5110, "Bob", language_code="en"))
    await bob.send("/start")
    await bob.press("I agree")
    await bob.press("阳光花园")
    await bob.press("1栋")
    await bob.press("1单元")
    await bob.press("101")
    await bob.send("Bob")
    await bob.send("+44 7700 900123")
    await bob.press("No more")
    replies = await bob.press("Confirm")
    assert (replies[-1].content or "").startswith(
        f"✅ Request sent to join {ADDRESS}.\n\nThis room already has a registered household."
    )
    # two requests at once from the same person to the same room
    async with sessionmaker() as session:
        assert len((await session.scalars(select(JoinRequest))).all()) == 1
    await running_bot.drain()
    card = english_resident.last()
    assert card.content == (
        "🏠 Join request #1\nBob (+447700900123) asks to join your household: "
        f"{ADDRESS}.\nIf this is a member of your family, press “Approve”; "
        "if you don't know them, press “Reject”."
    )
    _, approve = english_resident.button_data("Approve", card)
    replies = await english_resident.press_data(approve, card)
    assert texts(replies) == "✅ Bob has joined."
    await english_resident.press_data(approve, card, strict=False)
    assert english_resident.answer_of_last_press() == "This request has already been approved."
    replies = await bob.send("/start join_nonsense")
    assert texts(replies) == (
        "This invitation link is not valid. Please ask the head of household for a new one."
    )


async def test_an_officer_links_a_listed_member_with_a_bound_invitation(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await register(sessionmaker, clock, community, resident)  # 张三 + 张奶奶 (no Telegram)
    async with sessionmaker() as session:
        grandma = await session.scalar(select(Person).where(Person.name == "张奶奶"))
        assert grandma is not None
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    stranger = ChatUser(double, double.user(5111, "路人"))
    replies = await stranger.send(f"/invite_member {grandma.id}")
    assert texts(replies) == "抱歉，只有户主或负责这户的网格员、社区工作人员可以处理。"
    replies = await grid.send("/invite_member 张奶奶")
    assert texts(replies).startswith("用法：/invite_member 人员编号")
    replies = await grid.send(f"/invite_member {grandma.id}")
    assert "（仅供 张奶奶 本人使用）" in texts(replies)
    async with sessionmaker() as session:
        invitation = await session.scalar(select(Invitation))
        assert invitation is not None and invitation.member_id == grandma.id
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "household.invite")
        )
        assert entry is not None and entry.actor_telegram_id == GRID_WORKER_ID
        assert entry.details["by_staff"] is True
    phone_of_grandma = ChatUser(double, double.user(5112, "奶奶"))
    await phone_of_grandma.send(f"/start join_{invitation.token}")
    replies = await phone_of_grandma.press("同意")
    assert texts(replies).endswith(
        "✅ “张奶奶”的记录已关联到您的账号，今后的健康打卡会直接发给您。"
    )
