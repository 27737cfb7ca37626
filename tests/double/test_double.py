"""End-to-end tests of the Bot API double through the real aiogram client stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)

from bot.double import BotApiDouble, FakeUser, RateLimits

pytestmark = pytest.mark.timeout(20)


class FakeClock:
    """Monotonic clock the tests move by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FastCloseSession(AiohttpSession):
    """aiogram's session sleeps 250 ms on close (for TLS); plain HTTP needs no grace."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(double: BotApiDouble, token: str | None = None) -> Bot:
    session = FastCloseSession(api=TelegramAPIServer.from_base(double.base_url))
    return Bot(token or double.token, session=session)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def double(clock: FakeClock) -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(rate_limits=RateLimits(enabled=False), clock=clock) as started:
        yield started


@pytest.fixture
async def limited(clock: FakeClock) -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(rate_limits=RateLimits(), clock=clock) as started:
        yield started


@pytest.fixture
async def bot(double: BotApiDouble) -> AsyncIterator[Bot]:
    client = make_bot(double)
    yield client
    await client.session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def alice(double: BotApiDouble) -> FakeUser:
    user = double.user(1001, first_name="Alice", username="alice")
    double.send_start(user)
    return user


# --------------------------------------------------------------------------- basics


async def test_get_me_through_aiogram(double: BotApiDouble, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "community_guard_bot"
    assert double.calls_of("getMe")[0].ok


async def test_raw_requests_query_json_and_case_insensitive_method(
    double: BotApiDouble, http: aiohttp.ClientSession
) -> None:
    url = f"{double.base_url}/bot{double.token}"
    async with http.get(f"{url}/GETME") as response:
        assert response.status == 200
        assert (await response.json())["result"]["username"] == "community_guard_bot"
    alice = double.user(7, first_name="Alice")
    double.send_text(alice, "hi")
    async with http.post(f"{url}/sendMessage", json={"chat_id": 7, "text": "123"}) as response:
        body = await response.json()
    assert body["ok"] is True
    assert body["result"]["text"] == "123"
    assert body["result"]["chat"] == {"id": 7, "type": "private", "first_name": "Alice"}
    async with http.post(f"{url}/sendMessage?chat_id=7", data={"text": "form"}) as response:
        assert (await response.json())["result"]["message_id"] == 3


async def test_wrong_token_is_401(double: BotApiDouble, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{double.base_url}/bot999:WRONG/getMe") as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    intruder = make_bot(double, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()


async def test_unknown_method_is_404(double: BotApiDouble, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{double.base_url}/bot{double.token}/sendTelepathy") as response:
        assert response.status == 404
        assert await response.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found",
        }


# ------------------------------------------------------------------ messages


async def test_send_edit_delete_are_reflected(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="OK", callback_data="ok")]]
    )
    sent = await bot.send_message(
        alice.id, "<b>体温</b> 上报", parse_mode="HTML", reply_markup=keyboard
    )
    assert sent.text == "体温 上报"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    # Compare dumps: objects parsed from a response are bound to the bot.
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard.model_dump()
    assert sent.from_user is not None and sent.from_user.id == double.bot_id
    second = await bot.send_message(alice.id, "second")
    assert second.message_id == sent.message_id + 1

    stored = double.messages(alice.id)
    assert [m.text for m in stored] == ["体温 上报", "second"]
    assert stored[0].raw_text == "<b>体温</b> 上报"
    assert stored[0].parse_mode == "HTML"
    assert double.inline_buttons(stored[0]) == [[("OK", "ok")]]

    edited = await bot.edit_message_text(text="done", chat_id=alice.id, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.edit_date is not None
    assert [m.text for m in double.calls_of("editMessageText")[-1].edited] == ["done"]
    after_edit = double.messages(alice.id)[0]
    assert after_edit.text == "done" and after_edit.edited
    assert after_edit.reply_markup is None  # edits without reply_markup drop the keyboard

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="done", chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=alice.id, message_id=999)

    await bot.edit_message_reply_markup(
        chat_id=alice.id, message_id=second.message_id, reply_markup=keyboard
    )
    assert double.last_message(alice.id) is not None
    assert double.inline_buttons(double.last_message(alice.id)) == [[("OK", "ok")]]

    assert await bot.delete_message(alice.id, sent.message_id)
    assert [m.message_id for m in double.messages(alice.id)] == [second.message_id]
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)


async def test_chat_existence_rules(double: BotApiDouble, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello")
    stranger = double.user(555, first_name="Stranger")
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
        await bot.send_message(stranger.id, "hello")
    double.send_text(stranger, "hi")
    await bot.send_message(stranger.id, "hello")
    group = double.group(-100777, "Building 7", bot_status="left")
    with pytest.raises(TelegramForbiddenError, match="bot is not a member"):
        await bot.send_message(group.id, "hello")


async def test_validation_errors(double: BotApiDouble, bot: Bot, alice: FakeUser) -> None:
    too_long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "pick", reply_markup=too_long_data)
    ok_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 64)]]
    )
    await bot.send_message(alice.id, "pick", reply_markup=ok_data)

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "a" * 4097)
    # Length is counted after entity parsing: tags do not count.
    await bot.send_message(alice.id, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")

    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(alice.id, "<b>open", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(alice.id, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Unmatched end tag"):
        await bot.send_message(alice.id, "<b><i>x</b></i>", parse_mode="HTML")
    spoiler = await bot.send_message(
        alice.id,
        '<span class="tg-spoiler">s</span> <a href="https://x.y">l</a> &lt;ok&gt;',
        parse_mode="HTML",
    )
    assert spoiler.text == "s l <ok>"
    assert [e.type for e in spoiler.entities or []] == ["spoiler", "text_link"]
    assert len(double.messages(alice.id)) == 3  # failed sends leave no trace


async def test_reply_keyboard_is_tracked_not_echoed(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="分享手机号", request_contact=True)]], resize_keyboard=True
    )
    sent = await bot.send_message(alice.id, "share", reply_markup=keyboard)
    assert sent.reply_markup is None
    shown = double.reply_keyboard(alice.id)
    assert shown is not None and shown["keyboard"][0][0]["text"] == "分享手机号"
    update = double.send_contact(alice, "+8613800000000")
    assert update.message is not None and update.message.contact is not None
    assert update.message.contact.user_id == alice.id


# ------------------------------------------------------------------- updates


async def test_get_updates_long_poll_and_offsets(
    double: BotApiDouble, http: aiohttp.ClientSession, alice: FakeUser
) -> None:
    url = f"{double.base_url}/bot{double.token}/getUpdates"
    async with http.post(url, json={"timeout": 0}) as response:
        first = (await response.json())["result"]
    assert [u["message"]["text"] for u in first] == ["/start"]
    assert first[0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    confirm_offset = first[-1]["update_id"] + 1

    async def poll() -> list[dict[str, Any]]:
        payload = {"timeout": 10, "offset": confirm_offset}
        async with http.post(url, json=payload) as response:
            result: list[dict[str, Any]] = (await response.json())["result"]
            return result

    mark = double.mark()
    waiting = asyncio.create_task(poll())
    # The long poll is parked server-side before the update exists.
    await double.wait_until(lambda: double.confirmed_offset == confirm_offset)
    update = double.send_text(alice, "早上好")
    result = await asyncio.wait_for(waiting, 5)
    assert [u["update_id"] for u in result] == [update.update_id]
    assert double.calls_of("getUpdates")[-1].seq >= mark

    async with http.post(url, json={"offset": update.update_id + 1}) as response:
        assert (await response.json())["result"] == []
    assert double.is_processed(update.update_id)


async def test_allowed_updates_are_respected(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    await bot.get_updates(offset=double.updates[-1]["update_id"] + 1, timeout=0)
    group = double.group(-100500, "Neighbours")
    joined = double.join(alice, group)
    chat_member = joined[1]
    assert chat_member.chat_member is not None
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.update_id for u in updates] == [joined[0].update_id]
    assert updates[0].message is not None
    assert updates[0].message.new_chat_members is not None
    assert double.is_processed(chat_member.update_id)  # filtered out for good


async def test_press_builds_a_real_callback_query(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="确认", callback_data="confirm:42")]]
    )
    sent = await bot.send_message(alice.id, "请确认", reply_markup=keyboard)
    stored = double.last_message(alice.id)
    assert stored is not None
    update = double.press(alice, stored, "confirm:42")
    reparsed = Update.model_validate(double.updates[-1])
    assert reparsed == update
    query = update.callback_query
    assert query is not None
    assert query.data == "confirm:42"
    assert query.from_user.id == alice.id
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup is not None
    assert query.message.reply_markup.model_dump() == keyboard.model_dump()

    with pytest.raises(LookupError):
        double.press(alice, (alice.id, sent.message_id), "nope")

    assert await bot.answer_callback_query(query.id, text="已确认", show_alert=True)
    answer = double.callback_answer(update)
    assert answer is not None and answer.text == "已确认" and answer.show_alert
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query.id)


async def test_group_updates_parse_in_aiogram(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    group = double.group(-100600, "Block 6", bot_status="left")
    added = double.add_bot_to_group(group, alice, status="administrator")
    assert added[0].my_chat_member is not None
    assert added[0].my_chat_member.new_chat_member.status == "administrator"
    assert added[1].message is not None and added[1].message.new_chat_members is not None
    assert added[1].message.new_chat_members[0].id == double.bot_id

    command = double.send_text(alice, "/report@community_guard_bot now", chat=group)
    assert command.message is not None and command.message.entities is not None
    assert command.message.entities[0].length == len("/report@community_guard_bot")
    assert command.message.chat.type == "supergroup"

    channel = double.channel(-100700, "Notices", username="notices")
    post = double.channel_post(channel, "停水通知")
    assert post.channel_post is not None and post.channel_post.sender_chat is not None

    admin = double.user(2002, first_name="Admin")
    double.add_member(group, admin, status="creator")
    member = await bot.get_chat_member(group.id, admin.id)
    assert member.status == "creator"
    admins = await bot.get_chat_administrators(group.id)
    assert {a.user.id for a in admins} == {alice.id, admin.id, double.bot_id}
    chat = await bot.get_chat("@notices")
    assert chat.id == channel.id and chat.title == "Notices"


# --------------------------------------------------------------------- files


async def test_document_upload_get_file_and_download(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    content = bytes(range(256)) * 100
    sent = await bot.send_document(
        alice.id, BufferedInputFile(content, filename="roster.xlsx"), caption="名单"
    )
    assert sent.document is not None
    assert sent.document.file_name == "roster.xlsx"
    assert sent.document.file_size == len(content)
    assert sent.caption == "名单"
    upload_call = double.calls_of("sendDocument")[-1]
    assert upload_call.params["document"].content == content

    file = await bot.get_file(sent.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == content

    # Files sent by users are downloadable too.
    update = double.send_document(alice, "体检.pdf", b"%PDF-1.4 fake")
    assert update.message is not None and update.message.document is not None
    user_file = await bot.get_file(update.message.document.file_id)
    assert user_file.file_path is not None
    user_bytes = await bot.download_file(user_file.file_path)
    assert user_bytes is not None and user_bytes.read() == b"%PDF-1.4 fake"

    photo = await bot.send_photo(alice.id, sent.document.file_id)  # re-send by file_id
    assert photo.photo is not None
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_media_group_copy_forward_pin_and_settings(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    album = await bot.send_media_group(
        alice.id,
        [
            InputMediaPhoto(media=BufferedInputFile(b"a", "a.jpg"), caption="一"),
            InputMediaPhoto(media=BufferedInputFile(b"b", "b.jpg")),
        ],
    )
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "一"

    group = double.group(-100800, "Volunteers", bot_status="administrator")
    copied = await bot.copy_message(group.id, alice.id, album[0].message_id)
    copy = double.messages(group.id)[-1]
    assert copy.message_id == copied.message_id and copy.caption == "一"
    forwarded = await bot.forward_message(group.id, alice.id, 1)  # alice's /start
    assert forwarded.text == "/start" and forwarded.forward_origin is not None

    assert await bot.pin_chat_message(group.id, copied.message_id)
    assert double.messages(group.id)[0].pinned
    assert await bot.unpin_chat_message(group.id)
    assert not double.messages(group.id)[0].pinned

    await bot.set_my_commands([BotCommand(command="report", description="上报")])
    assert [c.command for c in await bot.get_my_commands()] == ["report"]
    assert double.commands() == [{"command": "report", "description": "上报"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Cmd", description="x")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []

    assert await bot.send_chat_action(alice.id, "typing")
    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook"
    assert double.webhook.secret_token == "s3cret"
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.set_chat_menu_button()


# --------------------------------------------------------------- rate limits


async def test_private_chat_rate_limit(limited: BotApiDouble, clock: FakeClock) -> None:
    user = limited.user(11, first_name="Bob")
    limited.send_start(user)
    client = make_bot(limited)
    try:
        await client.send_message(user.id, "one")
        with pytest.raises(TelegramRetryAfter) as caught:
            await client.send_message(user.id, "two")
        assert caught.value.retry_after == 1
        rejected = limited.calls_of("sendMessage")[-1]
        assert rejected.status == 429
        assert rejected.response["parameters"] == {"retry_after": 1}
        assert [m.text for m in limited.messages(user.id)] == ["one"]

        clock.advance(1.0)
        await client.send_message(user.id, "two")
        assert [m.text for m in limited.messages(user.id)] == ["one", "two"]
    finally:
        await client.session.close()


async def test_group_rate_limit_per_minute(limited: BotApiDouble, clock: FakeClock) -> None:
    group = limited.group(-100900, "Everyone")
    client = make_bot(limited)
    try:
        for index in range(20):
            await client.send_message(group.id, f"notice {index}")
            clock.advance(0.5)  # well under the per-bot limit, no per-second rule for groups
        with pytest.raises(TelegramRetryAfter) as caught:
            await client.send_message(group.id, "one too many")
        assert caught.value.retry_after == 50  # the first notice leaves the window at t+60
        clock.advance(50)
        await client.send_message(group.id, "fits again")
        assert len(limited.messages(group.id)) == 21
    finally:
        await client.session.close()


async def test_per_bot_limit_and_paid_broadcast(limited: BotApiDouble) -> None:
    users = [limited.user(5000 + i, first_name=f"U{i}") for i in range(32)]
    for user in users:
        limited.send_start(user)
    client = make_bot(limited)
    try:
        for user in users[:30]:
            await client.send_message(user.id, "broadcast")
        with pytest.raises(TelegramRetryAfter):
            await client.send_message(users[30].id, "broadcast")
        await client.send_message(users[30].id, "broadcast", allow_paid_broadcast=True)
        assert limited.last_message(users[30].id) is not None
    finally:
        await client.session.close()


# -------------------------------------------------------------------- faults


async def test_injected_faults_map_to_aiogram_errors(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    double.faults.add(method="sendMessage", chat_id=alice.id, error_code=403)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(alice.id, "x")
    double.faults.add(method="sendMessage", error_code=502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(alice.id, "x")
    double.faults.add(method="sendMessage", error_code=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(alice.id, "x")
    assert caught.value.retry_after == 7
    double.faults.drop("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice.id, "x")
    assert double.messages(alice.id) == []
    # Faults are one-shot by default: the next send goes through.
    await bot.send_message(alice.id, "finally")
    assert [m.text for m in double.messages(alice.id)] == ["finally"]


async def test_delay_fault_slows_the_answer(
    double: BotApiDouble, bot: Bot, alice: FakeUser
) -> None:
    double.faults.delay("getMe", 0.2, times=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bot.get_me()
    assert loop.time() - started >= 0.2


async def test_persistent_chat_states(double: BotApiDouble, bot: Bot, alice: FakeUser) -> None:
    old_group = double.group(-4001, "Old group", type="group")
    new_group = double.migrate_group(old_group.id, -1004001)
    with pytest.raises(TelegramMigrateToChat) as migrated:
        await bot.send_message(old_group.id, "x")
    assert migrated.value.migrate_to_chat_id == new_group.id
    await bot.send_message(new_group.id, "moved")

    double.block_user(alice)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "x")
    blocked_update = double.updates[-1]["my_chat_member"]
    assert blocked_update["new_chat_member"]["status"] == "kicked"
    double.unblock_user(alice)
    await bot.send_message(alice.id, "welcome back")

    double.delete_chat(new_group.id)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(new_group.id, "x")


# ------------------------------------------------------- polling + waiting


async def test_wait_processed_with_real_polling(double: BotApiDouble, alice: FakeUser) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    client = make_bot(double)
    polling = asyncio.create_task(
        dp.start_polling(client, handle_as_tasks=False, polling_timeout=1, handle_signals=False)
    )
    try:
        await double.wait_processed(double.updates[-1])  # alice's /start from the fixture
        mark = double.mark()
        update = double.send_text(alice, "你好")
        await double.wait_processed(update)
        last = double.last_message(alice.id)
        assert last is not None and last.text == "echo: 你好"
        reply = await double.next_message(alice.id, since=mark)
        assert reply.text == "echo: 你好"
        call = await double.wait_for(lambda c: c.method == "sendMessage", since=mark)
        assert call.params["text"] == "echo: 你好"
    finally:
        await dp.stop_polling()
        await polling
    with pytest.raises(TimeoutError):
        await double.wait_for(lambda c: c.method == "sendMessage", timeout=0.05)


async def test_start_spellings_and_listener(double: BotApiDouble, bot: Bot) -> None:
    carol = double.user(3003, first_name="Carol")
    update = double.start(carol, "invite-42")  # the user-acting spelling of start()
    assert update.message is not None and update.message.text == "/start invite-42"
    seen: list[str] = []
    double.add_listener(lambda call: seen.append(call.method))
    mention = await bot.send_message(
        carol.id, f'<a href="tg://user?id={carol.id}">Carol</a>', parse_mode="HTML"
    )
    assert mention.entities is not None and mention.entities[0].user is not None
    assert mention.entities[0].user.first_name == "Carol"
    assert seen == ["sendMessage"]

    async with BotApiDouble(token="42:OTHER") as other:
        assert other.bot_id == 42 and other.port != double.port
    third = BotApiDouble()
    await third.start(host="127.0.0.1", port=0)  # the server spelling of start()
    assert third.base_url == f"http://127.0.0.1:{third.port}"
    await third.stop()
