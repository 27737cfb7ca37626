"""The check-in answer fast path (issue 13, bot/services/checkin_fast.py): "normal" on a
prompt recorded by one statement on PostgreSQL. It must be indistinguishable from the
general path: the same rows (check-in, audit entry, inbox mark), the same Bot API calls
with the same whole texts, in both locales, for one's own check-in and a family
member's; presses it does not take (someone else's, forged, a second press) get the
general path's refusals, with nothing written. On SQLite the fast path is off and the
same assertions hold for the general path alone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import AuditEntry, CheckIn, CheckInStatus, InboxUpdate, Person
from bot.double import BotApiDouble, SentMessage
from bot.services import audit
from bot.services.checkin_fast import FastAnswers
from messages import Catalog
from tests.conversations.test_checkin_answers import isolated_and_prompted, prompts
from tests.support.chat import ChatUser, RunningBot
from tests.support.community import SeededCommunity

OTHER_ROOM = "阳光花园/1栋/1单元/102"
#: Parameters that name this chat, message or query: different for each user.
_IDS = ("chat_id", "message_id", "callback_query_id")


def _fast(running_bot: RunningBot) -> FastAnswers:
    fast = running_bot.application.fast_answers
    assert fast is not None
    return fast


def _calls(double: BotApiDouble, mark: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (c.method, {k: v for k, v in c.params.items() if k not in _IDS})
        for c in double.calls
        if c.seq >= mark and c.method.lower() != "getupdates"
    ]


async def _written(
    sessionmaker: async_sessionmaker[AsyncSession], checkin_id: int, update_id: int
) -> dict[str, Any]:
    """What a press stored, with the actor's ids replaced by "actor"."""
    async with sessionmaker() as session:
        checkin = await session.get(CheckIn, checkin_id)
        assert checkin is not None
        actor = (
            await session.get(Person, checkin.answered_by_id) if checkin.answered_by_id else None
        )
        entries = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity == "checkin", AuditEntry.entity_id == checkin_id
                )
            )
        ).all()
        done_at = await session.scalar(
            select(InboxUpdate.done_at).where(InboxUpdate.update_id == update_id)
        )

    def who(person_id: int | None) -> Any:
        return "actor" if actor is not None and person_id == actor.id else person_id

    return {
        "checkin": (
            checkin.status,
            checkin.temperature,
            checkin.symptoms,
            checkin.answered_at,
            who(checkin.answered_by_id),
        ),
        "audit": [
            (
                who(e.actor_id),
                e.actor_telegram_id == (actor.telegram_user_id if actor else None),
                e.action,
                e.details,
                e.at,
                e.community_id,
                # Chained (the hashes themselves differ from entry to entry).
                e.prev_hash is not None and e.row_hash is not None,
            )
            for e in entries
        ],
        "inbox_done_at": done_at,
    }


async def _checkin_id(sessionmaker: async_sessionmaker[AsyncSession], isolation_id: int) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(select(CheckIn.id).where(CheckIn.isolation_id == isolation_id))
        assert found is not None
        return found


async def _press(
    user: ChatUser, double: BotApiDouble, prompt: SentMessage, label: str
) -> tuple[list[tuple[str, dict[str, Any]]], str | None, int]:
    mark = double.mark()
    await user.press(label, message=prompt)
    assert user.last_press.callback_query is not None
    edited = next(m for m in double.messages(user.id) if m.message_id == prompt.message_id)
    return _calls(double, mark), edited.raw_text, user.last_press.update_id


@pytest.mark.parametrize(("who", "locale"), [("resident", "zh-CN"), ("english_resident", "en")])
async def test_fast_and_general_paths_answer_and_write_the_same(
    who: str,
    locale: str,
    request: pytest.FixtureRequest,
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    first: ChatUser = request.getfixturevalue(who)
    # zh-CN from the Telegram client's language; en stored with the person.
    language = "en" if locale == "en" else None
    second = ChatUser(
        double, double.user(first.id + 100, "Second", language_code=first.user.language_code)
    )
    isolations = [
        await isolated_and_prompted(
            running_bot, first, community, sessionmaker, clock, name="张三", members=("张奶奶",),
            language=language,
        ),
        await isolated_and_prompted(
            running_bot, second, community, sessionmaker, clock, name="李四",
            household=OTHER_ROOM, members=("李奶奶",), language=language,
        ),
    ]  # fmt: skip
    fast = _fast(running_bot)
    on_postgres = fast.enabled
    label = catalog.render(locale, "checkin.button_normal")
    marker = "健康打卡" if locale == "zh-CN" else "check-in"
    seen: dict[bool, list[Any]] = {}
    for user, iso, fast_path in ((first, isolations[0], True), (second, isolations[1], False)):
        fast.enabled = on_postgres and fast_path
        own, member = (
            next(m for m in prompts(double, user.id, marker) if "奶奶" not in (m.content or "")),
            next(m for m in prompts(double, user.id, marker) if "奶奶" in (m.content or "")),
        )
        recorded = fast.recorded
        calls, text, update_id = await _press(user, double, own, label)
        own_written = await _written(
            sessionmaker, await _checkin_id(sessionmaker, iso.isolation_id), update_id
        )
        m_calls, m_text, m_update_id = await _press(user, double, member, label)
        member_written = await _written(
            sessionmaker, await _checkin_id(sessionmaker, iso.member_isolation_ids[0]), m_update_id
        )
        assert fast.recorded - recorded == (2 if fast.enabled else 0)
        grandma = "张奶奶" if fast_path else "李奶奶"
        # Whole texts: the prompt edited into the thanks, then the button's empty answer.
        thanks = catalog.render(locale, "checkin.thanks", name="", member=False, temperature="")
        assert text == thanks
        assert m_text == catalog.render(
            locale, "checkin.thanks", name=grandma, member=True, temperature=""
        )
        assert [c[0] for c in calls] == ["editMessageText", "answerCallbackQuery"]
        assert calls[0][1]["text"] == thanks and calls[1][1] == {}
        assert own_written["checkin"][0] == CheckInStatus.ANSWERED
        assert own_written["inbox_done_at"] == clock.now()
        assert len(own_written["audit"]) == 1 and len(member_written["audit"]) == 1
        m_calls[0][1]["text"] = m_calls[0][1]["text"].replace(grandma, "…")
        seen[fast_path] = [calls, own_written, m_calls, member_written]
    assert seen[True] == seen[False]
    assert seen[True][1]["audit"][0][-1] is True
    async with sessionmaker() as session:
        assert (await audit.verify(session)).ok


async def test_presses_the_fast_path_does_not_take_are_refused_as_before(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    await isolated_and_prompted(
        running_bot, english_resident, community, sessionmaker, clock, name="Alice",
        household=OTHER_ROOM, language="en",
    )  # fmt: skip
    fast = _fast(running_bot)
    checkin_id = await _checkin_id(sessionmaker, iso.isolation_id)
    prompt = prompts(double, resident.id)[-1]
    stranger = ChatUser(double, double.user(5077, "Mallory", language_code="en"))
    await stranger.send("/start")

    async def refused(user: ChatUser, data: str, key: str, **params: Any) -> None:
        own = double.last_message(user.id)
        assert own is not None
        before = await _written(sessionmaker, checkin_id, 0)
        await user.press_data(data, own, strict=False)
        answer = double.callback_answer(user.last_press)
        locale = "zh-CN" if user is resident else "en"
        assert answer is not None and answer.show_alert
        assert answer.text == catalog.render(locale, key, **params)
        assert await _written(sessionmaker, checkin_id, 0) == before

    # Someone else's check-in: a resident of another household, and a Telegram user the
    # bot does not know; an id that is no check-in at all.
    await refused(english_resident, f"ci:normal:{checkin_id}", "checkin.not_yours")
    await refused(stranger, f"ci:normal:{checkin_id}", "checkin.not_yours")
    await refused(resident, f"ci:normal:{checkin_id + 1000}", "checkin.not_found")
    assert fast.recorded == 0
    written = await _written(sessionmaker, checkin_id, 0)
    assert written["checkin"][0] == CheckInStatus.PENDING and written["audit"] == []
    # The real press, then the same button again: recorded once, then "already answered".
    await resident.press("体温正常", message=prompt)
    assert fast.recorded == (1 if fast.enabled else 0)
    after = await _written(sessionmaker, checkin_id, 0)
    assert after["checkin"][0] == CheckInStatus.ANSWERED and len(after["audit"]) == 1
    await resident.press_data(f"ci:normal:{checkin_id}", prompt, strict=False)
    answer = double.callback_answer(resident.last_press)
    assert answer is not None and answer.show_alert
    assert answer.text == catalog.render("zh-CN", "checkin.already_answered", name="张三")
    assert await _written(sessionmaker, checkin_id, 0) == after
    assert fast.recorded == (1 if fast.enabled else 0)
