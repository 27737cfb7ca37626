"""Cells that cannot become formulas (CSV/formula injection, OWASP).

A spreadsheet treats a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return as a formula (or a DDE command), so a resident named ``=HYPERLINK(...)`` or a
visitor ``+cmd|' /C calc'!A0`` would run in the officer's spreadsheet. Every writer of an
export (XLSX and CSV) passes each value through these two functions and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")


def is_dangerous(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(DANGEROUS_FIRST)


def csv_value(value: Any) -> Any:
    """A value for a CSV cell: a dangerous text gets a leading apostrophe."""
    return "'" + value if is_dangerous(value) else value


def csv_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """`csv_value` over whole rows, without a call per cell (a ledger has a million)."""
    danger = DANGEROUS_FIRST
    return [
        [("'" + v) if isinstance(v, str) and v.startswith(danger) else v for v in row]
        for row in rows
    ]


def xlsx_value(value: Any) -> tuple[Any, bool]:
    """A value for an XLSX cell and whether it must be stored as plain text (data type
    ``s``, never ``f``): openpyxl turns a string starting with ``=`` into a formula."""
    return value, is_dangerous(value)
