"""Sample data for every template, in one place.

Each template is rendered three times with *generic* values that stand for any
variable (`Sample`): "none" (lists empty, conditions false, numbers 0), "one" (one item,
conditions true) and "three" (three items, strings carrying HTML `<b>&` that must come
out escaped). A generic value prints its own path (`case.subject.name`), so a golden file
shows the layout. Templates that matter most also get explicit, realistic samples in
`SAMPLES` (rendered with the strict catalog: a missing variable fails).
"""

from __future__ import annotations

from typing import Any

from jinja2 import ChainableUndefined
from markupsafe import escape

from messages import Catalog

VARIANTS: tuple[str, ...] = ("none", "one", "three")


class Sample(ChainableUndefined):
    """Stands for any template variable: a string naming itself, a number, a list."""

    count = 3
    truthy = True
    suffix = " <b>&"

    def _child(self, name: str) -> Sample:
        return type(self)(name=name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._child(f"{self._undefined_name}.{name}")

    def __getitem__(self, key: Any) -> Sample:
        return self._child(f"{self._undefined_name}[{key!r}]")

    def __str__(self) -> str:
        return f"{self._undefined_name}{self.suffix}"

    def __call__(self, *args: Any, **kwargs: Any) -> Sample:
        # Methods on values (dict.get, date.strftime) return samples too.
        shown = ", ".join(repr(a) for a in args)
        return self._child(f"{self._undefined_name}({shown})")

    def __html__(self) -> str:
        # Like a real value, the sample goes through autoescaping.
        return str(escape(str(self)))

    def __iter__(self) -> Any:
        return iter([self._child(f"{self._undefined_name}[{i}]") for i in range(self.count)])

    def __len__(self) -> int:
        return self.count

    def __int__(self) -> int:
        return 7 if self.truthy else 0

    def __bool__(self) -> bool:
        return self.truthy

    def _number(self, *_: Any) -> int:
        return 7 if self.truthy else 0

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _number
    __truediv__ = __floordiv__ = __mod__ = _number

    def __lt__(self, other: Any) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    __hash__ = ChainableUndefined.__hash__


class NoneSample(Sample):
    count = 0
    truthy = False
    suffix = ""


class OneSample(Sample):
    count = 1
    suffix = ""


_CLASSES: dict[str, type[Sample]] = {"none": NoneSample, "one": OneSample, "three": Sample}


def sample_catalog(variant: str = "three") -> Catalog:
    return Catalog(undefined=_CLASSES[variant])


LONG_NAME = "欧阳·阿卜杜热合曼·买买提明<b>&amp;</b>"
HTML_NAME = "张三 <b>&"


def _case(**overrides: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "id": 12,
        "urgent": True,
        "kind_label": "症状报告",
        "status_label": "待处理",
        "created": "03-10 09:00",
        "address": {"compound": "阳光花园", "building": "3栋", "unit": "2单元", "room": "301"},
        "place": "阳光花园 3栋",
        "subject": {"name": HTML_NAME, "phone": "+8613800010001"},
        "grid_workers": [{"name": "李网格"}, {"name": LONG_NAME}],
        "assignee": "王干部",
        "details": {"summary": "发热 38.5℃，咳嗽"},
        "note": "",
    }
    case.update(overrides)
    return case


def _counts(n: int) -> dict[str, int]:
    keys = ("reports", "checkins", "gate_entries", "cases", "statuses", "supplies")
    return dict.fromkeys(keys, n)


# Explicit samples: key -> list of parameter sets (strict: every variable given).
SAMPLES: dict[str, list[dict[str, Any]]] = {
    # English counts agree with their noun: 0 reports, 1 report, 3 reports
    "ledger.caption": [
        {"first": "03-01", "last": "03-09", "scope": "阳光花园", "counts": _counts(n)}
        for n in (0, 1, 3)
    ],
    "monitoring.rematched": [
        {"r": {"reports": n, "passages": n, "isolations": n}, "cases": n} for n in (0, 1, 3)
    ],
    "rounds.announced": [
        {"id": 3, "expected": n, "groups": n, "households": n} for n in (0, 1, 3)
    ],
    "imports.confirm": [
        {"n": {"matched": n, "ambiguous": n, "not_found": 0}} for n in (0, 1, 3)
    ],
    "cases.card": [
        {"case": _case(), "realert": 0},
        {
            "case": _case(urgent=False, address=None, subject=None, grid_workers=[],
                          assignee="", details={"summary": ""}, note="已送医", place=""),
            "realert": 2, "realert_max": 3, "minutes": 30,
        },
        {"case": _case(), "realert": 3, "realert_max": 3, "minutes": 30},
    ],
    # the officers' chat (a group) gets the anonymised card; "details" the whole one
    "cases.card_full": [
        {"case": _case(), "realert": 0},
        {
            "case": _case(urgent=False, address=None, subject=None, grid_workers=[],
                          assignee="", details={"summary": ""}, note="已送医"),
            "realert": 2, "realert_max": 3, "minutes": 30,
        },
    ],
    "cases.list": [
        {"total": 0, "cases": [], "page": 1, "pages": 1},
        {
            "total": 23,
            "page": 3,
            "pages": 3,
            "cases": [
                _case(id=1),
                _case(id=11, urgent=False, address=None, assignee=""),
                _case(id=111, urgent=False, assignee=LONG_NAME),
            ],
        },
    ],
    "cases.list_button": [
        {"case": _case()},
        {"case": _case(id=11, urgent=False, place="")},
    ],
    "admin.clinic_list": [
        {"clinics": []},
        {"clinics": [{"name": "市一医院发热门诊", "address": "解放路1号", "phone": "0571-12342"}]},
        {
            "clinics": [
                {"name": "市一医院发热门诊", "address": "解放路1号", "phone": "0571-12342"},
                {"name": "市二医院", "address": "", "phone": ""},
                {"name": LONG_NAME, "address": HTML_NAME, "phone": "120"},
            ]
        },
    ],
    "admin.risk_list": [
        {"areas": []},
        {
            "areas": [
                {"id": 1, "place": "广东省深圳市南山区", "level": "高风险", "from": "03-01",
                 "to": ""},
                {"id": 11, "place": "北京市朝阳区", "level": "中风险", "from": "03-01",
                 "to": "03-20"},
                {"id": 111, "place": HTML_NAME, "level": "低风险", "from": "03-05", "to": ""},
            ]
        },
    ],
    "risk.place_ambiguous": [
        {
            "text": "南山",
            "candidates": [
                {"name": "Nanshan, Hegang, Heilongjiang", "chinese": "黑龙江省鹤岗市南山区"},
                {"name": "Nanshan, Shenzhen, Guangdong", "chinese": "广东省深圳市南山区"},
            ],
        },
    ],
    "reports.me": [
        {"reports": [], "isolated": False, "isolations": []},
        {
            "reports": [
                {"id": 1, "date": "03-09", "kind": "返乡报备", "place": "广东省深圳市南山区",
                 "risk": "高风险地区"},
                {"id": 11, "date": "03-10", "kind": "症状报告", "place": "", "risk": ""},
            ],
            "isolated": True,
            "isolations": [
                {"name": "", "start": "2022-03-09", "end": "2022-03-22", "day_number": 3,
                 "days": 14, "days_left": 12, "checkins": [
                    {"number": 1, "day": "2022-03-09", "status": "answered", "temperature": "36.6"},
                    {"number": 2, "day": "2022-03-10", "status": "missed", "temperature": ""},
                    {"number": 3, "day": "2022-03-11", "status": "pending", "temperature": ""},
                ]},
                {"name": "张奶奶", "start": "2022-03-12", "end": "2022-03-25", "day_number": 0,
                 "days": 14, "days_left": 14, "checkins": []},
            ],
        },
        {"reports": [], "isolated": False, "isolations": [
            {"name": "张奶奶", "start": "2022-03-09", "end": "2022-03-22", "day_number": 14,
             "days": 14, "days_left": 1, "checkins": [
                {"number": 14, "day": "2022-03-22", "status": "answered", "temperature": "37.5"},
            ]},
        ]},
    ],
    "profile.card": [
        {
            "address": {"compound": "阳光花园", "building": "1栋", "unit": "1单元", "room": "101"},
            "name": HTML_NAME,
            "phone": "+8613800138000",
            "members": [
                {"name": HTML_NAME, "relation": "", "is_me": True, "has_telegram": True},
                {"name": "张奶奶", "relation": "祖父母/外祖父母", "is_me": False,
                 "has_telegram": False},
                {"name": LONG_NAME, "relation": "子女", "is_me": False, "has_telegram": True},
            ],
        }
    ],
    "checkin.prompt": [
        {"name": "张三", "member": False, "day_number": 3, "end_date": "2022-03-22"},
        {"name": HTML_NAME, "member": True, "day_number": 14, "end_date": "2022-03-22"},
    ],
    "checkin.released": [
        {"name": "张三", "member": False, "end_date": "2022-03-22"},
        {"name": LONG_NAME, "member": True, "end_date": "2022-03-22"},
    ],
    "coverage.daily_missing": [
        {"grid": "第一网格", "count": 0, "missing": [], "more": 0},
        {
            "grid": HTML_NAME,
            "count": 63,
            "missing": [
                "阳光花园 1栋 1单元 101", "阳光花园 1栋 1单元 102", "阳光花园 1栋 2单元 301"
            ],
            "more": 60,
        },
    ],
    "seal.done": [
        {"place": "阳光花园 1栋", "level": "sealed", "until": "2022-03-24", "ended": "",
         "residents": 40},
        {"place": "阳光花园", "level": "normal", "until": "", "ended": "controlled",
         "residents": 0},
    ],
    "seal.notice_start": [
        {"place": "阳光花园 1栋", "level": "封控", "level_key": "sealed",
         "start": "2022-03-10 09:00", "until": "2022-03-24"},
        {"place": "阳光花园", "level": "防范", "level_key": "precaution",
         "start": "2022-03-10 09:00", "until": ""},
    ],
    "seal.list": [
        {"rows": []},
        {"rows": [{"place": "阳光花园 1栋", "level": "sealed", "start": "2022-03-10 09:00",
                   "until": "2022-03-24"},
                  {"place": "幸福里", "level": "precaution", "start": "2022-03-11 08:00",
                   "until": ""}]},
    ],
    "care.care_first": [
        {"place": "阳光花园 1栋", "level": "sealed", "people": [], "others": 12},
        {"place": "阳光花园 9栋", "level": "controlled", "others": 35, "people": [
            {"name": "王奶奶", "address": "阳光花园 9栋 1单元 101", "phone": "13800000000",
             "level": "controlled",
             "flags": [{"kind": "elderly_alone", "detail": ""},
                       {"kind": "dialysis", "detail": "每周二四六 8:00"}]},
            {"name": "李四", "address": "阳光花园 9栋 4单元 101", "phone": "",
             "level": "controlled", "flags": [{"kind": "pregnant", "detail": "2022-04-02"}]},
        ]},
    ],
    "supply.open_list": [
        {"total": 0, "more": 0, "buildings": []},
        {"total": 23, "more": 20, "buildings": [
            {"name": "阳光花园 1栋", "requests": [
                {"id": 2, "kind": "💊 药品", "detail": "胰岛素 10 单位", "urgent": True,
                 "address": "阳光花园 1栋 1单元 102"},
                {"id": 1, "kind": "🥬 食品包", "detail": "", "urgent": False,
                 "address": "阳光花园 1栋 1单元 101"},
            ]},
            {"name": "阳光花园 2栋", "requests": [
                {"id": 3, "kind": "💧 饮用水", "detail": "", "urgent": False,
                 "address": "阳光花园 2栋 1单元 301"},
            ]},
        ]},
    ],
    "rounds.progress": [
        {"id": 3, "day": "2022-03-12", "status": "进行中", "percent": 92,
         "rows": [
             {"name": "阳光花园 1栋", "expected": 24, "tested": 19, "exempt": 1, "away": 0,
              "positive": 0, "pending": 4},
             {"name": "幸福里 A座", "expected": 12, "tested": 11, "exempt": 0, "away": 0,
              "positive": 1, "pending": 0},
         ],
         "total": {"expected": 36, "tested": 30, "pending": 4}},
    ],
    "rounds.todo": [
        {"id": 3, "day": "2022-03-12", "grid": "第一网格", "count": 9, "page": 2, "pages": 2,
         "people": [{"n": 9, "name": LONG_NAME, "address": "阳光花园 1栋 2单元 302",
                     "door": True}]},
        {"id": 3, "day": "2022-03-12", "grid": "", "count": 0, "page": 1, "pages": 1,
         "people": []},
    ],
    "rounds.household_notice": [
        {"id": 3, "day": "2022-03-12", "building": "阳光花园 1栋", "starts": "08:00",
         "ends": "09:00", "site": "东门采样点",
         "people": [{"name": HTML_NAME, "door": False}, {"name": "张奶奶", "door": True}]},
    ],
    "coverage.people_editor": [
        {"room": "101", "people": [
            {"name": "张三", "status": "在家", "temp": "38.2", "fever": True},
            {"name": "李四", "status": "已搬走", "temp": "", "fever": False},
        ]},
        {"room": "202", "people": []},
    ],
}  # fmt: skip
