"""Colloquial names of 新区 districts resolve to the district (R-RISK): "浦东",
"上海浦东", "shanghai pudong", "天津滨海", "滨海新区", and every 新区 in the data."""

from __future__ import annotations

import pytest

from bot.places import Gazetteer


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("浦东", "310115"),
        ("上海浦东", "310115"),
        ("上海市浦东新区", "310115"),
        ("shanghai pudong", "310115"),
        ("pudong", "310115"),
        ("浦东新区", "310115"),
        ("滨海新区", "120116"),
        ("天津滨海", "120116"),
        ("tianjin binhai", "120116"),
        ("沈北", "210113"),
        ("沈阳沈北", "210113"),
        ("shenyang shenbei", "210113"),
        ("清远清新", "441803"),
    ],
)
def test_colloquial_new_district_names(text: str, code: str) -> None:
    assert [p.code for p in Gazetteer.load().resolve(text)] == [code]


def test_every_new_district_resolves_by_its_short_and_full_name() -> None:
    gaz = Gazetteer.load()
    districts = [
        p
        for province in gaz.provinces()
        for city in gaz.children(province.code)
        for p in gaz.children(city.code)
        if p.name.endswith("新区")
    ]
    assert len(districts) >= 4
    for place in districts:
        city = gaz.get(place.parent_code or "")
        assert city is not None
        short = place.name[:-2] if len(place.name) >= 4 else place.short_name
        assert place.code in [p.code for p in gaz.resolve(city.short_name + short)], place.name
        assert [p.code for p in gaz.resolve(place.name)] == [place.code], place.name


def test_bare_binhai_is_still_ambiguous() -> None:
    # 滨海新区 (Tianjin) and 滨海县 (Jiangsu): the bot asks which.
    assert sorted(p.code for p in Gazetteer.load().resolve("滨海")) == ["120116", "320922"]
