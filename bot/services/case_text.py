"""A case's summary in the reader's language.

A case stores its summary as a message key and parameters (`details.summary_key`,
`details.summary_params`, and optional `details.summary_more`: keys of sentences added
after it), rendered when a card is shown, in the language of whoever reads it: the
officers' chat in the community's language, a private card in the officer's own. Labels
that are themselves translated are stored as markers: `{"$t": "reports.symptom_fever"}`
(a message key) and `{"$place": "440305"}` (a place code, named by the gazetteer).
`details.summary` keeps the text in the community's language, written when the case was
opened: rows made before the key existed, and cases opened by code that stores no key,
are shown with it unchanged.
"""

from __future__ import annotations

import html
from typing import Any

from jinja2 import TemplateError

from bot.places import Gazetteer
from messages import Catalog


def label(key: str) -> dict[str, str]:
    """A translated label as a summary parameter."""
    return {"$t": key}


def place(code: str | None) -> dict[str, str] | str:
    """A place (by its code) as a summary parameter."""
    return {"$place": code} if code else ""


def resolve(catalog: Catalog, locale: str, value: Any) -> Any:
    """The parameters with their markers replaced by text in `locale`."""
    if isinstance(value, dict):
        if set(value) == {"$t"}:
            return html.unescape(catalog.render(locale, str(value["$t"])))
        if set(value) == {"$place"}:
            return Gazetteer.load().full_name(str(value["$place"]), locale)
        return {k: resolve(catalog, locale, v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(catalog, locale, v) for v in value]
    return value


def render(
    catalog: Catalog, locale: str, key: str, params: dict[str, Any], more: list[str] | None = None
) -> str:
    """The summary as plain text (the card template escapes it)."""
    text = html.unescape(catalog.render(locale, key, **resolve(catalog, locale, params)))
    for extra in more or []:
        text += " " + html.unescape(catalog.render(locale, extra))
    return text


def summary_details(
    catalog: Catalog,
    locale: str,
    key: str,
    params: dict[str, Any],
    *,
    more: list[str] | None = None,
) -> dict[str, Any]:
    """What a case stores in `details` for its summary: the key and parameters, and the
    text in the community's language (`locale`) for readers that take it as it is (the
    ledger, an export)."""
    out: dict[str, Any] = {
        "summary": render(catalog, locale, key, params, more),
        "summary_key": key,
        "summary_params": params,
    }
    if more:
        out["summary_more"] = list(more)
    return out


def summary_text(catalog: Catalog, locale: str, details: dict[str, Any] | None) -> str:
    """The summary of a case in `locale`: rendered from its key when it has one, else the
    stored text (older cases)."""
    details = details or {}
    key = details.get("summary_key")
    if isinstance(key, str) and catalog.has(key, locale):
        try:
            return render(
                catalog, locale, key, dict(details.get("summary_params") or {}),
                list(details.get("summary_more") or []),
            )  # fmt: skip
        except (TemplateError, KeyError, TypeError, ValueError):
            pass  # parameters from an older version of the text: the stored text is right
    return str(details.get("summary", ""))
