"""Every text exists in both locales, renders with sample data within Telegram's
limits, and every button's callback data fits in 64 bytes."""

from __future__ import annotations

import importlib
import pkgutil
import re
from html.parser import HTMLParser
from typing import Any, get_type_hints

import pytest
from aiogram.filters.callback_data import CallbackData
from jinja2 import meta

import handlers
from messages import LOCALES, Catalog, plural
from tests.golden.samples import sample_catalog as golden_sample_catalog

TELEGRAM_TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64


@pytest.fixture(scope="module")
def sample_catalog() -> Catalog:
    # Sample data of every template lives in tests/golden/samples.py.
    return golden_sample_catalog("three")


def test_both_locales_have_the_same_keys(catalog: Catalog) -> None:
    zh, en = set(catalog.sources["zh-CN"]), set(catalog.sources["en"])
    assert zh - en == set(), "texts missing in English"
    assert en - zh == set(), "texts missing in Chinese"
    assert len(zh) > 50


def test_locales_use_the_same_variables(catalog: Catalog) -> None:
    env = catalog.env
    mismatched = []
    for key in catalog.sources["zh-CN"]:
        zh = meta.find_undeclared_variables(env.parse(catalog.sources["zh-CN"][key]))
        en = meta.find_undeclared_variables(env.parse(catalog.sources["en"][key]))
        if zh != en:
            mismatched.append((key, sorted(zh ^ en)))
    assert mismatched == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_renders_within_telegram_limits(
    sample_catalog: Catalog, locale: str
) -> None:
    for key in sample_catalog.sources[locale]:
        text = sample_catalog.render(locale, key)
        assert text, key
        assert len(text) <= TELEGRAM_TEXT_LIMIT, (key, len(text))
        # autoescape: the sample's "<b>&" never reaches Telegram as markup
        assert " <b>&" not in text, key


class _TelegramTags(HTMLParser):
    """The tags Telegram's HTML parse mode accepts; any other makes sendMessage fail."""

    ALLOWED = frozenset({
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
        "code", "pre", "blockquote", "tg-emoji",
    })  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.unsupported: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.unsupported.append(tag)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_uses_only_tags_telegram_accepts(
    sample_catalog: Catalog, locale: str
) -> None:
    bad = {}
    for key in sample_catalog.sources[locale]:
        parser = _TelegramTags()
        parser.feed(sample_catalog.render(locale, key))
        if parser.unsupported:
            bad[key] = parser.unsupported
    assert bad == {}, "write <place> as &lt;place&gt;"


def test_variables_are_html_escaped(catalog: Catalog) -> None:
    text = catalog.render("en", "groups.bound", compound="<b>x</b>&")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in text


def test_fragments_keep_the_space_they_are_joined_with(catalog: Catalog) -> None:
    # " (me)" and ", " are glued to other text; rendering must not eat their spaces.
    t = catalog.translator("en")
    notes = t("households.note_head") + t("households.note_me")
    assert "Zhang" + notes == "Zhang (head) (me)"
    assert t("reports.list_sep").join(["Fever", "Cough"]) == "Fever, Cough"
    assert catalog.render("zh-CN", "reports.list_sep") == "、"
    # Whole messages are still trimmed.
    assert catalog.render("en", "sandbox.bad_wait") == "Please type e.g. 30m, 2h or 1d."


def _callback_classes() -> list[type[CallbackData]]:
    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{module.name}")
    found: list[type[CallbackData]] = []
    stack = list(CallbackData.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def _extreme(annotation: Any) -> Any:
    if annotation is bool:
        return True
    if annotation is int:
        return -(2**53)
    if annotation is str:
        return "x" * 12  # our string fields are short codes (actions, levels, locales)
    return None


def test_callback_data_fits_in_64_bytes() -> None:
    classes = _callback_classes()
    assert len(classes) >= 8
    for cls in classes:
        hints = get_type_hints(cls)
        values = {name: _extreme(hints[name]) for name in cls.model_fields}
        packed = cls(**values).pack()
        assert len(packed.encode()) <= CALLBACK_DATA_LIMIT, (cls.__name__, packed)


# English nouns that follow a count; a template printing one of them straight after a
# variable says "1 reports": it must use the plural filter instead.
_COUNTED_NOUNS = (
    "reports|check-ins|entries|cases|statuses|requests|days|hours|minutes|weeks|rows|"
    "people|persons|households|buildings|buttons|characters|clinics|areas|passages|"
    "isolations|residents|groups|members"
)
_BARE_COUNT = re.compile(r"\{\{\s*[\w.]+\s*\}\}\s+(?:[\w'-]+\s+)?(?:" + _COUNTED_NOUNS + r")\b")


def test_english_counts_agree_with_their_noun(catalog: Catalog) -> None:
    bare = [
        (key, match.group(0))
        for key, source in catalog.sources["en"].items()
        for match in _BARE_COUNT.finditer(source)
    ]
    assert bare == []
    hedged = [key for key, source in catalog.sources["en"].items() if "(s)" in source]
    assert hedged == []


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0 reports, 0 check-ins, 0 gate entries, 0 cases."),
        (1, "1 report, 1 check-in, 1 gate entry, 1 case, 1 building status, 1 supply request"),
        (3, "3 reports, 3 check-ins, 3 gate entries, 3 cases, 3 building statuses"),
    ],
)
def test_ledger_caption_counts_in_english(catalog: Catalog, count: int, expected: str) -> None:
    counts = dict.fromkeys(
        ("reports", "checkins", "gate_entries", "cases", "statuses", "supplies"), count
    )
    text = catalog.render("en", "ledger.caption", first="2026-11-30", last="2026-11-30",
                          scope="阳光花园", counts=counts)  # fmt: skip
    for part in expected.split(", "):
        assert part in text


def test_plural_filter() -> None:
    assert plural(1, "report") == "1 report"
    assert plural(0, "report") == "0 reports"
    assert plural(3, "person", "people") == "3 people"
    assert plural(1, "person", "people") == "1 person"
    assert plural("many", "row") == "many rows"
    assert plural(1.5, "day") == "1.5 days"
    assert plural("1", "day") == "1 days"  # text is not a count: pass numbers
    assert plural(3, "x", "<b>xs</b>") == "3 <b>xs</b>"  # the noun is template markup


def test_example_dates_carry_no_year(catalog: Catalog) -> None:
    """Help texts show dates as people type them today ("3/5", "3月5日"): a year in an
    example goes stale (they said 2022 in 2026). A date without a year is this year's."""
    dated = [
        (locale, key)
        for locale in LOCALES
        for key, source in catalog.sources[locale].items()
        if re.search(r"\b20\d\d\b", source)
    ]
    assert dated == []


def test_part_filter_names_a_bare_number_only() -> None:
    from messages import part

    assert part("3", "building") == "building 3"
    assert part("1栋", "building") == "1栋"
    assert part("A座", "building") == "A座"
    assert part("Building 2", "building") == "Building 2"
    assert part("<b>", "room") == "room &lt;b&gt;"
