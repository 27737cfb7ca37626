"""Inputs that used to crash a handler (or vanish) get a clear message in the user's
language: an over-long grid name, a CSV field over csv's limit, a command from an
anonymous group admin, ids too large for any database column, the database down."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Grid, InboxUpdate
from bot.double import BotApiDouble
from messages import Catalog
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import ADMIN_ID, SeededCommunity

THIRTY_DIGITS = "1" * 30


@pytest.fixture
def admin(double: BotApiDouble) -> ChatUser:
    return ChatUser(double, double.user(ADMIN_ID, "社区管理员"))


async def test_grid_name_of_81_characters(
    running_bot: RunningBot,
    admin: ChatUser,
    community: SeededCommunity,
    catalog: Catalog,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    replies = await admin.send(f"/grid set {'网' * 81} 阳光花园 1栋")
    assert [m.raw_text for m in replies] == [
        catalog.render("zh-CN", "errors.text.too_long", max_len=80)
    ]
    async with sessionmaker() as session:
        assert await session.scalar(select(Grid).where(Grid.name.startswith("网网"))) is None


async def test_csv_field_over_the_csv_limit(
    running_bot: RunningBot,
    double: BotApiDouble,
    admin: ChatUser,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    content = ('compound,building,grid\n阳光花园,1栋,"' + "x" * 140_000 + '"\n').encode()
    mark = double.mark()
    update = double.send_document(admin.user, "grids.csv", content, caption="/grid import")
    await double.wait_processed(update, timeout=10)
    assert [m.raw_text for m in admin.replies_since(mark, admin.id)] == [
        catalog.render("zh-CN", "core.csv_field_too_long", line=2)
    ]


async def test_notice_from_an_anonymous_group_admin(
    running_bot: RunningBot, double: BotApiDouble, community: SeededCommunity, catalog: Catalog
) -> None:
    group = double.group(-1005555, "阳光花园业主群")
    anonymous = double.user(1087968824, "Group", username="GroupAnonymousBot")
    mark = double.mark()
    record = double.store_message(
        group, {"text": "/notice"}, sender=anonymous, kind="text", from_bot=False
    )
    data = copy.deepcopy(record.data)
    data["from"]["is_bot"] = True
    data["sender_chat"] = group.to_api()
    data["entities"] = [{"type": "bot_command", "offset": 0, "length": 7}]
    update = double.enqueue("message", data)
    await double.wait_processed(update, timeout=10)
    replies = [m for c in double.calls if c.seq >= mark for m in c.messages]
    assert [(m.chat_id, m.raw_text) for m in replies] == [
        (group.id, catalog.render("zh-CN", "core.anonymous_admin"))
    ]


@pytest.mark.parametrize(
    "command",
    [
        f"/audit {THIRTY_DIGITS}",
        f"/isolation {THIRTY_DIGITS}",
        f"/grant {THIRTY_DIGITS} officer",
        f"/risk remove {THIRTY_DIGITS}",
        f"/clinic remove {THIRTY_DIGITS}",
    ],
)
async def test_thirty_digit_ids(
    running_bot: RunningBot,
    admin: ChatUser,
    community: SeededCommunity,
    catalog: Catalog,
    command: str,
) -> None:
    replies = await admin.send(command)
    assert [m.raw_text for m in replies] == [
        catalog.render("zh-CN", "errors.id.invalid", value=THIRTY_DIGITS)
    ]


async def test_database_down_tells_the_user_to_retry_and_keeps_the_update(
    running_bot: RunningBot,
    double: BotApiDouble,
    english_resident: ChatUser,
    catalog: Catalog,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.core import inbox

    async def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("UPDATE inbox", {}, ConnectionRefusedError("db down"))

    monkeypatch.setattr(inbox, "mark_done", down)
    # On PostgreSQL the mark is made by the identity query (one round trip for both).
    monkeypatch.setattr("bot.middlewares.load_identity_marking", down)
    replies = await english_resident.send("/help")
    assert [m.raw_text for m in replies] == [catalog.render("en", "core.database_unavailable")]
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(InboxUpdate).where(InboxUpdate.done_at.is_(None))))
    assert [r.payload["message"]["text"] for r in rows] == ["/help"]
