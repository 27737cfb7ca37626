"""Reading the community's register of households (`community-guard setup`) from what
offices really have: CSV saved by Excel or WPS on any Windows (UTF-8 with or without BOM,
GBK/GB18030, UTF-16 "Unicode text"), or an XLSX workbook; Chinese or English headers,
a title row above the header allowed.

Every problem names the line (CSV) or row (XLSX) and the column, and all problems are
reported at once, so an officer fixes the file in one go. Duplicate rooms are errors
(reported with both line numbers) unless the caller chooses to skip them.

Operator-facing text of this module is plain English, like the rest of the CLI.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED = ("compound", "building", "unit", "room")
OPTIONAL = ("grid", "property_managed", "property_company", "lead_unit")
MAX_LENGTH = 40
MAX_HEADER_SEARCH = 10

# Header spellings seen in registers (compared after normalising: NFKC, lower case,
# spaces/hyphens as underscores, a trailing "*" and a "(必填)"-style remark removed).
ALIASES: dict[str, tuple[str, ...]] = {
    "compound": ("compound", "小区", "小区名称", "小区名", "院落", "苑区", "居民小区"),
    "building": ("building", "楼栋", "楼栋号", "楼号", "栋", "栋号", "楼", "幢", "楼宇"),
    "unit": ("unit", "单元", "单元号"),
    "room": ("room", "房号", "房间号", "房间", "门牌号", "户号", "室号", "室", "房屋号"),
    "grid": ("grid", "网格", "网格名称", "所属网格"),
    "property_managed": (
        "property_managed",
        "物业管理",
        "有无物业",
        "是否有物业",
        "是否物业管理",
        "有物业",
    ),
    "property_company": ("property_company", "物业公司", "物业公司名称", "物业服务企业"),
    "lead_unit": ("lead_unit", "包保单位", "牵头单位", "责任单位", "共建单位"),
}
_LOOKUP = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_TRUE = {"1", "yes", "y", "true", "是", "有"}
_FALSE = {"0", "no", "n", "false", "否", "无", "没有"}
_REMARK = re.compile(r"[(（\[【].*?[)）\]】]")


class RegisterFileError(ValueError):
    """The register cannot be used. `problems` holds one line per problem, each naming
    the file, the line or row and the column."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(problems[0] if problems else "unusable register")
        self.problems = list(problems)


@dataclass
class Register:
    rows: list[dict[str, str]]
    source: str  # "CSV (GBK)", "XLSX (sheet 登记表)", …
    notes: list[str] = field(default_factory=list)  # ignored columns, skipped duplicates

    def summary(self) -> dict[str, int]:
        compounds = {r["compound"] for r in self.rows}
        buildings = {(r["compound"], r["building"]) for r in self.rows}
        units = {(r["compound"], r["building"], r["unit"]) for r in self.rows}
        grids = {r["grid"] for r in self.rows if r.get("grid")}
        return {
            "compounds": len(compounds),
            "grids": len(grids),
            "buildings": len(buildings),
            "units": len(units),
            "households": len(self.rows),
        }


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA (as spreadsheets name columns)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def normalise_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lower().lstrip("\ufeff")
    text = _REMARK.sub("", text).strip().rstrip("*").strip()
    return re.sub(r"[\s\-]+", "_", text)


def normalise_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value))
    return re.sub(r"\s+", " ", text).strip()


def read_register(path: Path, *, skip_duplicates: bool = False) -> Register:
    """Read and check a register file (CSV or XLSX, detected from its content)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegisterFileError([f"{path}: cannot read the file ({exc.strerror})"]) from None
    name = path.name
    if data.startswith(b"PK\x03\x04"):
        source, lines = _xlsx_rows(data, name)
        where = "row"
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RegisterFileError(
            [f"{name}: this is an old Excel .xls file; save it as .xlsx or CSV and try again"]
        )
    else:
        encoding, text = _decode(data, name)
        source, lines = f"CSV ({encoding})", _csv_rows(text, name)
        where = "line"
    return _check(name, where, source, lines, skip_duplicates)


def _decode(data: bytes, name: str) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return "UTF-8 with BOM", data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return "UTF-16", data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return "UTF-8", data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            return "GBK/GB18030", data.decode("gb18030")
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise RegisterFileError(
                [
                    f"{name}: line {line}: the text is neither UTF-8 nor GBK/GB18030; "
                    "save the file as CSV UTF-8 (Excel: Save As → CSV UTF-8) or as .xlsx"
                ]
            ) from None


def _csv_rows(text: str, name: str) -> Iterator[tuple[int, list[str]]]:
    first = text.split("\n", 1)[0]
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RegisterFileError(
                [f"{name}: line {reader.line_num + 1}: not readable as CSV ({exc})"]
            ) from None
        yield reader.line_num, cells


def _xlsx_rows(data: bytes, name: str) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise RegisterFileError(
            [f"{name}: not a readable .xlsx workbook ({type(exc).__name__})"]
        ) from None
    sheet = workbook.worksheets[0]
    title = str(sheet.title)

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [normalise_value(v) for v in values]
        finally:
            workbook.close()

    return f"XLSX (first sheet {title!r})", rows()


def _find_header(
    name: str, lines: Iterator[tuple[int, list[str]]]
) -> tuple[int, dict[str, int], list[str], list[str]]:
    """The header row (within the first rows; a title row may come first): the line
    number, field → column index, the raw header cells, and unknown column names."""
    best: tuple[int, dict[str, int], list[str], list[str]] | None = None
    for count, (number, cells) in enumerate(lines):
        if count >= MAX_HEADER_SEARCH:
            break
        mapping: dict[str, int] = {}
        unknown: list[str] = []
        duplicates: list[str] = []
        for index, cell in enumerate(cells):
            key = normalise_header(cell)
            if not key:
                continue
            field_name = _LOOKUP.get(key)
            if field_name is None:
                unknown.append(cell.strip())
            elif field_name in mapping:
                duplicates.append(
                    f"{name}: line {number}: columns {column_letter(mapping[field_name])} "
                    f"and {column_letter(index)} both mean {field_name}"
                )
            else:
                mapping[field_name] = index
        if duplicates:
            raise RegisterFileError(duplicates)
        if all(f in mapping for f in REQUIRED):
            return number, mapping, cells, unknown
        if best is None or len(mapping) > len(best[1]):
            best = (number, mapping, cells, unknown)
    if best is None:
        raise RegisterFileError([f"{name}: the file is empty"])
    number, mapping, _cells, _unknown = best
    missing = [f for f in REQUIRED if f not in mapping]
    spelled = "; ".join(f"{f} ({'/'.join(ALIASES[f][1:3])})" for f in missing)
    raise RegisterFileError(
        [
            f"{name}: line {number}: missing column(s) {', '.join(missing)} — expected "
            f"headers: {spelled}"
        ]
    )


def _check(
    name: str,
    where: str,
    source: str,
    lines: Iterator[tuple[int, list[str]]],
    skip_duplicates: bool,
) -> Register:
    header_line, mapping, header_cells, unknown = _find_header(name, lines)
    notes = [f"ignored column(s): {', '.join(unknown)}"] if unknown else []
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    building_grid: dict[tuple[str, str], tuple[str, int]] = {}

    def at(number: int, field_name: str) -> str:
        index = mapping[field_name]
        label = header_cells[index].strip() if index < len(header_cells) else field_name
        return f"{name}: {where} {number}, column {column_letter(index)} ({label})"

    for number, cells in lines:
        values = [normalise_value(c) for c in cells]
        if not any(values):
            continue  # blank lines at the end of a sheet
        row = {f: (values[i] if i < len(values) else "") for f, i in mapping.items()}
        bad = False
        for f in REQUIRED:
            if not row[f]:
                problems.append(f"{at(number, f)}: empty")
                bad = True
        for f in mapping:
            if len(row[f]) > MAX_LENGTH:
                problems.append(f"{at(number, f)}: longer than {MAX_LENGTH} characters")
                bad = True
        managed = row.get("property_managed", "").lower()
        if managed and managed not in _TRUE | _FALSE:
            problems.append(
                f"{at(number, 'property_managed')}: {row['property_managed']!r} is not "
                "yes/no (是/否)"
            )
            bad = True
        if bad:
            continue
        key = (row["compound"], row["building"], row["unit"], row["room"])
        if key in seen:
            message = f"{name}: {where} {number} repeats {where} {seen[key]}: {' '.join(key)}"
            if skip_duplicates:
                notes.append(f"skipped: {message}")
            else:
                problems.append(message)
            continue
        seen[key] = number
        grid = row.get("grid", "")
        if grid:
            first = building_grid.setdefault((key[0], key[1]), (grid, number))
            if first[0] != grid:
                problems.append(
                    f"{at(number, 'grid')}: {key[0]} {key[1]} is in grid {first[0]} on "
                    f"{where} {first[1]}, here {grid}"
                )
                continue
        rows.append(row)
    if problems:
        raise RegisterFileError(problems)
    if not rows:
        raise RegisterFileError([f"{name}: no rows after the header ({where} {header_line})"])
    return Register(rows=rows, source=source, notes=notes)


def decode_text(data: bytes) -> str:
    """Text of a CSV as offices save it (UTF-8 with or without BOM, GBK/GB18030, UTF-16);
    RegisterFileError when it is none of them."""
    return _decode(data, "file")[1]


def canonical_header(cell: str) -> str:
    """The field a header cell names ("楼栋" → "building"), else the cell normalised."""
    key = normalise_header(cell)
    return _LOOKUP.get(key, key)


def is_true(value: str) -> bool:
    return value.strip().lower() in _TRUE
