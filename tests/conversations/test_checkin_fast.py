"""The check-in answer fast path (issue 13, bot/services/checkin_fast.py): "normal" on a
prompt recorded by one statement on PostgreSQL. It must be indistinguishable from the
general path: the same rows (check-in, audit entry, inbox mark), the same Bot API calls
with the same whole texts, in both locales, for one's own check-in and a family
member's; presses it does not take (someone else's, forged, a second press) get the
general path's refusals, with nothing written. On SQLite the fast path is off and the
same assertions hold for the general path alone."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import Application
from bot.clock import FakeClock
from bot.db.models import AuditEntry, CheckIn, CheckInStatus, InboxUpdate, Person
from bot.double import BotApiDouble, SentMessage
from bot.services import audit
from bot.services.checkin_fast import FastAnswers
from bot.webhook import InboxRequestHandler
from messages import Catalog
from tests.conversations.test_checkin_answers import isolated_and_prompted, prompts
from tests.support.chat import ChatUser, RunningBot, settings_for
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


async def test_a_member_who_is_not_the_head_answers_for_the_relative_they_reported(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
) -> None:
    """张三 reported 张奶奶 but is not the household's head (their father is): the fast
    path takes the press (the "reported by" rule), with the general path's whole text;
    a sibling with Telegram who neither heads the household nor reported her is refused
    (general path), and nothing is written for them."""
    iso = await isolated_and_prompted(
        running_bot, resident, community, sessionmaker, clock, members=("张奶奶",)
    )
    sibling = ChatUser(double, double.user(5088, "小红", language_code="zh-hans"))
    async with sessionmaker.begin() as session:
        me = await session.get(Person, iso.person_id)
        assert me is not None
        me.is_head = False
        for name, telegram_id, head in (("张父", None, True), ("张二", sibling.id, False)):
            session.add(
                Person(
                    telegram_user_id=telegram_id,
                    household_id=me.household_id,
                    name=name,
                    is_head=head,
                    created_at=clock.now(),
                )
            )
    await sibling.send("/start")
    fast = _fast(running_bot)
    checkin_id = await _checkin_id(sessionmaker, iso.member_isolation_ids[0])
    prompt = next(m for m in prompts(double, resident.id) if "张奶奶" in (m.content or ""))
    label = catalog.render("zh-CN", "checkin.button_normal")
    # The sibling presses her button (as if the prompt had reached them): refused.
    before = await _written(sessionmaker, checkin_id, 0)
    await sibling.press_data(f"ci:normal:{checkin_id}", prompt, strict=False)
    answer = double.callback_answer(sibling.last_press)
    assert answer is not None and answer.show_alert
    assert answer.text == catalog.render("zh-CN", "checkin.not_yours")
    assert await _written(sessionmaker, checkin_id, 0) == before
    assert fast.recorded == 0
    # The one who reported her answers: the prompt becomes the thanks, the button's
    # toast is empty.
    calls, text, update_id = await _press(resident, double, prompt, label)
    thanks = catalog.render("zh-CN", "checkin.thanks", name="张奶奶", member=True, temperature="")
    assert text == thanks
    assert [(method, params.get("text")) for method, params in calls] == [
        ("editMessageText", thanks),
        ("answerCallbackQuery", None),
    ]
    assert calls[1][1] == {}
    assert fast.recorded == (1 if fast.enabled else 0)
    written = await _written(sessionmaker, checkin_id, update_id)
    assert written["checkin"][0] == CheckInStatus.ANSWERED
    assert written["checkin"][3:] == (clock.now(), "actor")
    assert written["audit"] == [
        ("actor", True, "checkin.answer", {"temperature": None, "symptoms": []}, clock.now(),
         community.community_id, True),
    ]  # fmt: skip
    assert written["inbox_done_at"] == clock.now()
    async with sessionmaker() as session:
        actor = await session.scalar(select(Person).where(Person.telegram_user_id == resident.id))
        answered = await session.get(CheckIn, checkin_id)
        assert actor is not None and answered is not None
        assert answered.answered_by_id == actor.id
        assert (await audit.verify(session)).ok


async def test_a_press_delivered_twice_to_the_webhook_is_applied_once(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    catalog: Catalog,
    database_url: str,
) -> None:
    """Telegram re-sends an update whose 200 it did not get: the webhook stores it
    (`inbox.receive`: stored and "done already?" in one statement on PostgreSQL), finds
    it done, answers 200 and handles nothing: one answer, one audit entry, one edit."""
    iso = await isolated_and_prompted(running_bot, resident, community, sessionmaker, clock)
    checkin_id = await _checkin_id(sessionmaker, iso.isolation_id)
    prompt = prompts(double, resident.id)[-1]
    data = resident.button_data(catalog.render("zh-CN", "checkin.button_normal"), prompt)[1]
    await running_bot.stop()  # from here on, updates arrive by the webhook only
    app = await Application.create(
        settings_for(double, database_url), clock, migrate=False, catalog=catalog
    )
    handler = InboxRequestHandler(app, secret_token=None)
    web_app = web.Application()
    handler.register(web_app, path="/hook")
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fast = app.fast_answers
    assert fast is not None
    try:
        double.press(resident.user, prompt, data)
        body = double.updates[-1]
        seen: list[Any] = []
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                mark = double.mark()
                async with http.post(f"http://127.0.0.1:{port}/hook", json=body) as response:
                    assert response.status == 200
                await handler.drain(10)
                seen.append((_calls(double, mark), await _written(sessionmaker, checkin_id, 0)))
    finally:
        await runner.cleanup()
        await app.close()
    thanks = catalog.render("zh-CN", "checkin.thanks", name="", member=False, temperature="")
    (first_calls, first), (second_calls, second) = seen
    assert [(m, p.get("text")) for m, p in first_calls] == [
        ("editMessageText", thanks),
        ("answerCallbackQuery", None),
    ]
    assert second_calls == []
    assert first["checkin"][0] == CheckInStatus.ANSWERED and len(first["audit"]) == 1
    assert second == first
    assert fast.recorded == (1 if fast.enabled else 0)
    async with sessionmaker() as session:
        done = await session.scalar(
            select(InboxUpdate.done_at).where(InboxUpdate.update_id == body["update_id"])
        )
        assert done == clock.now()
