"""Parsing of what residents type: temperatures, phone numbers, dates, counts, names.

Pure functions without Telegram or database access. Each returns a normalised value or
raises :class:`ParseError` carrying a machine-readable ``code`` plus ``params``; the
user-facing wording lives in the message templates, keyed by these codes (all listed in
:data:`ERROR_CODES`).

Chinese numerals are converted by the small hand-written :func:`chinese_to_int` (0–9999,
with 零/〇/两/幺 and financial forms). ``cn2an`` was evaluated and not used: it pulls in a
second package (``proces``), ships screenshots and a duplicate ``build/`` tree in its
wheel, and its smart mode would still not read the colloquial "三十六度五" (36.5 °C).
Phone numbers use ``phonenumberslite`` (Google libphonenumber metadata, without the
geocoding/carrier tables of ``phonenumbers``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

import phonenumbers

__all__ = [
    "ERROR_CODES",
    "TEMPERATURE_MAX",
    "TEMPERATURE_MIN",
    "ParseError",
    "chinese_to_int",
    "clean_name",
    "clean_text",
    "is_month_day",
    "parse_date",
    "parse_id",
    "parse_int_in_range",
    "parse_past_date",
    "parse_phone",
    "parse_temperature",
]

ERROR_CODES: Final = frozenset(
    {
        "temperature.not_a_number",
        "temperature.out_of_range",
        "phone.invalid",
        "phone.invalid_other",
        "date.invalid",
        "date.future",
        "date.too_old",
        "date.range_reversed",
        "number.invalid",
        "number.out_of_range",
        "text.empty",
        "text.too_long",
        "name.invalid",
        "id.invalid",
    }
)

#: Ids (database rows, Telegram users) fit a signed 64-bit integer.
ID_MAX: Final = 2**63 - 1


class ParseError(ValueError):
    """Input could not be parsed; ``code`` names the problem, ``params`` fill the message."""

    def __init__(self, code: str, **params: object) -> None:
        """Create an error with a code from :data:`ERROR_CODES` and template parameters."""
        super().__init__(code)
        self.code: str = code
        self.params: dict[str, object] = params

    def __repr__(self) -> str:
        return f"ParseError({self.code!r}, {self.params!r})"


def _fold(text: str) -> str:
    """NFKC (full-width "３６．５" → "36.5", "℃" → "°C"), lower case, no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


# ---------------------------------------------------------------- Chinese numerals

_CN_DIGITS: Final = {
    "零": 0, "〇": 0, "○": 0,
    "一": 1, "壹": 1, "幺": 1,
    "二": 2, "贰": 2, "两": 2,
    "三": 3, "叁": 3,
    "四": 4, "肆": 4,
    "五": 5, "伍": 5,
    "六": 6, "陆": 6,
    "七": 7, "柒": 7,
    "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}  # fmt: skip
_CN_UNITS: Final = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_CHARS: Final = "".join(_CN_DIGITS) + "".join(_CN_UNITS)


def chinese_to_int(text: str) -> int | None:
    """Value of a Chinese numeral below 10000 ("十四" → 14, "一百零五" → 105), else None.

    A run of bare digits reads positionally, as people write years and codes: "二〇二二"
    → 2022, "三六" → 36. Arabic digits are not accepted here.
    """
    if not text:
        return None
    if all(ch in _CN_DIGITS for ch in text):
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total = 0
    digit: int | None = None
    last_unit = 10_000
    for ch in text:
        if ch in _CN_DIGITS:
            value = _CN_DIGITS[ch]
            if digit not in (None, 0) and value != 0:
                return None  # "三四十": two digits without a unit between them
            digit = value
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            if unit >= last_unit:
                return None  # "十百": units must decrease
            last_unit = unit
            # A bare leading unit means one of it: "十四" is 14.
            total += (1 if digit is None else digit) * unit
            digit = None
        else:
            return None
    return total + (digit or 0)


def _digits_of(text: str) -> str | None:
    """Digit string for a fractional part: "5" → "5", "五" → "5", "零五" → "05"."""
    if text.isascii() and text.isdigit():
        return text
    if text and all(ch in _CN_DIGITS for ch in text):
        return "".join(str(_CN_DIGITS[ch]) for ch in text)
    return None


def _integer_of(text: str) -> int | None:
    if text.isascii() and text.isdigit():
        return int(text)
    return chinese_to_int(text)


# ---------------------------------------------------------------- temperature

TEMPERATURE_MIN: Final = Decimal("34.0")
TEMPERATURE_MAX: Final = Decimal("43.0")
_TENTH: Final = Decimal("0.1")

_F_PREFIXES: Final = ("华氏", "華氏")
_C_PREFIXES: Final = ("摄氏", "攝氏")
_F_SUFFIXES: Final = ("华氏度", "華氏度", "华氏", "華氏", "°f", "度f", "f")
_C_SUFFIXES: Final = ("摄氏度", "攝氏度", "摄氏", "攝氏", "°c", "度c", "c")


# A word before the number ("体温36.5", "temp: 36.5") and sentence punctuation after it
# ("36.5。") say nothing about the value; "。" between digits is a Chinese keyboard's point.
_TEMPERATURE_LABEL: Final = re.compile(r"^(?:体温|temperature|temp)(?:是|为|:|is)?")
_TEMPERATURE_TRAILING: Final = "。.!！~"
_AMBIGUOUS_SUFFIXES: Final = ("degrees", "degree", "deg")


def _drop_symbols(text: str) -> str:
    """Emoji and other pictographs ("🌡️36.5", "36.5 👍") removed; the degree sign kept."""
    return "".join(
        ch for ch in text if ch == "°" or unicodedata.category(ch) not in ("So", "Mn", "Cf")
    )


def parse_temperature(text: str) -> Decimal:
    """Body temperature in °C, rounded to one decimal.

    Accepts "36.5", "36,5", "36.5度", "36.5℃", "36.5°C", "三十六点五", "三十六度五",
    "三十六度五分", "37度2", "三十七度", full-width digits, and Fahrenheit marked as
    "97.7°F", "97.7F", "97.7 华氏度" or "华氏97.7"; also "体温36.5", "36。5", "36°5",
    "36.5。" and emoji around the number. Raises ``temperature.not_a_number``
    or ``temperature.out_of_range`` (params: ``value`` in °C, ``min``, ``max``).
    """
    s = _TEMPERATURE_LABEL.sub("", _drop_symbols(_fold(text)))
    s = s.rstrip(_TEMPERATURE_TRAILING).replace("。", ".")
    for suffix in _AMBIGUOUS_SUFFIXES:
        if s.endswith(suffix):
            s = s[: -len(suffix)]
            break
    fahrenheit = celsius = False
    for prefix in _F_PREFIXES:
        if s.startswith(prefix):
            s, fahrenheit = s[len(prefix) :], True
    for prefix in _C_PREFIXES:
        if s.startswith(prefix):
            s, celsius = s[len(prefix) :], True
    for suffix in _F_SUFFIXES:
        if s.endswith(suffix):
            s, fahrenheit = s[: -len(suffix)], True
            break
    else:
        for suffix in _C_SUFFIXES:
            if s.endswith(suffix):
                s, celsius = s[: -len(suffix)], True
                break
    if fahrenheit and celsius:
        raise ParseError("temperature.not_a_number")

    # Spoken forms: "三十六度五(分)" and "37度2" mean 36.5 and 37.2, so 度 inside the text is
    # a decimal point; a trailing 度 or ° is just the unit.
    if "度" in s and s.endswith("分"):
        s = s[:-1]
    s = s.rstrip("度°")
    s = s.replace("度", ".").replace("°", ".").replace("点", ".").replace(",", ".")

    whole, _, frac = s.partition(".")
    integer = _integer_of(whole)
    frac_digits = _digits_of(frac) if frac else ""
    if integer is None or frac_digits is None or "." in frac:
        raise ParseError("temperature.not_a_number")
    try:
        value = Decimal(f"{integer}.{frac_digits or '0'}")
    except InvalidOperation as exc:  # pragma: no cover - digits were validated above
        raise ParseError("temperature.not_a_number") from exc

    # No human temperature is 90-110 °C, while 90-110 °F spans normal to high fever: a
    # bare number there (also with the ambiguous "度") comes from a Fahrenheit thermometer.
    if fahrenheit or (not celsius and Decimal(90) <= value <= Decimal(110)):
        value = (value - 32) * 5 / 9
    value = value.quantize(_TENTH, rounding=ROUND_HALF_UP)
    if not TEMPERATURE_MIN <= value <= TEMPERATURE_MAX:
        raise ParseError(
            "temperature.out_of_range", value=value, min=TEMPERATURE_MIN, max=TEMPERATURE_MAX
        )
    return value


# Between two temperatures in one message ("36.5 37.2", "36.5、37.2"); not "," (36,5).
_BETWEEN_TEMPERATURES: Final = re.compile(r"[\s、，；;/]+")


def several_temperatures(text: str) -> list[str]:
    """The temperatures (°C, as text) of a message holding two or more ("36.5 37.2",
    "36.5、37.2"), else []. A spoken form split by a space ("37度 2") is one temperature."""
    parts = [p for p in _BETWEEN_TEMPERATURES.split(text.strip()) if p]
    found: list[str] = []
    for part in parts if len(parts) > 1 else ():
        try:
            found.append(str(parse_temperature(part)))
        except ParseError:
            continue
    return found if len(found) > 1 else []


# ---------------------------------------------------------------- phone

_PHONE_JUNK: Final = re.compile(r"[\s\-().·/]")
# A word before the number ("手机13800138000", "电话：010-12345678", "Tel: +44…") and a
# full stop after it say nothing about the number.
_PHONE_LABEL: Final = re.compile(
    r"^(?:我的)?(?:联系电话|手机号码|手机号|手机|电话号码|电话|mobile|phone|tel)(?:是|为|:|：)?",
    re.IGNORECASE,
)
_CN_MOBILE: Final = re.compile(r"1[3-9]\d{9}")


def parse_phone(text: str, default_region: str = "CN") -> str:
    """Phone number in E.164 form ("+8613800138000"), raising ``phone.invalid``.

    * Chinese mobiles: 11 digits ``1[3-9]…`` with optional +86 / 86 / 0086, spaces, dashes.
    * Chinese fixed lines with trunk 0 ("010-12345678", "0755-1234567") → "+861012345678".
      E.164 is used for every number so that stored values compare equal whatever the
      input style; format with ``phonenumbers.format_number`` for display.
    * Other countries: "+447700900123", "00447700900123", or the plus-less digits Telegram
      contact sharing gives ("447700900123"). With the default region CN, plus-less
      11-digit input starting with 1 is always read as a Chinese mobile.

    Non-Chinese numbers are checked for a known country code and a possible length only:
    full validation would reject new ranges before the metadata catches up, and numbers
    reserved for fiction that testers use.
    """
    s = _PHONE_JUNK.sub("", unicodedata.normalize("NFKC", text).strip())
    s = _PHONE_LABEL.sub("", s).rstrip("。")
    if s.startswith("00"):
        s = "+" + s[2:]
    has_plus = s.startswith("+")
    digits = s[1:] if has_plus else s
    if not (digits.isascii() and digits.isdigit()) or not 5 <= len(digits) <= 17:
        raise ParseError("phone.invalid")

    # The common case is a Chinese mobile; match it by rule, as the spec defines it.
    mobile = re.fullmatch(r"(?:86)?(" + _CN_MOBILE.pattern + ")", digits)
    if mobile and (not has_plus or digits.startswith("86")):
        return "+86" + mobile.group(1)

    if not has_plus and default_region == "CN" and len(digits) == 11 and digits[0] == "1":
        # Eleven digits starting with 1 are a mistyped Chinese mobile here, not a US
        # number without its "+" (which is also why "16502530000" reads as Chinese).
        raise ParseError("phone.invalid")
    if has_plus or not digits.startswith("0"):
        candidate, region = "+" + digits, None  # international, maybe without its "+"
    else:
        candidate, region = digits, default_region  # national number with trunk prefix 0
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise ParseError("phone.invalid") from exc

    national = str(number.national_number)
    country = number.country_code or 0
    if phonenumbers.region_code_for_country_code(country) == "ZZ":
        raise ParseError("phone.invalid")
    if country == 86 and national.startswith("1") and not national.startswith("10"):
        # In China a leading 1 means a mobile (which would have matched above); only
        # Beijing's fixed lines (area code 10) also start with 1.
        raise ParseError("phone.invalid")
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise ParseError("phone.invalid")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not 8 <= len(e164) <= 16:  # "+" and 7-15 digits
        raise ParseError("phone.invalid")
    return e164


# ---------------------------------------------------------------- dates

_RELATIVE_DAYS: Final = {
    "今天": 0, "今日": 0, "today": 0,
    "昨天": 1, "昨日": 1, "yesterday": 1,
    "前天": 2, "大前天": 3,
}  # fmt: skip
#: Days ahead, for a planned date only (a round, a shift, a notice, a planned end).
_AHEAD_DAYS: Final = {"明天": 1, "明日": 1, "tomorrow": 1, "后天": 2, "大后天": 3}
_FULL_DATE: Final = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?")
_COMPACT_DATE: Final = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SHORT_DATE: Final = re.compile(r"(\d{1,2})[-/.月](\d{1,2})[日号]?")
_CN_NUMBER_RUN: Final = re.compile(f"[{_CN_CHARS}]+")
_FUTURE_SLACK: Final = timedelta(days=30)


def parse_date(text: str, today: date, *, ahead: bool = False) -> date:
    """Calendar date from "2022-03-05", "2022/3/5", "2022.3.5", "20220305", "3-5", "3/5",
    "3月5日", "3月5号", "2022年3月5日", "三月五号", "今天", "昨天", "前天", "today", "yesterday";
    with ``ahead``, also "明天", "后天", "tomorrow".

    Short dates are month first, as written in China. Without a year the date is taken in
    ``today``'s year, except across the turn of the year: a date that is usually past (an
    arrival, a report) is the previous year's if this year's would be more than 30 days
    ahead (on 3 January, "12月30日" is last December); with ``ahead`` (a planned date: a
    testing round, a shift, a planned end, a scheduled notice) it is the next year's if
    this year's is more than 30 days past (on 30 December, "1月5日" is next January).
    Raises ``date.invalid``.
    """
    s = _fold(text)
    if s in _RELATIVE_DAYS:
        return today - timedelta(days=_RELATIVE_DAYS[s])
    if ahead and s in _AHEAD_DAYS:
        return today + timedelta(days=_AHEAD_DAYS[s])

    def to_digits(match: re.Match[str]) -> str:
        value = chinese_to_int(match.group(0))
        return str(value) if value is not None else match.group(0)

    s = _CN_NUMBER_RUN.sub(to_digits, s)
    try:
        if m := _FULL_DATE.fullmatch(s) or _COMPACT_DATE.fullmatch(s):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := _SHORT_DATE.fullmatch(s):
            month, day = int(m.group(1)), int(m.group(2))
            guess = date(today.year, month, day)
            if not ahead and guess - today > _FUTURE_SLACK:
                guess = date(today.year - 1, month, day)
            elif ahead and today - guess > _FUTURE_SLACK:
                guess = date(today.year + 1, month, day)
            return guess
    except ValueError as exc:  # 2月30日, month 13 ...
        raise ParseError("date.invalid") from exc
    raise ParseError("date.invalid")


def is_month_day(text: str) -> bool:
    """True for a date written without its year ("3/5", "3月5日", "三月五号"), which
    :func:`parse_date` places in a year of its own choosing."""
    s = _CN_NUMBER_RUN.sub(lambda m: str(chinese_to_int(m.group(0)) or m.group(0)), _fold(text))
    return _SHORT_DATE.fullmatch(s) is not None


def parse_past_date(text: str, today: date, max_days_back: int = 60) -> date:
    """Like :func:`parse_date` but the date must be between ``today - max_days_back`` and
    ``today``: raises ``date.future`` (params ``date``, ``today``) or ``date.too_old``
    (params ``date``, ``earliest``, ``max_days_back``); dates as ISO strings.
    """
    value = parse_date(text, today)
    if value > today:
        raise ParseError("date.future", date=value.isoformat(), today=today.isoformat())
    earliest = today - timedelta(days=max_days_back)
    if value < earliest:
        raise ParseError(
            "date.too_old",
            date=value.isoformat(),
            earliest=earliest.isoformat(),
            max_days_back=max_days_back,
        )
    return value


# ---------------------------------------------------------------- integers

# Counters people add after a number: "3人", "14天", "2次".
_MEASURE_WORDS: Final = "个人天次位名口岁户日号"


def parse_int_in_range(text: str, lo: int, hi: int) -> int:
    """Whole number between ``lo`` and ``hi`` inclusive: "3", "+3", "-2", "三", "十四",
    "两", "3人", "十四天". Raises ``number.invalid`` or ``number.out_of_range`` (params
    ``value``, ``lo``, ``hi``).
    """
    # Inner spaces are not folded away here: "3 4" is not 34.
    s = unicodedata.normalize("NFKC", text).strip()
    if len(s) > 1 and s[-1] in _MEASURE_WORDS:
        s = s[:-1]
    value = int(s) if re.fullmatch(r"[+-]?\d{1,18}", s) else chinese_to_int(s)
    if value is None:
        raise ParseError("number.invalid")
    if not lo <= value <= hi:
        raise ParseError("number.out_of_range", value=value, lo=lo, hi=hi)
    return value


# ---------------------------------------------------------------- free text

# Invisible characters that only serve to spoof or break layout (zero-width space, bidi
# overrides, BOM, soft hyphen). The zero-width joiner stays: emoji sequences need it.
_INVISIBLE: Final = frozenset(
    "\u00ad\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)


def _drop_controls(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch.isspace() or (ch not in _INVISIBLE and unicodedata.category(ch) != "Cc")
    )


def clean_text(text: str, max_len: int, *, multiline: bool = False) -> str:
    """Tidy free text: NFC, control/invisible characters removed, whitespace runs collapsed.

    Single line by default (names, addresses): every whitespace run, newlines included,
    becomes one space. With ``multiline=True`` line breaks survive, blank-line runs shrink
    to one blank line. Raises ``text.empty`` or ``text.too_long`` (params ``max_len``,
    ``length``); the limit applies to the cleaned text.
    """
    s = _drop_controls(unicodedata.normalize("NFC", text))
    if multiline:
        lines = [" ".join(line.split()) for line in s.replace("\r\n", "\n").split("\n")]
        s = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    else:
        s = " ".join(s.split())
    if not s:
        raise ParseError("text.empty")
    if len(s) > max_len:
        raise ParseError("text.too_long", max_len=max_len, length=len(s))
    return s


NAME_MAX_LEN: Final = 40


def clean_name(text: str) -> str:
    """A person's name: :func:`clean_text` with at most 40 characters, and it must contain
    a letter (any script, CJK included), so "12345", "???" or a command ("/me") raise
    ``name.invalid``.
    """
    s = clean_text(text, NAME_MAX_LEN)
    # "/me" typed at the name step is a command, not the name of a person.
    if not any(ch.isalpha() for ch in s) or s.startswith("/"):
        raise ParseError("name.invalid")
    return s


def id_or_none(text: str) -> int | None:
    """A row or Telegram user id as typed ("12", "１２") when it is one (1 ≤ id ≤ 2^63−1),
    else None."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if not re.fullmatch(r"\d{1,19}", folded) or not 1 <= int(folded) <= ID_MAX:
        return None
    return int(folded)


def parse_id(text: str) -> int:
    """A row or Telegram user id as typed ("12", "１２"): 1 ≤ id ≤ 2^63−1, so that a
    30-digit number is a polite error here, not an overflow in the database driver."""
    value = id_or_none(text)
    if value is None:
        raise ParseError("id.invalid", value=text.strip()[:40])
    return value
