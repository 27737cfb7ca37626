"""/audit over HTTP (R-AUD): admins only; filters by person and by day; paged."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry
from bot.double import BotApiDouble
from bot.presentation.callbacks import AuditPage
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, OFFICER_ID, SeededCommunity


async def test_admin_filters_and_pages(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker.begin() as session:
        for i in range(25):
            session.add(
                AuditEntry(
                    actor_id=None, actor_telegram_id=777, action=f"test.a{i}", entity="case",
                    entity_id=i, details={},
                    at=datetime(2022, 3, 8, 10, 0, tzinfo=SHANGHAI) + timedelta(minutes=i),
                )
            )  # fmt: skip
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="en"))
    replies = await admin.send("/audit 2022-03-08")
    text = texts(replies)
    # Unnamed actions keep their code, with the entity named; "#24" and "03-08" apart.
    assert text.splitlines()[:4] == [
        "Audit log · 2022-03-08 · page 1/3",
        "",
        "03-08 10:24 777 test.a24 (case) #24",
        "03-08 10:23 777 test.a23 (case) #23",
    ]
    assert len(text.splitlines()) == 12 and "test.a14" not in text
    replies = await admin.press("Next")
    assert "test.a14" in texts(replies) and "page 2/3" in texts(replies)
    replies = await admin.send("/audit 王干事")
    # The seed granted the officer a role: an entry about that person, its action named
    # in the reader's language, one entry per line.
    assert (
        texts(replies) == "Audit log · 王干事 · page 1/1\n\n03-10 09:00 社区管理员 granted role #2"
    )
    replies = await admin.send(f"/audit {OFFICER_ID} 2022-03-08")
    assert "No entries" in texts(replies)
    replies = await admin.send("/audit 2099-01-01")
    assert "future" in texts(replies)


async def test_officer_and_resident_are_refused(
    running_bot: RunningBot, double: BotApiDouble, resident: ChatUser, community: SeededCommunity
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    replies = await officer.send("/audit")
    assert "permission" in texts(replies)
    replies = await resident.send("/audit")
    assert "权限" in texts(replies)
    await resident.press_data(AuditPage(page=1).pack(), replies[0], strict=False)
    assert "权限" in (resident.answer_of_last_press() or "")
