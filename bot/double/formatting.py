"""Text formatting rules of the Bot API: HTML parse mode, entities, keyboards.

Only as much of Telegram's parser as catches real bot bugs cheaply: unsupported or
unbalanced HTML tags, over-long texts and invalid inline buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from bot.double.models import ApiError, bad_request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

# Tag -> entity type. ``span`` and ``a``/``tg-emoji`` need attributes, handled below.
_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class FormattedText:
    """Text as Telegram renders it plus the entities it carries."""

    text: str
    entities: list[dict[str, Any]]


class _TelegramHTML(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._parts: list[str] = []
        self._pos = 0
        # (tag, entity or None when the tag only annotates its parent, start offset)
        self._stack: list[tuple[str, dict[str, Any] | None, int]] = []
        self.entities: list[dict[str, Any]] = []
        self.error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        lines = self._source.split("\n")
        prefix = "\n".join(lines[: line - 1])
        if line > 1:
            prefix += "\n"
        prefix += lines[line - 1][:column]
        return len(prefix.encode("utf-8"))

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error:
            return
        attributes = dict(attrs)
        entity: dict[str, Any] | None
        if tag in _SIMPLE_TAGS:
            entity = {"type": _SIMPLE_TAGS[tag]}
            if tag == "blockquote" and "expandable" in attributes:
                entity["type"] = "expandable_blockquote"
            if tag == "code" and self._stack and self._stack[-1][0] == "pre":
                # <pre><code class="language-x"> sets the language of the enclosing pre.
                language = (attributes.get("class") or "").removeprefix("language-")
                parent = self._stack[-1][1]
                if parent is not None and language:
                    parent["language"] = language
                entity = None
        elif tag == "span":
            if attributes.get("class") != "tg-spoiler":
                self._fail(f'Unsupported start tag "span" at byte offset {self._byte_offset()}')
                return
            entity = {"type": "spoiler"}
        elif tag == "a":
            href = attributes.get("href") or ""
            if href.startswith("tg://user?id="):
                user_id = href.split("=", 1)[1]
                if not user_id.isdigit():
                    self._fail(f"Wrong user identifier in {href!r}")
                    return
                # Telegram sends the full User; callers replace this stub when they know it.
                user = {"id": int(user_id), "is_bot": False, "first_name": ""}
                entity = {"type": "text_mention", "user": user}
            else:
                entity = {"type": "text_link", "url": href}
        elif tag == "tg-emoji":
            emoji_id = attributes.get("emoji-id")
            if not emoji_id:
                self._fail("Custom emoji entity must contain a valid custom emoji identifier")
                return
            entity = {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        else:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
            return
        self._stack.append((tag, entity, self._pos))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Telegram has no void tags: <br/> and friends are rejected.
        self._fail(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        if self.error:
            return
        if not self._stack:
            self._fail(f"Unexpected end tag at byte offset {self._byte_offset()}")
            return
        open_tag, entity, start = self._stack[-1]
        if open_tag != tag:
            self._fail(
                f"Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{open_tag}>", found "</{tag}>"'
            )
            return
        self._stack.pop()
        if entity is not None and self._pos > start:
            entity["offset"] = start
            entity["length"] = self._pos - start
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self._parts.append(data)
        self._pos += utf16_len(data)

    def finish(self) -> None:
        self.close()
        if self._stack and not self.error:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self._stack[-1][0]}"')


def parse_html(source: str) -> FormattedText:
    """Render Telegram HTML; raises 400 ``can't parse entities`` like Telegram."""
    parser = _TelegramHTML(source)
    parser.feed(source)
    parser.finish()
    if parser.error:
        raise bad_request(f"can't parse entities: {parser.error}")
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return FormattedText(parser.text, entities)


def render(
    text: str,
    parse_mode: str | None,
    entities: Any,
) -> FormattedText:
    """Apply ``parse_mode`` (or explicit ``entities``) to a text or caption."""
    if isinstance(entities, list) and entities:
        return FormattedText(text, [dict(e) for e in entities if isinstance(e, dict)])
    if parse_mode and parse_mode.lower() == "html":
        return parse_html(text)
    # Markdown modes are passed through: good enough for a test double.
    return FormattedText(text, [])


def render_text(text: Any, parse_mode: str | None, entities: Any) -> FormattedText:
    """Validate and render a message text (sendMessage / editMessageText)."""
    if not isinstance(text, str) or not text:
        raise bad_request("message text is empty")
    formatted = render(text, parse_mode, entities)
    if not formatted.text.strip():
        raise bad_request("message text is empty")
    if len(formatted.text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return formatted


def render_caption(caption: Any, parse_mode: str | None, entities: Any) -> FormattedText | None:
    """Validate and render a media caption (None when there is none)."""
    if caption is None or caption == "":
        return None
    formatted = render(str(caption), parse_mode, entities)
    if len(formatted.text) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return formatted


def command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entity Telegram attaches when a text starts with ``/``."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    if len(command) < 2:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Check a ``reply_markup`` the way Telegram does for the common mistakes."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        for row in rows:
            for button in row:
                _validate_inline_button(button)
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
    elif not ({"remove_keyboard", "force_reply"} & markup.keys()):
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if (
            not isinstance(data, str)
            or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
        ):
            raise bad_request("BUTTON_DATA_INVALID")
        return
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
            raise bad_request("inline keyboard button URL is invalid")
        return
    actions = {
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
    if not actions & button.keys():
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )


def inline_rows(markup: dict[str, Any] | None) -> list[list[tuple[str, str | None]]]:
    """Inline keyboard as rows of ``(text, callback_data or url)``."""
    if not markup or "inline_keyboard" not in markup:
        return []
    rows: list[list[tuple[str, str | None]]] = []
    for row in markup["inline_keyboard"]:
        rows.append(
            [
                (str(button.get("text", "")), button.get("callback_data") or button.get("url"))
                for button in row
            ]
        )
    return rows


def ensure_error(exc: BaseException) -> ApiError:
    """Map unexpected parameter errors to Telegram's generic 400 answer."""
    if isinstance(exc, ApiError):
        return exc
    return bad_request(str(exc) or type(exc).__name__)
