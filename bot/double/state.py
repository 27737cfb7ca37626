"""The simulated Telegram world: chats, members, messages, files and the update queue.

``DoubleState`` also carries the "act as a user" and "observe" halves of the public API;
``BotApiDouble`` (server.py) adds the HTTP server and the async waiting helpers on top.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from aiogram.types import Update

from bot.double.formatting import command_entities, inline_rows
from bot.double.models import (
    ApiCall,
    ApiError,
    CallbackAnswer,
    ChatType,
    FakeChat,
    FakeUser,
    MemberStatus,
    SentMessage,
    StoredFile,
    bad_request,
    forbidden,
)

#: Update types Telegram delivers when ``allowed_updates`` was never set (or set to []).
DEFAULT_ALLOWED_UPDATES: frozenset[str] = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)

# 1x1 transparent PNG: the content of photos "sent" by fake users when none is given.
_TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


class Pulse:
    """A broadcast "something changed" signal that sync code can fire.

    Waiters grab the current event and wait on it; ``fire`` sets it and installs a fresh
    one, so no waiter misses a change and no lock is needed.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        """Wake every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the next change; False on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class StoredMessage:
    """Mutable record of a message in a chat (the source of ``SentMessage`` snapshots)."""

    chat_id: int
    message_id: int
    data: dict[str, Any]
    from_bot: bool
    kind: str
    parse_mode: str | None = None
    raw_text: str | None = None
    raw_caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    pinned: bool = False
    edited: bool = False

    def snapshot(self) -> SentMessage:
        """Freeze the current state for callers."""
        data = copy.deepcopy(self.data)
        reply_to = data.get("reply_to_message")
        return SentMessage(
            chat_id=self.chat_id,
            message_id=self.message_id,
            date=int(data["date"]),
            kind=self.kind,
            text=data.get("text"),
            caption=data.get("caption"),
            raw_text=self.raw_text,
            raw_caption=self.raw_caption,
            parse_mode=self.parse_mode,
            entities=list(data.get("entities") or data.get("caption_entities") or []),
            reply_markup=copy.deepcopy(self.reply_markup),
            pinned=self.pinned,
            edited=self.edited,
            document=data.get("document"),
            photo=data.get("photo"),
            media_group_id=data.get("media_group_id"),
            reply_to_message_id=reply_to.get("message_id") if isinstance(reply_to, dict) else None,
            data=data,
        )


@dataclass
class WebhookState:
    """What setWebhook stored."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int | None = None


@dataclass
class PendingCallback:
    """A callback query waiting for answerCallbackQuery."""

    chat_id: int
    message_id: int
    answered: bool = False


@dataclass
class QueuedUpdate:
    """An update in the getUpdates queue."""

    update_id: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class DoubleState:
    """State of the fake Telegram plus the user-acting and observing API."""

    def __init__(
        self,
        token: str,
        bot_username: str,
        bot_id: int,
        bot_first_name: str,
        clock: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_user = FakeUser(bot_id, bot_first_name, username=bot_username, is_bot=True)
        self.clock = clock
        self._wall_clock = wall_clock
        self.pulse = Pulse()

        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.started: set[int] = set()
        self.blocked: set[int] = set()
        self.migrated: dict[int, int] = {}
        self.deleted_chats: set[int] = set()
        self.members: dict[int, dict[int, MemberStatus]] = {}
        self.chat_messages: dict[int, dict[int, StoredMessage]] = {}
        self._next_message_id: dict[int, int] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self._file_seq = itertools.count(1)
        self._media_group_seq = itertools.count(1)
        self.reply_keyboards: dict[int, dict[str, Any] | None] = {}
        self.callbacks: dict[str, PendingCallback] = {}
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self._callback_seq = itertools.count(1)
        self.commands_by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.webhook = WebhookState()

        self.queue: list[QueuedUpdate] = []
        self.updates: list[dict[str, Any]] = []  # every update ever enqueued
        self._next_update_id = 1000
        self.confirmed_offset = 0
        self.discarded_updates: set[int] = set()
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        #: getUpdates requests received so far, counted as they arrive (a call is recorded
        #: only when it is answered, a long poll possibly seconds later): "the bot is
        #: polling" without waiting for a poll to end (see ``wait_polling``).
        self.polls_started = 0

        self.calls: list[ApiCall] = []
        self._call_seq = 0
        self._listeners: list[Callable[[ApiCall], None]] = []

    # ----------------------------------------------------------------- helpers

    def now(self) -> int:
        """Unix time for ``date`` fields."""
        return int(self._wall_clock())

    def _chat_of(self, chat: FakeChat | int) -> FakeChat:
        chat_id = chat.id if isinstance(chat, FakeChat) else chat
        if chat_id not in self.chats:
            raise KeyError(f"unknown chat {chat_id}: register it with group()/channel() first")
        return self.chats[chat_id]

    def private_chat(self, user: FakeUser) -> FakeChat:
        """The private chat with ``user`` (registered on the fly)."""
        chat = FakeChat(
            user.id,
            "private",
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
        )
        self.chats[user.id] = chat
        return chat

    def member_status(self, chat_id: int, user_id: int) -> MemberStatus:
        """Status of ``user_id`` in ``chat_id`` (``left`` when never added)."""
        chat = self.chats.get(chat_id)
        if chat is not None and chat.type == "private":
            return "member" if user_id in (chat_id, self.bot_id) else "left"
        return self.members.get(chat_id, {}).get(user_id, "left")

    def member_object(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """Bot API ``ChatMember`` for the user's current status."""
        user = self.bot_user if user_id == self.bot_id else self.users.get(user_id)
        user_data = user.to_api() if user else {"id": user_id, "is_bot": False, "first_name": "?"}
        return member_payload(self.member_status(chat_id, user_id), user_data)

    def next_message_id(self, chat_id: int) -> int:
        """Message ids grow per chat, shared by the bot and the users."""
        value = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = value + 1
        return value

    def store_message(
        self,
        chat: FakeChat,
        body: dict[str, Any],
        *,
        sender: FakeUser | None,
        kind: str,
        from_bot: bool,
    ) -> StoredMessage:
        """Create a message in ``chat`` (``sender=None`` for channel posts)."""
        message_id = self.next_message_id(chat.id)
        data: dict[str, Any] = {"message_id": message_id}
        if chat.type == "channel" or sender is None:
            data["sender_chat"] = chat.to_api()
        else:
            data["from"] = sender.to_api()
        data["chat"] = chat.to_api()
        data["date"] = self.now()
        data.update(body)
        record = StoredMessage(chat.id, message_id, data, from_bot=from_bot, kind=kind)
        self.chat_messages.setdefault(chat.id, {})[message_id] = record
        return record

    def find_message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """The live record of a message, if it still exists."""
        return self.chat_messages.get(chat_id, {}).get(message_id)

    def store_file(
        self,
        content: bytes,
        *,
        folder: str,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        """Keep uploaded bytes so getFile + download can serve them."""
        number = next(self._file_seq)
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        elif folder == "photos":
            extension = ".jpg"
        stored = StoredFile(
            file_id=f"BQACAgI-double-{number:06d}-{folder}",
            file_unique_id=f"AgAD{number:06d}",
            file_path=f"{folder}/file_{number}{extension}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def new_media_group_id(self) -> str:
        """Media group ids are opaque numeric strings."""
        return f"1{next(self._media_group_seq):017d}"

    # ----------------------------------------------------------------- updates

    def enqueue(self, kind: str, payload: dict[str, Any]) -> Update:
        """Queue an update for getUpdates and return it as aiogram parses it."""
        update_id = self._next_update_id
        self._next_update_id += 1
        data = {"update_id": update_id, kind: payload}
        self.queue.append(QueuedUpdate(update_id, kind, data))
        self.updates.append(data)
        self.pulse.fire()
        return Update.model_validate(copy.deepcopy(data))

    def confirm(self, offset: int) -> None:
        """Forget updates below ``offset`` (getUpdates semantics)."""
        if offset > self.confirmed_offset:
            self.confirmed_offset = offset
        self.queue = [item for item in self.queue if item.update_id >= offset]
        self.pulse.fire()

    def discard(self, items: Iterable[QueuedUpdate]) -> None:
        """Drop updates the bot will never see (allowed_updates, drop_pending_updates)."""
        dropped = {item.update_id for item in items}
        if not dropped:
            return
        self.discarded_updates |= dropped
        self.queue = [item for item in self.queue if item.update_id not in dropped]
        self.pulse.fire()

    def continue_update_ids_after(self, update_id: int) -> None:
        """Number new updates above ``update_id``, as Telegram does for a bot that already
        received updates (a double started again for a bot that kept its database)."""
        self._next_update_id = max(self._next_update_id, update_id + 1)

    def is_processed(self, update_id: int) -> bool:
        """True once the bot confirmed (or can never receive) the update."""
        return update_id < self.confirmed_offset or update_id in self.discarded_updates

    # ------------------------------------------------------------ world setup

    def user(
        self,
        id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> FakeUser:
        """Register (or update) a user the tests can act as."""
        user = FakeUser(id, first_name, last_name, username, language_code)
        self.users[id] = user
        if id in self.chats:
            self.private_chat(user)
        return user

    def group(
        self,
        id: int,
        title: str,
        type: ChatType = "supergroup",
        username: str | None = None,
        bot_status: MemberStatus = "member",
    ) -> FakeChat:
        """Register a group/supergroup; the bot is a member unless ``bot_status`` says not."""
        if type not in ("group", "supergroup"):
            raise ValueError("group() is for group/supergroup; use channel()")
        chat = FakeChat(id, type, title=title, username=username)
        self.chats[id] = chat
        self.members.setdefault(id, {})[self.bot_id] = bot_status
        return chat

    def channel(
        self,
        id: int,
        title: str,
        username: str | None = None,
        bot_status: MemberStatus = "administrator",
    ) -> FakeChat:
        """Register a channel; bots can only post there as administrators."""
        chat = FakeChat(id, "channel", title=title, username=username)
        self.chats[id] = chat
        self.members.setdefault(id, {})[self.bot_id] = bot_status
        return chat

    def add_member(
        self, chat: FakeChat | int, user: FakeUser, status: MemberStatus = "member"
    ) -> None:
        """Silently set a user's membership (no update; use join() for the visible way)."""
        target = self._chat_of(chat)
        self.users.setdefault(user.id, user)
        self.members.setdefault(target.id, {})[user.id] = status

    def block_user(self, user: FakeUser | int, notify: bool = True) -> None:
        """The user blocks the bot: sends to them answer 403 (and a my_chat_member update)."""
        user_id = user.id if isinstance(user, FakeUser) else user
        self.blocked.add(user_id)
        if notify and user_id in self.users and user_id in self.started:
            found = self.users[user_id]
            self.member_update(
                "my_chat_member", self.private_chat(found), found, self.bot_user, "member", "kicked"
            )

    def unblock_user(self, user: FakeUser | int) -> None:
        """Undo ``block_user`` (the user pressed Restart)."""
        self.blocked.discard(user.id if isinstance(user, FakeUser) else user)

    def migrate_group(self, old_id: int, new_id: int) -> FakeChat:
        """Upgrade a group to a supergroup: the old id answers 400 with migrate_to_chat_id."""
        old = self.chats.get(old_id)
        title = old.title if old and old.title else "Migrated group"
        self.migrated[old_id] = new_id
        new = FakeChat(new_id, "supergroup", title=title, username=old.username if old else None)
        self.chats[new_id] = new
        self.members[new_id] = dict(self.members.get(old_id, {self.bot_id: "member"}))
        return new

    def delete_chat(self, chat_id: int) -> None:
        """The chat disappears: every method addressing it answers 400 chat not found."""
        self.deleted_chats.add(chat_id)

    # ------------------------------------------------------------ acting as users

    def _resolve_user_chat(self, user: FakeUser, chat: FakeChat | int | None) -> FakeChat:
        self.users.setdefault(user.id, user)
        if chat is None:
            self.started.add(user.id)
            return self.private_chat(user)
        target = self._chat_of(chat)
        if target.type != "private" and self.member_status(target.id, user.id) in (
            "left",
            "kicked",
        ):
            # Test convenience: whoever writes in a group is a member of it.
            self.members.setdefault(target.id, {})[user.id] = "member"
        return target

    def _user_message(
        self,
        user: FakeUser,
        chat: FakeChat | int | None,
        body: dict[str, Any],
        kind: str,
    ) -> Update:
        target = self._resolve_user_chat(user, chat)
        record = self.store_message(target, body, sender=user, kind=kind, from_bot=False)
        return self.enqueue("message", copy.deepcopy(record.data))

    def send_text(self, user: FakeUser, text: str, chat: FakeChat | int | None = None) -> Update:
        """The user writes ``text`` (to the bot privately by default, or in ``chat``)."""
        body: dict[str, Any] = {"text": text}
        entities = command_entities(text)
        if entities:
            body["entities"] = entities
        return self._user_message(user, chat, body, "text")

    def send_forwarded(
        self,
        user: FakeUser,
        text: str,
        origin: FakeUser | None = None,
        chat: FakeChat | int | None = None,
    ) -> Update:
        """The user forwards a text message first written by ``origin`` (hidden sender
        when None) into ``chat`` (the private chat with the bot by default); entities are
        kept, as Telegram keeps them."""
        body: dict[str, Any] = {"text": text}
        entities = command_entities(text)
        if entities:
            body["entities"] = entities
        date = self.now() - 3600
        body["forward_origin"] = (
            {"type": "user", "date": date, "sender_user": origin.to_api()}
            if origin is not None
            else {"type": "hidden_user", "date": date, "sender_user_name": "Someone"}
        )
        return self._user_message(user, chat, body, "text")

    def _forwarded(self, body: dict[str, Any], origin: FakeUser | None) -> None:
        if origin is not None:
            body["forward_origin"] = {
                "type": "user",
                "date": self.now() - 3600,
                "sender_user": origin.to_api(),
            }

    def send_start(self, user: FakeUser, payload: str | None = None) -> Update:
        """The user presses Start (``/start payload`` for deep links)."""
        return self.send_text(user, "/start" if payload is None else f"/start {payload}")

    def send_contact(
        self,
        user: FakeUser,
        phone_number: str,
        first_name: str | None = None,
        user_id: int | None = None,
        chat: FakeChat | int | None = None,
        last_name: str | None = None,
    ) -> Update:
        """The user shares a contact (their own by default, as the request-contact button does)."""
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name if first_name is not None else user.first_name,
            "user_id": user.id if user_id is None else user_id,
        }
        if last_name is not None:
            contact["last_name"] = last_name
        return self._user_message(user, chat, {"contact": contact}, "contact")

    def send_photo(
        self,
        user: FakeUser,
        chat: FakeChat | int | None = None,
        caption: str | None = None,
        content: bytes = _TINY_PNG,
        forward_from: FakeUser | None = None,
    ) -> Update:
        """The user sends a photo (downloadable through getFile); with ``forward_from``,
        forwards one that user sent."""
        stored = self.store_file(content, folder="photos", mime_type="image/jpeg")
        body: dict[str, Any] = {"photo": photo_sizes(stored)}
        if caption is not None:
            body["caption"] = caption
        self._forwarded(body, forward_from)
        return self._user_message(user, chat, body, "photo")

    def send_document(
        self,
        user: FakeUser,
        file_name: str,
        content: bytes,
        chat: FakeChat | int | None = None,
        caption: str | None = None,
        mime_type: str | None = None,
        forward_from: FakeUser | None = None,
    ) -> Update:
        """The user sends a file (downloadable through getFile); with ``forward_from``,
        forwards one that user sent."""
        stored = self.store_file(
            content, folder="documents", file_name=file_name, mime_type=mime_type
        )
        body: dict[str, Any] = {"document": file_payload(stored, "document")}
        if caption is not None:
            body["caption"] = caption
        self._forwarded(body, forward_from)
        return self._user_message(user, chat, body, "document")

    def press(
        self,
        user: FakeUser,
        message: SentMessage | tuple[int, int],
        callback_data: str,
        strict: bool = True,
    ) -> Update:
        """The user presses an inline button of a bot message.

        ``message`` is a ``SentMessage`` or ``(chat_id, message_id)``. With ``strict`` the
        message must still exist and carry a button with this ``callback_data``, because
        Telegram cannot produce any other callback query.
        """
        chat_id, message_id = (
            (message.chat_id, message.message_id) if isinstance(message, SentMessage) else message
        )
        record = self.find_message(chat_id, message_id)
        if record is None:
            raise LookupError(f"message {message_id} in chat {chat_id} does not exist")
        if strict:
            # Only the message's current inline keyboard can produce a callback query.
            buttons = (record.reply_markup or {}).get("inline_keyboard", [])
            datas = [button.get("callback_data") for row in buttons for button in row]
            if not record.from_bot or callback_data not in datas:
                raise LookupError(
                    f"message {message_id} has no button with callback_data {callback_data!r}"
                    f" (buttons: {inline_rows(record.reply_markup)})"
                )
        self.users.setdefault(user.id, user)
        query_id = f"{self.bot_id}{next(self._callback_seq):010d}"
        self.callbacks[query_id] = PendingCallback(chat_id, message_id)
        payload = {
            "id": query_id,
            "from": user.to_api(),
            "message": copy.deepcopy(record.data),
            "chat_instance": str(abs(chat_id) * 7 + 1_000_000_000_000),
            "data": callback_data,
        }
        return self.enqueue("callback_query", payload)

    def member_update(
        self,
        kind: str,
        chat: FakeChat,
        actor: FakeUser,
        subject: FakeUser,
        old: MemberStatus,
        new: MemberStatus,
    ) -> Update:
        payload = {
            "chat": chat.to_api(),
            "from": actor.to_api(),
            "date": self.now(),
            "old_chat_member": member_payload(old, subject.to_api()),
            "new_chat_member": member_payload(new, subject.to_api()),
        }
        return self.enqueue(kind, payload)

    def join(self, user: FakeUser, group: FakeChat | int) -> list[Update]:
        """The user joins: a ``new_chat_members`` message and a ``chat_member`` update."""
        chat = self._chat_of(group)
        self.users.setdefault(user.id, user)
        old = self.member_status(chat.id, user.id)
        self.members.setdefault(chat.id, {})[user.id] = "member"
        record = self.store_message(
            chat,
            {"new_chat_members": [user.to_api()]},
            sender=user,
            kind="new_chat_members",
            from_bot=False,
        )
        return [
            self.enqueue("message", copy.deepcopy(record.data)),
            self.member_update("chat_member", chat, user, user, old, "member"),
        ]

    def leave(self, user: FakeUser, group: FakeChat | int) -> list[Update]:
        """The user leaves: a ``left_chat_member`` message and a ``chat_member`` update."""
        chat = self._chat_of(group)
        old = self.member_status(chat.id, user.id)
        self.members.setdefault(chat.id, {})[user.id] = "left"
        record = self.store_message(
            chat,
            {"left_chat_member": user.to_api()},
            sender=user,
            kind="left_chat_member",
            from_bot=False,
        )
        return [
            self.enqueue("message", copy.deepcopy(record.data)),
            self.member_update("chat_member", chat, user, user, old, "left"),
        ]

    def add_bot_to_group(
        self, group: FakeChat | int, by_user: FakeUser, status: MemberStatus = "member"
    ) -> list[Update]:
        """Someone adds the bot: ``my_chat_member`` plus a ``new_chat_members`` message."""
        chat = self._chat_of(group)
        self.users.setdefault(by_user.id, by_user)
        self.members.setdefault(chat.id, {}).setdefault(by_user.id, "administrator")
        old = self.member_status(chat.id, self.bot_id)
        self.members[chat.id][self.bot_id] = status
        updates = [self.member_update("my_chat_member", chat, by_user, self.bot_user, old, status)]
        if chat.type != "channel":
            record = self.store_message(
                chat,
                {"new_chat_members": [self.bot_user.to_api()]},
                sender=by_user,
                kind="new_chat_members",
                from_bot=False,
            )
            updates.append(self.enqueue("message", copy.deepcopy(record.data)))
        return updates

    def channel_post(self, channel: FakeChat | int, text: str) -> Update:
        """A post appears in a channel the bot is in."""
        chat = self._chat_of(channel)
        record = self.store_message(chat, {"text": text}, sender=None, kind="text", from_bot=False)
        return self.enqueue("channel_post", copy.deepcopy(record.data))

    # --------------------------------------------------------------- observing

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Bot messages currently in the chat, oldest first (edits and deletions applied)."""
        records = self.chat_messages.get(chat_id, {})
        return [records[key].snapshot() for key in sorted(records) if records[key].from_bot]

    def last_message(self, chat_id: int) -> SentMessage | None:
        """The newest bot message still in the chat."""
        found = self.messages(chat_id)
        return found[-1] if found else None

    def inline_buttons(
        self, message: SentMessage | dict[str, Any] | None
    ) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard rows of ``(text, callback_data or url)``."""
        if message is None:
            return []
        markup = message.reply_markup if isinstance(message, SentMessage) else message
        if isinstance(markup, dict) and "reply_markup" in markup:
            markup = cast(dict[str, Any], markup["reply_markup"])
        return inline_rows(markup)

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """Last reply keyboard (or ``remove_keyboard``) the bot sent to the chat."""
        return copy.deepcopy(self.reply_keyboards.get(chat_id))

    def callback_answer(self, query: Update | str) -> CallbackAnswer | None:
        """The bot's answerCallbackQuery for a ``press()`` update (None if unanswered)."""
        if isinstance(query, Update):
            if query.callback_query is None:
                raise ValueError("not a callback_query update")
            query = query.callback_query.id
        return self.callback_answers.get(query)

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands set via setMyCommands for a scope/language."""
        return copy.deepcopy(self.commands_by_scope.get((scope_key(scope), language_code), []))

    def file(self, file_id: str) -> StoredFile:
        """A stored file (uploaded by the bot or sent by a fake user)."""
        return self.files[file_id]

    def calls_of(self, method: str) -> list[ApiCall]:
        """Recorded calls of one method (case-insensitive)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def mark(self) -> int:
        """A position in the call log for ``wait_for(..., since=mark)``."""
        return self._call_seq

    def reset_calls(self) -> None:
        """Forget recorded calls (marks taken before stay valid)."""
        self.calls.clear()

    def record_call(self, call_factory: Callable[[int], ApiCall]) -> ApiCall:
        """Append a call with the next sequence number and wake waiters."""
        call = call_factory(self._call_seq)
        self._call_seq += 1
        self.calls.append(call)
        self.pulse.fire()
        for listener in list(self._listeners):
            listener(call)
        return call

    def add_listener(self, listener: Callable[[ApiCall], None]) -> None:
        """Call ``listener`` synchronously for every recorded call (e.g. a sandbox printer)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ApiCall], None]) -> None:
        """Stop notifying ``listener``."""
        self._listeners.remove(listener)

    # ------------------------------------------------------------ chat checks

    def resolve_chat(self, chat_id: Any) -> FakeChat:
        """Look a ``chat_id`` parameter up the way Telegram does (400/403 otherwise)."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str):
            username = chat_id.removeprefix("@").lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == username:
                    chat_id = chat.id
                    break
            else:
                raise bad_request("chat not found")
        if not isinstance(chat_id, int):
            raise bad_request("chat not found")
        if chat_id in self.migrated:
            raise_migrated(self.migrated[chat_id])
        if chat_id in self.deleted_chats or chat_id not in self.chats:
            raise bad_request("chat not found")
        chat = self.chats[chat_id]
        if chat.type == "private" and chat_id not in self.started:
            raise bad_request("chat not found")
        return chat

    def resolve_send_target(self, chat_id: Any) -> FakeChat:
        """Like ``resolve_chat`` plus the reasons a bot may not write there."""
        if isinstance(chat_id, int) and chat_id in self.users and chat_id not in self.started:
            if chat_id in self.migrated or chat_id in self.deleted_chats:
                return self.resolve_chat(chat_id)
            raise forbidden("bot can't initiate conversation with a user")
        chat = self.resolve_chat(chat_id)
        if chat.type == "private":
            if chat.id in self.blocked:
                raise forbidden("bot was blocked by the user")
            return chat
        status = self.member_status(chat.id, self.bot_id)
        label = f"{chat.type} chat" if chat.type != "group" else "group chat"
        if status == "kicked":
            raise forbidden(f"bot was kicked from the {label}")
        if status == "left":
            raise forbidden(f"bot is not a member of the {label}")
        if chat.type == "channel" and status not in ("administrator", "creator"):
            raise bad_request("need administrator rights in the channel chat")
        return chat


def raise_migrated(new_id: int) -> None:
    """400 telling the bot the group became a supergroup."""
    raise ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_id},
    )


def scope_key(scope: Any) -> str:
    """Canonical key of a BotCommandScope (default scope when absent)."""
    if not scope:
        return "default"
    if isinstance(scope, dict):
        parts = [str(scope.get("type", "default"))]
        for key in ("chat_id", "user_id"):
            if key in scope:
                parts.append(f"{key}={scope[key]}")
        return ":".join(parts)
    return str(scope)


def photo_sizes(stored: StoredFile) -> list[dict[str, Any]]:
    """``PhotoSize`` array Telegram returns for one photo (one size is enough)."""
    return [
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "width": 90,
            "height": 90,
        }
    ]


def file_payload(stored: StoredFile, kind: str) -> dict[str, Any]:
    """Document/video/audio/... object for a stored file."""
    data: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
    }
    if stored.file_name:
        data["file_name"] = stored.file_name
    if stored.mime_type:
        data["mime_type"] = stored.mime_type
    if kind in ("video", "animation"):
        data.update(width=320, height=240, duration=1)
    elif kind in ("audio", "voice"):
        data["duration"] = 1
    return data


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
    "can_pin_messages",
    "can_manage_topics",
)
_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)


def member_payload(status: MemberStatus, user: dict[str, Any]) -> dict[str, Any]:
    """Bot API ``ChatMember`` object for a status (full rights for administrators)."""
    data: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(can_be_edited=False, is_anonymous=False)
        data.update(dict.fromkeys(_ADMIN_RIGHTS, True))
    elif status == "restricted":
        data.update(is_member=True, until_date=0)
        data.update(dict.fromkeys(_RESTRICTED_RIGHTS, False))
    elif status == "kicked":
        data["until_date"] = 0
    return data
