"""Bot API method implementations operating on ``DoubleState``."""

from __future__ import annotations

import asyncio
import copy
import inspect
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.double.formatting import (
    FormattedText,
    render_caption,
    render_text,
    validate_reply_markup,
)
from bot.double.models import (
    SENDING_METHODS,
    ApiError,
    CallbackAnswer,
    FakeChat,
    MemberStatus,
    StoredFile,
    UploadedFile,
    bad_request,
)
from bot.double.ratelimit import RateLimiter
from bot.double.state import (
    DEFAULT_ALLOWED_UPDATES,
    DoubleState,
    QueuedUpdate,
    StoredMessage,
    file_payload,
    photo_sizes,
    scope_key,
)

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_CONTENT_KEYS = (
    "text",
    "entities",
    "photo",
    "document",
    "video",
    "audio",
    "voice",
    "animation",
    "caption",
    "caption_entities",
    "contact",
    "location",
    "sticker",
)
_MEDIA_KINDS = ("photo", "document", "video", "audio", "voice", "animation")
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


@dataclass
class CallContext:
    """Parameters of one call plus what it produced besides its result."""

    params: dict[str, Any]
    created: list[StoredMessage] = field(default_factory=list)
    edited: list[StoredMessage] = field(default_factory=list)
    description: str | None = None


Handler = Callable[[CallContext], Any]


class BotApiMethods:
    """The method table: ``call(name, params)`` answers like Telegram would."""

    def __init__(
        self,
        state: DoubleState,
        limiter: RateLimiter,
        closing: Callable[[], bool],
    ) -> None:
        self.state = state
        self.limiter = limiter
        self._closing = closing
        self._poll_generation = 0
        self._table: dict[str, tuple[str, Handler]] = {}
        for name, member in inspect.getmembers(self, callable):
            if name.startswith("api_"):
                canonical = name.removeprefix("api_")
                self._table[canonical.lower()] = (canonical, member)

    def canonical(self, method: str) -> str | None:
        """Telegram's spelling of a method name, or None when unknown."""
        entry = self._table.get(method.lower())
        return entry[0] if entry else None

    async def call(self, method: str, ctx: CallContext) -> dict[str, Any]:
        """Run a method and build the JSON answer (errors included)."""
        _, handler = self._table[method.lower()]
        try:
            result = handler(ctx)
            if isinstance(result, Awaitable):
                result = await result
        except ApiError as error:
            return error.to_response()
        body: dict[str, Any] = {"ok": True, "result": result}
        if ctx.description:
            body["description"] = ctx.description
        return body

    # ------------------------------------------------------------- shared bits

    def _chat(self, ctx: CallContext) -> FakeChat:
        return self.state.resolve_chat(ctx.params.get("chat_id"))

    def _bot_is_admin(self, chat: FakeChat) -> bool:
        if chat.type == "private":
            return True
        return self.state.member_status(chat.id, self.state.bot_id) in ("administrator", "creator")

    def _reply_target(self, chat: FakeChat, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        if message_id is None:
            return None
        record = self.state.find_message(chat.id, int(message_id))
        if record is None:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        target = copy.deepcopy(record.data)
        target.pop("reply_to_message", None)  # Telegram nests only one level.
        return target

    def _known_users(self, formatted: FormattedText | None) -> FormattedText | None:
        """Replace text_mention user stubs with the users the double knows."""
        if formatted is None:
            return None
        for entity in formatted.entities:
            stub = entity.get("user")
            if entity.get("type") == "text_mention" and isinstance(stub, dict):
                known = self.state.users.get(int(stub["id"]))
                if known is not None:
                    entity["user"] = known.to_api()
        return formatted

    def _limit(self, chat: FakeChat, params: dict[str, Any]) -> None:
        self.limiter.check(
            chat.id, chat.type == "private", bool(params.get("allow_paid_broadcast"))
        )

    def _commit(
        self,
        ctx: CallContext,
        chat: FakeChat,
        body: dict[str, Any],
        kind: str,
        *,
        markup: dict[str, Any] | None,
        raw_text: str | None = None,
        raw_caption: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> StoredMessage:
        if reply_to is not None:
            body["reply_to_message"] = reply_to
        if markup is not None and "inline_keyboard" in markup:
            # Only inline keyboards are part of a Message; reply keyboards live in the client.
            body["reply_markup"] = markup
        elif markup is not None and ("keyboard" in markup or "remove_keyboard" in markup):
            self.state.reply_keyboards[chat.id] = markup
        record = self.state.store_message(
            chat, body, sender=self.state.bot_user, kind=kind, from_bot=True
        )
        record.parse_mode = ctx.params.get("parse_mode")
        record.raw_text = raw_text
        record.raw_caption = raw_caption
        record.reply_markup = markup
        ctx.created.append(record)
        return record

    def _file(self, value: Any, kind: str) -> StoredFile:
        if isinstance(value, UploadedFile):
            mime = value.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(value.filename)[0] or mime
            return self.state.store_file(
                value.content,
                folder="photos" if kind == "photo" else f"{kind}s",
                file_name=None if kind == "photo" else value.filename,
                mime_type=mime,
            )
        if isinstance(value, str) and value:
            if value in self.state.files:
                return self.state.files[value]
            if value.startswith(("http://", "https://")):
                name = value.rstrip("/").rsplit("/", 1)[-1] or None
                return self.state.store_file(b"", folder=f"{kind}s", file_name=name)
            raise bad_request("wrong file identifier/HTTP URL specified")
        raise bad_request(f"there is no {kind} in the request")

    @staticmethod
    def _media_body(kind: str, stored: StoredFile) -> dict[str, Any]:
        return {kind: photo_sizes(stored) if kind == "photo" else file_payload(stored, kind)}

    @staticmethod
    def _apply_caption(body: dict[str, Any], caption: FormattedText | None) -> None:
        body.pop("caption", None)
        body.pop("caption_entities", None)
        if caption is not None:
            body["caption"] = caption.text
            if caption.entities:
                body["caption_entities"] = caption.entities

    def _send_media(self, ctx: CallContext, kind: str) -> dict[str, Any]:
        p = ctx.params
        chat = self.state.resolve_send_target(p.get("chat_id"))
        caption = self._known_users(
            render_caption(p.get("caption"), p.get("parse_mode"), p.get("caption_entities"))
        )
        markup = validate_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        if p.get(kind) is None:
            raise bad_request(f"there is no {kind} in the request")
        self._limit(chat, p)
        stored = self._file(p.get(kind), kind)
        body = self._media_body(kind, stored)
        self._apply_caption(body, caption)
        record = self._commit(
            ctx,
            chat,
            body,
            kind,
            markup=markup,
            raw_caption=p.get("caption"),
            reply_to=reply_to,
        )
        self.limiter.record(chat.id, chat.type == "private")
        return copy.deepcopy(record.data)

    def _editable(self, ctx: CallContext, missing: str) -> StoredMessage:
        chat = self._chat(ctx)
        if chat.type == "private" and chat.id in self.state.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        message_id = ctx.params.get("message_id")
        record = (
            self.state.find_message(chat.id, message_id) if isinstance(message_id, int) else None
        )
        if record is None:
            raise bad_request(missing)
        if not record.from_bot:
            raise bad_request("message can't be edited")
        return record

    @staticmethod
    def _edit_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = validate_reply_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        return markup

    def _finish_edit(
        self, ctx: CallContext, record: StoredMessage, markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        if markup is None:
            record.data.pop("reply_markup", None)
        else:
            record.data["reply_markup"] = markup
        record.reply_markup = markup
        record.data["edit_date"] = self.state.now()
        record.edited = True
        ctx.edited.append(record)
        return copy.deepcopy(record.data)

    # ------------------------------------------------------------------ bot

    def api_getMe(self, ctx: CallContext) -> dict[str, Any]:
        data = self.state.bot_user.to_api()
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return data

    def api_logOut(self, ctx: CallContext) -> bool:
        return True

    def api_close(self, ctx: CallContext) -> bool:
        return True

    # -------------------------------------------------------------- updates

    async def api_getUpdates(self, ctx: CallContext) -> list[dict[str, Any]]:
        state = self.state
        p = ctx.params
        if state.webhook.url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            state.allowed_updates = frozenset(allowed) or DEFAULT_ALLOWED_UPDATES
        if offset > 0:
            state.confirm(offset)
        elif offset < 0 and len(state.queue) > -offset:
            state.confirm(state.queue[offset].update_id)
        self._poll_generation += 1
        generation = self._poll_generation
        state.polls_started += 1
        state.pulse.fire()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Telegram drops updates of types the bot did not subscribe to.
            state.discard([u for u in state.queue if u.kind not in state.allowed_updates])
            ready: list[QueuedUpdate] = state.queue[:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing():
                return [copy.deepcopy(item.data) for item in ready]
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            await state.pulse.wait(remaining)

    def api_setWebhook(self, ctx: CallContext) -> bool:
        p = ctx.params
        url = str(p.get("url") or "")
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        webhook = self.state.webhook
        webhook.url = url
        webhook.secret_token = p.get("secret_token")
        allowed = p.get("allowed_updates")
        webhook.allowed_updates = allowed if isinstance(allowed, list) else None
        webhook.max_connections = p.get("max_connections")
        if p.get("drop_pending_updates"):
            self.state.discard(list(self.state.queue))
        ctx.description = "Webhook was set" if url else "Webhook was deleted"
        return True

    def api_deleteWebhook(self, ctx: CallContext) -> bool:
        webhook = self.state.webhook
        ctx.description = "Webhook was deleted" if webhook.url else "Webhook is already deleted"
        webhook.url = ""
        webhook.secret_token = None
        if ctx.params.get("drop_pending_updates"):
            self.state.discard(list(self.state.queue))
        return True

    def api_getWebhookInfo(self, ctx: CallContext) -> dict[str, Any]:
        webhook = self.state.webhook
        info: dict[str, Any] = {
            "url": webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.queue),
        }
        if webhook.url:
            if webhook.allowed_updates is not None:
                info["allowed_updates"] = webhook.allowed_updates
            if webhook.max_connections is not None:
                info["max_connections"] = webhook.max_connections
        return info

    # -------------------------------------------------------------- sending

    def api_sendMessage(self, ctx: CallContext) -> dict[str, Any]:
        p = ctx.params
        chat = self.state.resolve_send_target(p.get("chat_id"))
        formatted = render_text(p.get("text"), p.get("parse_mode"), p.get("entities"))
        self._known_users(formatted)
        markup = validate_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        self._limit(chat, p)
        body: dict[str, Any] = {"text": formatted.text}
        if formatted.entities:
            body["entities"] = formatted.entities
        if isinstance(p.get("link_preview_options"), dict):
            body["link_preview_options"] = p["link_preview_options"]
        record = self._commit(
            ctx, chat, body, "text", markup=markup, raw_text=p.get("text"), reply_to=reply_to
        )
        self.limiter.record(chat.id, chat.type == "private")
        return copy.deepcopy(record.data)

    def api_sendPhoto(self, ctx: CallContext) -> dict[str, Any]:
        return self._send_media(ctx, "photo")

    def api_sendDocument(self, ctx: CallContext) -> dict[str, Any]:
        return self._send_media(ctx, "document")

    def api_sendVideo(self, ctx: CallContext) -> dict[str, Any]:
        return self._send_media(ctx, "video")

    def api_sendAudio(self, ctx: CallContext) -> dict[str, Any]:
        return self._send_media(ctx, "audio")

    def api_sendVoice(self, ctx: CallContext) -> dict[str, Any]:
        return self._send_media(ctx, "voice")

    def api_sendAnimation(self, ctx: CallContext) -> dict[str, Any]:
        return self._send_media(ctx, "animation")

    def api_sendMediaGroup(self, ctx: CallContext) -> list[dict[str, Any]]:
        p = ctx.params
        chat = self.state.resolve_send_target(p.get("chat_id"))
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("media group must contain 2-10 items")
        prepared: list[tuple[str, Any, FormattedText | None, str | None]] = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in _MEDIA_KINDS:
                raise bad_request("unsupported media type in the media group")
            caption = render_caption(
                item.get("caption"), item.get("parse_mode"), item.get("caption_entities")
            )
            kind = str(item["type"])
            if item.get("media") is None:
                raise bad_request(f"there is no {kind} in the request")
            prepared.append((kind, item.get("media"), caption, item.get("caption")))
        reply_to = self._reply_target(chat, p)
        self._limit(chat, p)
        group_id = self.state.new_media_group_id()
        results: list[dict[str, Any]] = []
        for kind, value, caption, raw_caption in prepared:
            body = self._media_body(kind, self._file(value, kind))
            body["media_group_id"] = group_id
            self._apply_caption(body, caption)
            record = self._commit(
                ctx, chat, body, kind, markup=None, raw_caption=raw_caption, reply_to=reply_to
            )
            results.append(copy.deepcopy(record.data))
        # An album is one request for flood control purposes.
        self.limiter.record(chat.id, chat.type == "private")
        return results

    def _source(self, ctx: CallContext, missing: str) -> StoredMessage:
        p = ctx.params
        source_chat = self.state.resolve_chat(p.get("from_chat_id"))
        message_id = p.get("message_id")
        record = (
            self.state.find_message(source_chat.id, message_id)
            if isinstance(message_id, int)
            else None
        )
        if record is None:
            raise bad_request(missing)
        if not any(key in record.data for key in _CONTENT_KEYS):
            raise bad_request("message can't be copied")
        return record

    def api_copyMessage(self, ctx: CallContext) -> dict[str, Any]:
        p = ctx.params
        chat = self.state.resolve_send_target(p.get("chat_id"))
        source = self._source(ctx, "message to copy not found")
        body = {k: copy.deepcopy(v) for k, v in source.data.items() if k in _CONTENT_KEYS}
        raw_caption = source.raw_caption
        if "caption" in p and "text" not in body:
            raw_caption = p.get("caption")
            self._apply_caption(
                body, render_caption(raw_caption, p.get("parse_mode"), p.get("caption_entities"))
            )
        markup = validate_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        self._limit(chat, p)
        record = self._commit(
            ctx,
            chat,
            body,
            source.kind,
            markup=markup,
            raw_text=body.get("text"),
            raw_caption=raw_caption,
            reply_to=reply_to,
        )
        self.limiter.record(chat.id, chat.type == "private")
        return {"message_id": record.message_id}

    def api_forwardMessage(self, ctx: CallContext) -> dict[str, Any]:
        p = ctx.params
        chat = self.state.resolve_send_target(p.get("chat_id"))
        source = self._source(ctx, "message to forward not found")
        body = {k: copy.deepcopy(v) for k, v in source.data.items() if k in _CONTENT_KEYS}
        origin: dict[str, Any]
        if "sender_chat" in source.data and source.data["chat"]["type"] == "channel":
            origin = {
                "type": "channel",
                "date": source.data["date"],
                "chat": source.data["sender_chat"],
                "message_id": source.message_id,
            }
        else:
            origin = {
                "type": "user",
                "date": source.data["date"],
                "sender_user": source.data["from"],
            }
        body["forward_origin"] = origin
        self._limit(chat, p)
        record = self._commit(ctx, chat, body, source.kind, markup=None, raw_text=body.get("text"))
        self.limiter.record(chat.id, chat.type == "private")
        return copy.deepcopy(record.data)

    def api_sendChatAction(self, ctx: CallContext) -> bool:
        self.state.resolve_send_target(ctx.params.get("chat_id"))
        if ctx.params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # -------------------------------------------------------------- editing

    def api_editMessageText(self, ctx: CallContext) -> dict[str, Any] | bool:
        p = ctx.params
        if p.get("inline_message_id"):
            return True  # Inline messages are not simulated.
        record = self._editable(ctx, "message to edit not found")
        if "text" not in record.data:
            raise bad_request("there is no text in the message to edit")
        formatted = render_text(p.get("text"), p.get("parse_mode"), p.get("entities"))
        self._known_users(formatted)
        markup = self._edit_markup(p)
        if (
            formatted.text == record.data.get("text")
            and formatted.entities == record.data.get("entities", [])
            and markup == record.data.get("reply_markup")
        ):
            raise bad_request(_NOT_MODIFIED)
        record.data["text"] = formatted.text
        record.data.pop("entities", None)
        if formatted.entities:
            record.data["entities"] = formatted.entities
        record.raw_text = p.get("text")
        record.parse_mode = p.get("parse_mode")
        return self._finish_edit(ctx, record, markup)

    def api_editMessageCaption(self, ctx: CallContext) -> dict[str, Any] | bool:
        p = ctx.params
        if p.get("inline_message_id"):
            return True
        record = self._editable(ctx, "message to edit not found")
        if not any(kind in record.data for kind in _MEDIA_KINDS):
            raise bad_request("there is no caption in the message to edit")
        caption = render_caption(p.get("caption"), p.get("parse_mode"), p.get("caption_entities"))
        markup = self._edit_markup(p)
        if (
            (caption.text if caption else None) == record.data.get("caption")
            and (caption.entities if caption else []) == record.data.get("caption_entities", [])
            and markup == record.data.get("reply_markup")
        ):
            raise bad_request(_NOT_MODIFIED)
        self._apply_caption(record.data, caption)
        record.raw_caption = p.get("caption")
        record.parse_mode = p.get("parse_mode")
        return self._finish_edit(ctx, record, markup)

    def api_editMessageReplyMarkup(self, ctx: CallContext) -> dict[str, Any] | bool:
        p = ctx.params
        if p.get("inline_message_id"):
            return True
        record = self._editable(ctx, "message to edit not found")
        markup = self._edit_markup(p)
        if markup == record.data.get("reply_markup"):
            raise bad_request(_NOT_MODIFIED)
        return self._finish_edit(ctx, record, markup)

    def api_deleteMessage(self, ctx: CallContext) -> bool:
        chat = self._chat(ctx)
        message_id = ctx.params.get("message_id")
        record = (
            self.state.find_message(chat.id, message_id) if isinstance(message_id, int) else None
        )
        if record is None:
            raise bad_request("message to delete not found")
        if not record.from_bot and not self._bot_is_admin(chat):
            raise bad_request("message can't be deleted")
        del self.state.chat_messages[chat.id][record.message_id]
        return True

    def api_deleteMessages(self, ctx: CallContext) -> bool:
        chat = self._chat(ctx)
        ids = ctx.params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        stored = self.state.chat_messages.get(chat.id, {})
        for message_id in ids:
            record = stored.get(message_id)
            if record is not None and (record.from_bot or self._bot_is_admin(chat)):
                del stored[message_id]
        return True

    # ------------------------------------------------------------ callbacks

    def api_answerCallbackQuery(self, ctx: CallContext) -> bool:
        p = ctx.params
        query_id = str(p.get("callback_query_id") or "")
        pending = self.state.callbacks.get(query_id)
        if pending is None or pending.answered:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(p.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        pending.answered = True
        self.state.callback_answers[query_id] = CallbackAnswer(
            callback_query_id=query_id,
            text=p.get("text"),
            show_alert=bool(p.get("show_alert")),
            url=p.get("url"),
            cache_time=p.get("cache_time"),
        )
        return True

    # -------------------------------------------------------------- pinning

    def _pin_rights(self, chat: FakeChat) -> None:
        if not self._bot_is_admin(chat):
            raise bad_request("not enough rights to manage pinned messages in the chat")

    def api_pinChatMessage(self, ctx: CallContext) -> bool:
        chat = self._chat(ctx)
        self._pin_rights(chat)
        message_id = ctx.params.get("message_id")
        record = (
            self.state.find_message(chat.id, message_id) if isinstance(message_id, int) else None
        )
        if record is None:
            raise bad_request("message to pin not found")
        record.pinned = True
        return True

    def api_unpinChatMessage(self, ctx: CallContext) -> bool:
        chat = self._chat(ctx)
        self._pin_rights(chat)
        records = self.state.chat_messages.get(chat.id, {})
        message_id = ctx.params.get("message_id")
        if message_id is None:
            pinned = [r for r in records.values() if r.pinned]
            if pinned:
                max(pinned, key=lambda r: r.message_id).pinned = False
            return True
        record = records.get(message_id)
        if record is None:
            raise bad_request("message to unpin not found")
        record.pinned = False
        return True

    def api_unpinAllChatMessages(self, ctx: CallContext) -> bool:
        chat = self._chat(ctx)
        self._pin_rights(chat)
        for record in self.state.chat_messages.get(chat.id, {}).values():
            record.pinned = False
        return True

    # ------------------------------------------------------------- commands

    def api_setMyCommands(self, ctx: CallContext) -> bool:
        p = ctx.params
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be an array of at most 100 BotCommand")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (scope_key(p.get("scope")), str(p.get("language_code") or ""))
        self.state.commands_by_scope[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def api_getMyCommands(self, ctx: CallContext) -> list[dict[str, Any]]:
        p = ctx.params
        return self.state.commands(p.get("scope"), str(p.get("language_code") or ""))

    def api_deleteMyCommands(self, ctx: CallContext) -> bool:
        p = ctx.params
        key = (scope_key(p.get("scope")), str(p.get("language_code") or ""))
        self.state.commands_by_scope.pop(key, None)
        return True

    def api_setChatMenuButton(self, ctx: CallContext) -> bool:
        p = ctx.params
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        chat_id = p.get("chat_id")
        self.state.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
        return True

    def api_getChatMenuButton(self, ctx: CallContext) -> dict[str, Any]:
        chat_id = ctx.params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        button = self.state.menu_buttons.get(key) or self.state.menu_buttons.get(None)
        return copy.deepcopy(button) if button else {"type": "default"}

    def api_setMyDescription(self, ctx: CallContext) -> bool:
        return True

    def api_setMyShortDescription(self, ctx: CallContext) -> bool:
        return True

    def api_setMyName(self, ctx: CallContext) -> bool:
        return True

    # ---------------------------------------------------------------- chats

    def api_getChat(self, ctx: CallContext) -> dict[str, Any]:
        chat = self._chat(ctx)
        data = chat.to_api()
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        pinned = [r for r in self.state.chat_messages.get(chat.id, {}).values() if r.pinned]
        if pinned:
            data["pinned_message"] = copy.deepcopy(max(pinned, key=lambda r: r.message_id).data)
        return data

    def api_getChatMember(self, ctx: CallContext) -> dict[str, Any]:
        chat = self._chat(ctx)
        user_id = ctx.params.get("user_id")
        if not isinstance(user_id, int) or (
            user_id not in self.state.users and user_id != self.state.bot_id
        ):
            raise bad_request("user not found")
        return self.state.member_object(chat.id, user_id)

    def api_getChatAdministrators(self, ctx: CallContext) -> list[dict[str, Any]]:
        chat = self._chat(ctx)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        members = self.state.members.get(chat.id, {})
        return [
            self.state.member_object(chat.id, user_id)
            for user_id, status in members.items()
            if status in ("creator", "administrator")
        ]

    def api_getChatMemberCount(self, ctx: CallContext) -> int:
        chat = self._chat(ctx)
        if chat.type == "private":
            return 2
        members = self.state.members.get(chat.id, {})
        return sum(
            status in ("creator", "administrator", "member", "restricted")
            for status in members.values()
        )

    def api_leaveChat(self, ctx: CallContext) -> bool:
        chat = self._chat(ctx)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        old = self.state.member_status(chat.id, self.state.bot_id)
        self.state.members.setdefault(chat.id, {})[self.state.bot_id] = "left"
        bot = self.state.bot_user
        self.state.member_update("my_chat_member", chat, bot, bot, old, "left")
        return True

    def _change_member(
        self, ctx: CallContext, new_status: MemberStatus, only_if: MemberStatus | None = None
    ) -> bool:
        chat = self._chat(ctx)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        if not self._bot_is_admin(chat):
            raise bad_request("not enough rights to restrict/unrestrict chat member")
        user_id = ctx.params.get("user_id")
        if not isinstance(user_id, int) or user_id not in self.state.users:
            raise bad_request("user not found")
        old = self.state.member_status(chat.id, user_id)
        if only_if is not None and old != only_if:
            return True
        if old == "creator":
            raise bad_request("can't remove chat owner")
        self.state.add_member(chat, self.state.users[user_id], new_status)
        self.state.member_update(
            "chat_member",
            chat,
            self.state.bot_user,
            self.state.users[user_id],
            old,
            new_status,
        )
        return True

    def api_banChatMember(self, ctx: CallContext) -> bool:
        return self._change_member(ctx, "kicked")

    def api_unbanChatMember(self, ctx: CallContext) -> bool:
        only_if: MemberStatus | None = "kicked" if ctx.params.get("only_if_banned") else None
        return self._change_member(ctx, "left", only_if=only_if)

    def api_restrictChatMember(self, ctx: CallContext) -> bool:
        return self._change_member(ctx, "restricted")

    # ---------------------------------------------------------------- files

    def api_getFile(self, ctx: CallContext) -> dict[str, Any]:
        stored = self.state.files.get(str(ctx.params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }


def is_sending(method: str) -> bool:
    """Whether the method delivers messages (and so is subject to flood limits)."""
    return method in SENDING_METHODS
