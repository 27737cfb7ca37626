"""Turning an HTTP request into typed Bot API parameters.

aiogram sends everything as form fields: scalars are JSON-encoded (``"123"``, ``"true"``),
strings are raw, objects and arrays are JSON strings, files are multipart parts referenced
by ``attach://<name>``. Telegram decodes by the declared type of each parameter, so do we.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.double.models import UploadedFile, bad_request

_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "until_date",
        "max_connections",
        "duration",
        "width",
        "height",
        "sender_chat_id",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "only_if_banned",
        "revoke_messages",
        "has_spoiler",
        "show_caption_above_media",
        "disable_content_type_detection",
        "remove_caption",
        "use_independent_chat_permissions",
    }
)
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "media",
        "commands",
        "allowed_updates",
        "scope",
        "menu_button",
        "link_preview_options",
        "reply_parameters",
        "permissions",
        "message_ids",
        "reaction",
    }
)
#: Parameters that may carry an uploaded file.
FILE_FIELDS = frozenset(
    {"document", "photo", "video", "audio", "voice", "animation", "sticker", "thumbnail"}
)


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            if name == "chat_id" and value.startswith("@"):
                return value
            raise bad_request(f'invalid parameter "{name}"') from None
    if name in _BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    if name in _JSON_FIELDS:
        if value == "":
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def _resolve_attach(value: Any, files: dict[str, UploadedFile]) -> Any:
    if isinstance(value, str) and value.startswith("attach://"):
        name = value.removeprefix("attach://")
        if name not in files:
            raise bad_request(f"file {value} not found in the request")
        return files[name]
    return value


async def parse_request(request: web.Request) -> dict[str, Any]:
    """Read query, JSON, urlencoded or multipart parameters into a typed dict."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                raw.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    with value.file as handle:
                        content = handle.read()
                    files[key] = UploadedFile(value.filename, content, value.content_type)
                else:
                    raw[key] = value
    params = {key: _coerce(key, value) for key, value in raw.items()}
    for key in FILE_FIELDS:
        if key in params:
            params[key] = _resolve_attach(params[key], files)
        elif key in files:
            params[key] = files[key]
    media = params.get("media")
    if isinstance(media, list):
        params["media"] = [
            {**item, "media": _resolve_attach(item.get("media"), files)}
            if isinstance(item, dict)
            else item
            for item in media
        ]
    elif isinstance(media, dict):
        params["media"] = {**media, "media": _resolve_attach(media.get("media"), files)}
    return params
