"""The streaming XLSX writer: what openpyxl reads back from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

import bot.xlsx
from bot.xlsx import Workbook, column_letter


def test_cells_headers_widths_frozen_pane_and_filter(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with Workbook(path) as book:
        sheet = book.sheet("隔离 & 打卡", [8, 22.5, 10])
        sheet.header(["编号", "<名字>", "体温"])
        sheet.append_many(
            [
                [1, "张<b>三</b> & co", 36.6],
                [2, '=HYPERLINK("x")', None],
                [3, "  spaced ", float("nan")],
                [4, "bell\x07 and tab\tkept", ""],
            ]
        )
        empty = book.sheet("Empty", [])
        assert empty.rows == 0
    wb = load_workbook(path)
    assert wb.sheetnames == ["隔离 & 打卡", "Empty"]
    ws = wb["隔离 & 打卡"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C5"
    assert ws.column_dimensions["B"].width == 22.5
    assert ws["A1"].font.b and not ws["A2"].font.b
    assert [[c.value for c in row] for row in ws.iter_rows()] == [
        ["编号", "<名字>", "体温"],
        [1, "张<b>三</b> & co", 36.6],
        # Text, never a formula.
        [2, '=HYPERLINK("x")', None],
        [3, "  spaced ", "nan"],
        [4, "bell and tab\tkept", None],
    ]
    assert ws["B3"].data_type == "s"


def test_column_letters() -> None:
    assert [column_letter(i) for i in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]


def test_repeated_texts_past_the_memo_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts are escaped once per sheet and kept in a bounded memo: past its size it is
    emptied, and every cell is still the right one (escaped, blank, repeated)."""
    monkeypatch.setattr(bot.xlsx, "_MEMO_SIZE", 3)
    rows = [[f"t{i % 5}", "a&b", "", i] for i in range(12)]
    path = tmp_path / "memo.xlsx"
    with Workbook(path) as book:
        sheet = book.sheet("S", [5, 5, 5, 5])
        sheet.header(["a", "b", "c", "d"])
        sheet.append_many(rows[:7])
        sheet.append_many(rows[7:])
        other = book.sheet("T", [5])
        other.append_many([["a&b"], ["<x>"]])
    wb = load_workbook(path)
    assert [[c.value for c in row] for row in wb["S"].iter_rows(min_row=2)] == [
        [f"t{i % 5}", "a&b", None, i] for i in range(12)
    ]
    assert [[c.value for c in row] for row in wb["T"].iter_rows()] == [["a&b"], ["<x>"]]
