"""Table-driven tests for bot.parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot.parsing import (
    ERROR_CODES,
    ParseError,
    chinese_to_int,
    clean_name,
    clean_text,
    parse_date,
    parse_int_in_range,
    parse_past_date,
    parse_phone,
    parse_temperature,
)


def raises_code(code: str) -> pytest.RaisesExc[ParseError]:
    assert code in ERROR_CODES
    return pytest.raises(ParseError, check=lambda e: e.code == code)


def test_parse_error_carries_code_and_params() -> None:
    err = ParseError("number.out_of_range", value=5, lo=1, hi=3)
    assert isinstance(err, ValueError)
    assert err.code == "number.out_of_range"
    assert err.params == {"value": 5, "lo": 1, "hi": 3}
    assert "number.out_of_range" in repr(err)


# ------------------------------------------------------------------ Chinese numerals


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("零", 0),
        ("三", 3),
        ("两", 2),
        ("十", 10),
        ("十四", 14),
        ("一十四", 14),
        ("二十", 20),
        ("三十六", 36),
        ("九十九", 99),
        ("一百", 100),
        ("一百零五", 105),
        ("一百一十", 110),
        ("一百九十九", 199),
        ("两千零二十二", 2022),
        ("二〇二二", 2022),
        ("三六", 36),
        ("叁拾陆", 36),
    ],
)
def test_chinese_to_int(text: str, value: int) -> None:
    assert chinese_to_int(text) == value


@pytest.mark.parametrize("text", ["", "三四十", "十百", "abc", "3", "三x"])
def test_chinese_to_int_rejects(text: str) -> None:
    assert chinese_to_int(text) is None


# ------------------------------------------------------------------ temperature


@pytest.mark.parametrize(
    ("text", "celsius"),
    [
        ("36.5", "36.5"),
        ("36,5", "36.5"),
        ("36.5度", "36.5"),
        ("36.5℃", "36.5"),
        ("36.5°C", "36.5"),
        ("36.5 °c", "36.5"),
        ("36.5C", "36.5"),
        (" 36.5 ", "36.5"),
        ("36.5摄氏度", "36.5"),
        ("摄氏36.5度", "36.5"),
        ("三十六度五", "36.5"),
        ("三十六点五", "36.5"),
        ("三十六度五分", "36.5"),
        ("三十七度", "37.0"),
        ("37度2", "37.2"),
        ("36度5", "36.5"),
        ("３６．５", "36.5"),
        ("３６．５℃", "36.5"),
        ("36", "36.0"),
        ("36.54", "36.5"),
        ("36.55", "36.6"),  # half up
        ("37.", "37.0"),
        ("三十六点", "36.0"),
        ("97.7°F", "36.5"),
        ("97.7F", "36.5"),
        ("97.7 华氏度", "36.5"),
        ("华氏97.7度", "36.5"),
        ("97.7℉", "36.5"),
        ("98.6", "37.0"),  # bare 90-110: Fahrenheit
        ("100度", "37.8"),
        ("104", "40.0"),
        ("43", "43.0"),
        ("34", "34.0"),
    ],
)
def test_parse_temperature(text: str, celsius: str) -> None:
    value = parse_temperature(text)
    assert value == Decimal(celsius)
    assert value.as_tuple().exponent == -1


@pytest.mark.parametrize(
    ("text", "value"),
    [("33.9", "33.9"), ("43.1", "43.1"), ("50", "50.0"), ("0", "0.0"), ("95°C", "95.0")],
)
def test_parse_temperature_out_of_range(text: str, value: str) -> None:
    with raises_code("temperature.out_of_range") as info:
        parse_temperature(text)
    assert info.value.params == {
        "value": Decimal(value),
        "min": Decimal("34.0"),
        "max": Decimal("43.0"),
    }


def test_parse_temperature_fahrenheit_out_of_range() -> None:
    with raises_code("temperature.out_of_range") as info:
        parse_temperature("120F")
    assert info.value.params["value"] == Decimal("48.9")


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "hot", "度", "36.5.5", "-36", "36.5°C°F", "华氏36摄氏", "36度五六七x"],
)
def test_parse_temperature_not_a_number(text: str) -> None:
    with raises_code("temperature.not_a_number"):
        parse_temperature(text)


# ------------------------------------------------------------------ phone


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("+86-13800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("(+86) 199 1234 5678", "+8619912345678"),
        ("１３８００１３８０００", "+8613800138000"),
        ("+447700900123", "+447700900123"),
        ("447700900123", "+447700900123"),
        ("00447700900123", "+447700900123"),
        ("+1 650 253 0000", "+16502530000"),
        ("010-12345678", "+861012345678"),
        ("0755-1234567", "+867551234567"),
        ("0755-12345678", "+8675512345678"),
        ("(0755) 1234 5678", "+8675512345678"),
        ("+86 10 12345678", "+861012345678"),
        ("手机13800138000", "+8613800138000"),
        ("手机号：138 0013 8000。", "+8613800138000"),
        ("电话 010-12345678", "+861012345678"),
        ("Phone: +44 7700 900123", "+447700900123"),
    ],
)
def test_parse_phone(text: str, e164: str) -> None:
    assert parse_phone(text) == e164


def test_parse_phone_other_default_region() -> None:
    assert parse_phone("07700 900123", default_region="GB") == "+447700900123"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "12345",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "12345678901",  # 1 but not 1[3-9]
        "+8612345678901",
        "+86 138 0013 800",
        "+999 1234 5678",  # no such country code
        "+44 1",
        "1380013800a",
        "+" + "1" * 20,
        "手机",
        "手机138001380",
    ],
)
def test_parse_phone_invalid(text: str) -> None:
    with raises_code("phone.invalid"):
        parse_phone(text)


# ------------------------------------------------------------------ dates

TODAY = date(2022, 3, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-03-05", date(2022, 3, 5)),
        ("2022/3/5", date(2022, 3, 5)),
        ("2022.3.5", date(2022, 3, 5)),
        ("20220305", date(2022, 3, 5)),
        ("2022年3月5日", date(2022, 3, 5)),
        ("2022 年 3 月 5 日", date(2022, 3, 5)),
        ("２０２２－０３－０５", date(2022, 3, 5)),
        ("3-5", date(2022, 3, 5)),
        ("3/5", date(2022, 3, 5)),
        ("3.5", date(2022, 3, 5)),
        ("3月5日", date(2022, 3, 5)),
        ("3月5号", date(2022, 3, 5)),
        ("三月五号", date(2022, 3, 5)),
        ("二〇二二年三月五日", date(2022, 3, 5)),
        ("十二月三十一日", date(2021, 12, 31)),  # would be 9 months ahead: last year
        ("4/9", date(2022, 4, 9)),  # 30 days ahead: still this year
        ("4/10", date(2021, 4, 10)),  # 31 days ahead: last year
        ("今天", TODAY),
        ("today", TODAY),
        ("Today", TODAY),
        ("昨天", date(2022, 3, 9)),
        ("yesterday", date(2022, 3, 9)),
        ("前天", date(2022, 3, 8)),
        ("大前天", date(2022, 3, 7)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


def test_parse_date_year_rollover() -> None:
    assert parse_date("12/30", date(2023, 1, 3)) == date(2022, 12, 30)
    assert parse_date("1/2", date(2023, 1, 3)) == date(2023, 1, 2)


@pytest.mark.parametrize("text", ["3/5", "3月5日", "三月五号", "3-5"])
def test_a_date_without_a_year_is_this_year(text: str) -> None:
    today = date(2026, 11, 30)
    assert parse_date(text, today) == date(2026, 3, 5)
    assert parse_date("12/25", today) == date(2026, 12, 25)
    assert parse_date("12月31日", today, ahead=True) == date(2026, 12, 31)
    assert parse_date("11/20", today, ahead=True) == date(2026, 11, 20)  # past: refused later


def test_a_planned_date_without_a_year_rolls_into_next_year() -> None:
    # A round, a shift or a planned end typed in late December for early January.
    assert parse_date("1/5", date(2026, 12, 30), ahead=True) == date(2027, 1, 5)
    assert parse_date("1月5日", date(2026, 12, 30)) == date(2026, 1, 5)  # a past date
    # Within 30 days either way it stays in this year.
    assert parse_date("12/1", date(2026, 12, 30), ahead=True) == date(2026, 12, 1)
    # A full date is taken as written.
    assert parse_date("2026-01-05", date(2026, 12, 30), ahead=True) == date(2026, 1, 5)


def test_tomorrow_is_a_planned_date_only() -> None:
    today = date(2026, 12, 31)
    for text, days in (("明天", 1), ("明日", 1), ("Tomorrow", 1), ("后天", 2), ("大后天", 3)):
        assert parse_date(text, today, ahead=True) == today + timedelta(days=days), text
        with pytest.raises(ParseError):  # an arrival or a report is never tomorrow
            parse_date(text, today)


@pytest.mark.parametrize(
    "text", ["", "abc", "2022-13-01", "2月30日", "2022-02-30", "13/1", "3", "2022", "明天x", "3月"]
)
def test_parse_date_invalid(text: str) -> None:
    with raises_code("date.invalid"):
        parse_date(text, TODAY)


def test_parse_past_date() -> None:
    assert parse_past_date("3/10", TODAY) == TODAY
    assert parse_past_date("2022-01-09", TODAY) == date(2022, 1, 9)  # exactly 60 days
    with raises_code("date.future") as future:
        parse_past_date("2022-03-11", TODAY)
    assert future.value.params == {"date": "2022-03-11", "today": "2022-03-10"}
    with raises_code("date.too_old") as old:
        parse_past_date("2022-01-08", TODAY)
    assert old.value.params == {
        "date": "2022-01-08",
        "earliest": "2022-01-09",
        "max_days_back": 60,
    }
    with raises_code("date.too_old"):
        parse_past_date("3/1", TODAY, max_days_back=7)
    with raises_code("date.invalid"):
        parse_past_date("nope", TODAY)


# ------------------------------------------------------------------ integers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("+3", 3),
        ("03", 3),
        ("３", 3),
        ("三", 3),
        ("两", 2),
        ("十四", 14),
        ("3人", 3),
        ("十四天", 14),
        ("0", 0),
        ("20", 20),
    ],
)
def test_parse_int_in_range(text: str, value: int) -> None:
    assert parse_int_in_range(text, 0, 20) == value


def test_parse_int_negative_range() -> None:
    assert parse_int_in_range("-2", -5, 5) == -2


@pytest.mark.parametrize("text", ["", "abc", "3.5", "三点五", "人", "1e3", "3 4"])
def test_parse_int_invalid(text: str) -> None:
    with raises_code("number.invalid"):
        parse_int_in_range(text, 0, 20)


@pytest.mark.parametrize(("text", "value"), [("21", 21), ("二十一", 21), ("-1", -1)])
def test_parse_int_out_of_range(text: str, value: int) -> None:
    with raises_code("number.out_of_range") as info:
        parse_int_in_range(text, 0, 20)
    assert info.value.params == {"value": value, "lo": 0, "hi": 20}


# ------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  hello  ", "hello"),
        ("a   b\t\tc", "a b c"),
        ("line1\nline2", "line1 line2"),
        ("幸福\u3000小区", "幸福 小区"),
        ("a\x00b\x07c", "abc"),
        ("zero\u200bwidth", "zerowidth"),
        ("\u202eevil", "evil"),
        ("\ufeffbom", "bom"),
        ("家\u200d人", "家\u200d人"),  # joiner kept for emoji sequences
        ("e\u0301", "\u00e9"),  # NFC
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text, 100) == expected


def test_clean_text_multiline() -> None:
    text = "  first  line \r\n\n\n\n second\tline  \n\n"
    assert clean_text(text, 100, multiline=True) == "first line\n\nsecond line"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\u200b"])
def test_clean_text_empty(text: str) -> None:
    with raises_code("text.empty"):
        clean_text(text, 10)


def test_clean_text_too_long() -> None:
    assert clean_text("  " + "a" * 10 + "  ", 10) == "a" * 10
    with raises_code("text.too_long") as info:
        clean_text("a" * 11, 10)
    assert info.value.params == {"max_len": 10, "length": 11}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张三", "张三"),
        ("  李  四 ", "李 四"),
        ("Zhang San", "Zhang San"),
        ("阿卜杜·艾力", "阿卜杜·艾力"),
        ("O'Brien", "O'Brien"),
        ("王五2", "王五2"),
        ("x" * 40, "x" * 40),
    ],
)
def test_clean_name(text: str, expected: str) -> None:
    assert clean_name(text) == expected


@pytest.mark.parametrize("text", ["12345", "???", "-- --", "😀", "/me", "/profile@bot"])
def test_clean_name_invalid(text: str) -> None:
    with raises_code("name.invalid"):
        clean_name(text)


def test_clean_name_length_and_empty() -> None:
    with raises_code("text.too_long"):
        clean_name("x" * 41)
    with raises_code("text.empty"):
        clean_name("   ")


def test_a_notice_scheduled_across_the_new_year() -> None:
    from bot.services.notices import parse_when

    shanghai = timezone(timedelta(hours=8))
    now = datetime(2026, 12, 30, 10, 0, tzinfo=shanghai)
    at = parse_when("1/5 08:00", now)
    assert at == datetime(2027, 1, 5, 0, 0, tzinfo=UTC)
    assert parse_when("12/31 08:00", now) == datetime(2026, 12, 31, 0, 0, tzinfo=UTC)
