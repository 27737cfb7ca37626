"""natural_key: places sort as people count them, never lexicographically ("10栋"
before "2栋"), and any two names compare (no mixed int/str comparison, no crash)."""

from __future__ import annotations

import itertools

from bot.services.directory import natural_key


def test_digits_sort_by_value() -> None:
    assert sorted(["10栋", "2栋", "1栋", "11栋", "3栋"], key=natural_key) == [
        "1栋", "2栋", "3栋", "10栋", "11栋",
    ]  # fmt: skip
    assert sorted(["1-1001", "1-201", "1-21"], key=natural_key) == ["1-21", "1-201", "1-1001"]
    assert sorted(["１２栋", "3栋"], key=natural_key) == ["3栋", "１２栋"]  # full-width digits


def test_chinese_numerals_sort_by_value() -> None:
    units = ["十一单元", "二单元", "十单元", "一单元", "三单元", "九单元", "二十单元"]
    assert sorted(units, key=natural_key) == [
        "一单元", "二单元", "三单元", "九单元", "十单元", "十一单元", "二十单元",
    ]  # fmt: skip
    grids = ["第十网格", "第二网格", "第三网格", "第一网格"]
    assert sorted(grids, key=natural_key) == ["第一网格", "第二网格", "第三网格", "第十网格"]
    assert natural_key("一百零五")[0] == ("", 105, "")
    assert natural_key("一〇一室")[0] == ("", 101, "室")
    assert natural_key("两栋")[0] == ("", 2, "栋")


def test_ties_are_broken_by_the_text() -> None:
    assert sorted(["1栋", "01栋", "一栋"], key=natural_key) == ["01栋", "1栋", "一栋"]


def test_any_two_names_compare() -> None:
    names = ["①", "②栋", "10²", "A座", "", "1", "a1b2", "第一网格", "1a", "栋", "三里屯", "B-12"]
    for a, b in itertools.permutations(names, 2):
        assert (natural_key(a) < natural_key(b)) or (natural_key(a) >= natural_key(b))
    assert sorted(["②栋", "①"], key=natural_key) == ["①", "②栋"]
