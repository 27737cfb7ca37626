"""Staff as the outside scenarios act (helper walk): a grid worker handles a case from
the private card the bot sent them; the anonymised card in the officers' chat follows
(it no longer says "pending" for a case resolved privately)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import Case, CaseStatus
from bot.double import BotApiDouble, SentMessage
from messages import Catalog
from tests.conversations.test_checkin_answers import isolated_and_prompted
from tests.conversations.test_reports_flow import register
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GRID_WORKER_ID, OFFICER_ID, SeededCommunity

OFFICERS_CHAT = -100555


def current(double: BotApiDouble, message_id: int) -> SentMessage:
    """The card in the officers' chat as it is now (edits applied)."""
    (found,) = [m for m in double.messages(OFFICERS_CHAT) if m.message_id == message_id]
    return found


async def test_a_case_handled_privately_updates_the_officers_card(
    running_bot: RunningBot,
    resident: ChatUser,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    grid = ChatUser(double, double.user(GRID_WORKER_ID, "李网格"))
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await grid.send("/help")
    chat = double.group(OFFICERS_CHAT, "东湖社区工作群")
    await officer.send("/officers_here", chat)
    await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    await resident.send("38.9")
    await running_bot.drain()
    (card,) = [m for m in double.messages(OFFICERS_CHAT) if "#1" in (m.content or "")]
    assert "状态：待处理" in (card.content or "")
    # The grid worker's private card (full, with buttons).
    private = [m for m in double.messages(grid.id) if "#1" in (m.content or "")][-1]
    assert "人员：张三" in (private.content or "")
    await grid.press("我来处理", private)
    await running_bot.drain()
    card = current(double, card.message_id)
    assert "状态：处理中" in (card.content or "") and "处理人：李网格" in (card.content or "")
    assert "张三" not in (card.content or "")
    await grid.press("办结", private)
    replies = await grid.send("已电话联系，复测 36.8")
    assert "已办结" in texts(replies)
    await running_bot.drain()
    card = current(double, card.message_id)
    assert "状态：已办结" in (card.content or "")
    assert "36.8" not in (card.content or "") and "张三" not in (card.content or "")
    async with sessionmaker() as session:
        case = await session.scalar(select(Case))
        assert case is not None and case.status == CaseStatus.RESOLVED
    # Pressed in the officers' chat itself, the card is edited in place, once.
    mark = double.mark()
    await officer.press_data(f"case:ack:{case.id}", card, strict=False)
    await running_bot.drain()
    edits = [c for c in double.calls if c.seq >= mark and c.method.lower() == "editmessagetext"]
    assert len(edits) == 1


async def test_bind_sent_in_a_private_chat_says_where_it_belongs(
    running_bot: RunningBot, double: BotApiDouble, resident: ChatUser, community: SeededCommunity
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send("/bind 阳光花园")
    assert texts(replies) == (
        "Send /bind or /unbind in the owners' group itself (community staff only)."
    )
    replies = await resident.send("/unbind")
    assert texts(replies) == "请在要绑定的业主群里发送 /bind 或 /unbind（仅限社区工作人员）。"


async def test_community_by_a_resident_is_refused_as_a_staff_command(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    replies = await resident.send("/community")
    assert texts(replies) == catalog.render("zh-CN", "common.not_allowed")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    replies = await officer.send("/community")
    assert texts(replies) == catalog.render("zh-CN", "privacy.one_community")


STAFF_ONLY = (
    "register_for", "invite_member", "move_member", "shift_add", "distribute", "round_new",
    "round", "round_tick", "round_todo", "round_positives", "seal", "seals", "supplies",
    "care_add", "care_list", "gate_poster", "community", "audit", "monitor",
)  # fmt: skip


async def test_staff_commands_by_a_resident_and_a_stranger_are_refused_first(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """Not their usage (which tells how to register someone, move a member…), and not
    "address unknown" (which tells which rooms exist): a refusal, whatever the arguments."""
    await register(sessionmaker, clock, community, resident)
    stranger = ChatUser(double, double.user(5999, "路人"))
    refusals = {
        catalog.render("zh-CN", "common.not_allowed"),
        catalog.render("zh-CN", "reports.register_first"),
        catalog.render("zh-CN", "households.not_allowed"),
    }
    wrong = []
    for user in (resident, stranger):
        for command in STAFF_ONLY:
            for args in ("", " 阳光花园/1栋/1单元/101 张三", " 12 阳光花园/1栋/1单元/102"):
                answer = texts(await user.send(f"/{command}{args}"))
                if answer not in refusals:
                    wrong.append(f"{user.user.first_name} /{command}{args}: {answer[:50]!r}")
    assert wrong == [], "\n".join(wrong)
