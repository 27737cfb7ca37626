"""Every user-facing text, as Jinja2 templates per locale (HTML parse mode, autoescaped).

Templates live in `messages/<locale>/<domain>.toml`; the key of a text is
`<domain>.<name>`, e.g. `registration.ask_name`. Both locales must hold the same keys.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, Template, Undefined
from markupsafe import Markup, escape

LOCALES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
MESSAGES_DIR = Path(__file__).parent


def locale_from_telegram(language_code: str | None) -> str:
    """Map Telegram's `language_code` (IETF tag) to one of our locales."""
    if language_code and language_code.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def normalise_locale(value: str | None) -> str:
    if value is not None and value in LOCALES:
        return value
    return locale_from_telegram(value)


def plural(count: Any, one: str, many: str | None = None) -> Markup:
    """`{{ n | plural("report") }}` → "1 report", "0 reports", "3 reports".

    English only (Chinese counts take a measure word and no plural). ``many`` is for nouns
    that do not just add "s": `{{ n | plural("person", "people") }}`,
    `{{ n | plural("gate entry", "gate entries") }}`. A count that is not a number is
    shown as it is, with the plural noun.
    """
    singular = isinstance(count, int | float | Decimal) and count == 1
    noun = one if singular else (many or one + "s")
    # The noun is template text (markup, like the rest of the template); the count is data.
    return Markup(f"{escape(count)} {noun}")


def part(name: Any, word: str) -> Markup:
    """`{{ address.building | part("building") }}` → "building 3" for a bare "3", but a
    name that says what it is already ("1栋", "A座", "Building 2") is shown as it is: no
    "building 1栋". English only."""
    text = str(name)
    says_itself = text.casefold().startswith(word.casefold()) or any(
        "\u3400" <= ch <= "\u9fff" for ch in text
    )
    return Markup(escape(text)) if says_itself else Markup(f"{word} {escape(text)}")


def _make_environment(undefined: type[Undefined]) -> Environment:
    env = Environment(autoescape=True, undefined=undefined, trim_blocks=False, lstrip_blocks=True)
    env.filters["date"] = lambda d, fmt="%Y-%m-%d": d.strftime(fmt) if hasattr(d, "strftime") else d
    env.filters["plural"] = plural
    env.filters["part"] = part
    return env


#: One environment per kind of undefined, and its compiled templates by source text,
#: shared by every catalog of the process: a template compiles once, however many
#: catalogs (applications, tests) use it.
_ENVIRONMENTS: dict[type[Undefined], Environment] = {}
_TEMPLATES: dict[tuple[type[Undefined], str], Template] = {}


def _environment(undefined: type[Undefined]) -> Environment:
    env = _ENVIRONMENTS.get(undefined)
    if env is None:
        env = _ENVIRONMENTS[undefined] = _make_environment(undefined)
    return env


class Catalog:
    """All templates of all locales, compiled once per process."""

    def __init__(
        self, directory: Path = MESSAGES_DIR, undefined: type[Undefined] = StrictUndefined
    ):
        self.env = _environment(undefined)
        self._undefined = undefined
        self.sources: dict[str, dict[str, str]] = {}
        self._compiled: dict[tuple[str, str], Template] = {}
        for locale in LOCALES:
            self.sources[locale] = dict(_load(directory / locale))

    def keys(self, locale: str = DEFAULT_LOCALE) -> Iterable[str]:
        return self.sources[locale].keys()

    def has(self, key: str, locale: str = DEFAULT_LOCALE) -> bool:
        return key in self.sources[normalise_locale(locale)]

    def template(self, locale: str, key: str) -> Template:
        locale = normalise_locale(locale)
        found = self._compiled.get((locale, key))
        if found is None:
            source = self.sources[locale].get(key)
            if source is None:
                raise KeyError(f"no message {key!r} in locale {locale}")
            shared = (self._undefined, source)
            found = _TEMPLATES.get(shared)
            if found is None:
                found = _TEMPLATES[shared] = self.env.from_string(source)
            self._compiled[(locale, key)] = found
        return found

    def render(self, locale: str, key: str, /, **params: Any) -> str:
        text = self.template(locale, key).render(**params).strip()
        # A fragment written with a space at its edge (" (me)", ", ") is meant to be joined
        # to other text: keep that space, or English runs together ("Zhang(head)(me)").
        source = self.sources[normalise_locale(locale)][key]
        if source[:1] == " ":
            text = " " + text
        if source[-1:] == " ":
            text += " "
        return text

    def translator(self, locale: str) -> Translator:
        return Translator(self, normalise_locale(locale))


#: The texts of a locale folder, read once per process (a file's size and mtime tell
#: a changed file, so a catalog made after an edit sees it).
_SOURCES: dict[Path, tuple[tuple[tuple[str, int, int], ...], dict[str, str]]] = {}


def _load(folder: Path) -> dict[str, str]:
    paths = sorted(folder.glob("*.toml"))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    cached = _SOURCES.get(folder)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    texts: dict[str, str] = {}
    for path in paths:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        for name, value in _flatten(data):
            texts[f"{path.stem}.{name}"] = value
    _SOURCES[folder] = (stamp, texts)
    return texts


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for name, value in data.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", str(value)


@dataclass(frozen=True)
class Translator:
    """The catalog bound to one user's locale: `t("registration.ask_name", step=2)`."""

    catalog: Catalog
    locale: str

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.catalog.render(self.locale, key, **params)

    def has(self, key: str) -> bool:
        return self.catalog.has(key, self.locale)
