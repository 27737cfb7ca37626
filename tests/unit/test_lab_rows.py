"""Reading a lab's positive list: pasted text and uploaded CSV/XLSX give the same rows."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook

from bot.services import rounds
from bot.services.errors import DomainError


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_and_csv_and_text_read_alike() -> None:
    text = "姓名,电话,楼栋\n张三,+8613800010001,1栋\n"
    pasted = rounds.lab_rows_from_text(text)
    assert pasted == [["姓名", "电话", "楼栋"], ["张三", "+8613800010001", "1栋"]]
    assert rounds.lab_rows_from_file("lab.csv", text.encode("utf-8-sig")) == pasted
    assert rounds.lab_rows_from_file("LAB.CSV", text.encode("gb18030")) == pasted
    book = _xlsx([["姓名", "电话", "楼栋"], ["张三", "+8613800010001", "1栋"]])
    assert rounds.lab_rows_from_file("lab.xlsx", book) == pasted


def test_cells_are_text_and_formulas_are_never_evaluated() -> None:
    book = _xlsx(
        [
            [None, None, None],
            ["姓名", "电话", "采样日期"],
            ['=CONCAT("张","三")', 8613800010001, date(2026, 11, 30)],
            ["  李四 ", 13800010002.0, "=1+1"],
        ]
    )
    assert rounds.lab_rows_from_file("lab.xlsx", book) == [
        ["", "", ""],
        ["姓名", "电话", "采样日期"],
        ["", "8613800010001", "2026-11-30"],
        ["李四", "13800010002", ""],
    ]
    assert rounds.lab_rows_from_text('姓名\n=HYPERLINK("x")\n+8613800010001') == [
        ["姓名"],
        [""],
        ["+8613800010001"],
    ]


@pytest.mark.parametrize(
    ("name", "content", "key"),
    [
        ("lab.pdf", b"%PDF", "rounds.positives_bad_type"),
        ("lab.xlsx", b"not a zip", "rounds.positives_unreadable"),
        ("lab.csv", b"\xff\xfe\x00\xd8" * 3, "rounds.positives_unreadable"),
        ("lab.csv", b"x" * (rounds.LAB_MAX_BYTES + 1), "rounds.positives_too_big"),
        ("lab.csv", b"h\n" + b"r\n" * (rounds.LAB_MAX_ROWS + 1), "rounds.positives_too_many"),
    ],
)
def test_refused_files(name: str, content: bytes, key: str) -> None:
    with pytest.raises(DomainError) as caught:
        rounds.lab_rows_from_file(name, content)
    assert caught.value.key == key


def test_refused_text() -> None:
    with pytest.raises(DomainError) as caught:
        rounds.lab_rows_from_text("x" * (rounds.LAB_MAX_CHARS + 1))
    assert caught.value.key == "rounds.positives_too_long"
    many = "h\n" + "r\n" * (rounds.LAB_MAX_ROWS + 1)
    with pytest.raises(DomainError) as caught:
        rounds.lab_rows_from_text(many)
    assert caught.value.key == "rounds.positives_too_many"
