"""The register as offices really have it: GBK from Excel on Chinese Windows, UTF-8 with a
BOM, UTF-16 "Unicode text", XLSX, Chinese headers under a title row; every problem names
the line (or row) and the column; duplicates are reported with both line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.services.register_file import RegisterFileError, column_letter, read_register

ZH_HEADER = "小区,楼栋,单元,房号,网格,物业管理,物业公司,包保单位"
ZH_ROWS = [
    "阳光花园,1栋,1单元,101,第一网格,是,阳光物业,",
    "阳光花园,1栋,1单元,102,第一网格,是,阳光物业,",
    "幸福里,A座,1单元,101,第三网格,否,,市第二机械厂",
]
EXPECTED = [
    {
        "compound": "阳光花园",
        "building": "1栋",
        "unit": "1单元",
        "room": "101",
        "grid": "第一网格",
        "property_managed": "是",
        "property_company": "阳光物业",
        "lead_unit": "",
    },
    {
        "compound": "阳光花园",
        "building": "1栋",
        "unit": "1单元",
        "room": "102",
        "grid": "第一网格",
        "property_managed": "是",
        "property_company": "阳光物业",
        "lead_unit": "",
    },
    {
        "compound": "幸福里",
        "building": "A座",
        "unit": "1单元",
        "room": "101",
        "grid": "第三网格",
        "property_managed": "否",
        "property_company": "",
        "lead_unit": "市第二机械厂",
    },
]


def write(tmp_path: Path, name: str, text: str, encoding: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "source"),
    [
        ("gbk", "CSV (GBK/GB18030)"),
        ("gb18030", "CSV (GBK/GB18030)"),
        ("utf-8-sig", "CSV (UTF-8 with BOM)"),
        ("utf-8", "CSV (UTF-8)"),
        ("utf-16", "CSV (UTF-16)"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, encoding: str, source: str) -> None:
    text = "\r\n".join([ZH_HEADER, *ZH_ROWS]) + "\r\n"
    register = read_register(write(tmp_path, "登记表.csv", text, encoding))
    assert register.source == source
    assert register.rows == EXPECTED
    assert register.notes == []
    assert register.summary() == {
        "compounds": 2,
        "grids": 2,
        "buildings": 2,
        "units": 2,
        "households": 3,
    }


def test_tab_separated_with_a_title_row_and_remarks_in_headers(tmp_path: Path) -> None:
    text = (
        "东湖社区住户登记表\t\t\t\n"
        "小区名称*\t楼号（必填）\t单元号\t门牌号\t备注\n"
        "阳光花园\t１栋\t1单元\t 101 \t老人独居\n"
        "\t\t\t\t\n"
    )
    register = read_register(write(tmp_path, "r.txt", text, "utf-16"))
    assert register.rows == [
        {"compound": "阳光花园", "building": "1栋", "unit": "1单元", "room": "101"}
    ]
    assert register.notes == ["ignored column(s): 备注"]


def test_english_headers_in_any_case(tmp_path: Path) -> None:
    text = "Compound,Building,Unit,Room,Property managed\nSunny,B1,U1,101,yes\n"
    register = read_register(write(tmp_path, "r.csv", text, "utf-8"))
    assert register.rows == [
        {
            "compound": "Sunny",
            "building": "B1",
            "unit": "U1",
            "room": "101",
            "property_managed": "yes",
        }
    ]


def problems(path: Path, **kwargs: bool) -> list[str]:
    with pytest.raises(RegisterFileError) as caught:
        read_register(path, **kwargs)
    return caught.value.problems


def test_duplicates_are_reported_with_line_numbers(tmp_path: Path) -> None:
    text = "\n".join([ZH_HEADER, *ZH_ROWS, ZH_ROWS[0], "阳光花园, 1栋 ,1单元,１０２,第一网格,是,,"])
    path = write(tmp_path, "dup.csv", text, "gbk")
    assert problems(path) == [
        "dup.csv: line 5 repeats line 2: 阳光花园 1栋 1单元 101",
        "dup.csv: line 6 repeats line 3: 阳光花园 1栋 1单元 102",
    ]
    register = read_register(path, skip_duplicates=True)
    assert len(register.rows) == 3
    assert register.notes == [
        "skipped: dup.csv: line 5 repeats line 2: 阳光花园 1栋 1单元 101",
        "skipped: dup.csv: line 6 repeats line 3: 阳光花园 1栋 1单元 102",
    ]


def test_errors_name_line_and_column(tmp_path: Path) -> None:
    text = "\n".join(
        [
            ZH_HEADER,
            "阳光花园,,1单元,101,第一网格,是,,",
            "阳光花园,1栋,1单元,1" + "0" * 40 + ",第一网格,是,,",
            "阳光花园,2栋,1单元,101,第一网格,也许,,",
            "阳光花园,3栋,1单元,101,第一网格,是,,",
            "阳光花园,3栋,1单元,102,第二网格,是,,",
        ]
    )
    assert problems(write(tmp_path, "bad.csv", text, "utf-8")) == [
        "bad.csv: line 2, column B (楼栋): empty",
        "bad.csv: line 3, column D (房号): longer than 40 characters",
        "bad.csv: line 4, column F (物业管理): '也许' is not yes/no (是/否)",
        "bad.csv: line 6, column E (网格): 阳光花园 3栋 is in grid 第一网格 on line 5, "
        "here 第二网格",
    ]


def test_missing_and_doubled_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "小区,楼栋,房号\n阳光花园,1栋,101\n", "gbk")
    assert problems(path) == [
        "m.csv: line 1: missing column(s) unit — expected headers: unit (单元/单元号)"
    ]
    path = write(tmp_path, "d.csv", "小区,楼栋,单元,房号,房间号\na,b,c,d,e\n", "utf-8")
    assert problems(path) == ["d.csv: line 1: columns D and E both mean room"]


def test_unreadable_files_get_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"compound,building,unit,room\n\xff\xfe\xfa\x80\x81,b,c,d\n")
    assert problems(path) == [
        "x.csv: line 2: the text is neither UTF-8 nor GBK/GB18030; save the file as CSV "
        "UTF-8 (Excel: Save As → CSV UTF-8) or as .xlsx"
    ]
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert problems(old) == [
        "old.xls: this is an old Excel .xls file; save it as .xlsx or CSV and try again"
    ]
    assert problems(tmp_path / "none.csv") == [
        f"{tmp_path / 'none.csv'}: cannot read the file (No such file or directory)"
    ]
    assert problems(write(tmp_path, "e.csv", "", "utf-8")) == ["e.csv: the file is empty"]
    only_header = write(tmp_path, "h.csv", "compound,building,unit,room\n", "utf-8")
    assert problems(only_header) == ["h.csv: no rows after the header (line 1)"]


def test_xlsx_with_numbers_title_row_and_row_numbers(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "登记表"
    sheet.append(["东湖社区住户登记表"])
    sheet.append(["小区", "楼栋", "单元", "房号", "网格"])
    sheet.append(["阳光花园", "1栋", 1, 101, "第一网格"])
    sheet.append(["阳光花园", "1栋", 1, 102.0, "第一网格"])
    sheet.append([None, None, None, None, None])
    path = tmp_path / "register.xlsx"
    workbook.save(path)
    register = read_register(path)
    assert register.source == "XLSX (first sheet '登记表')"
    assert register.rows == [
        {"compound": "阳光花园", "building": "1栋", "unit": "1", "room": "101", "grid": "第一网格"},
        {"compound": "阳光花园", "building": "1栋", "unit": "1", "room": "102", "grid": "第一网格"},
    ]
    sheet.append(["阳光花园", "1栋", 1, 101, "第一网格"])
    sheet.append(["阳光花园", None, 1, 103, "第一网格"])
    workbook.save(path)
    assert problems(path) == [
        "register.xlsx: row 6 repeats row 3: 阳光花园 1栋 1 101",
        "register.xlsx: row 7, column B (楼栋): empty",
    ]


def test_damaged_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    assert problems(path) == ["broken.xlsx: not a readable .xlsx workbook (BadZipFile)"]


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA",
    ]  # fmt: skip
