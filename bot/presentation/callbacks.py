"""Callback data of every inline button. aiogram packs these as `prefix:field:...`;
a test packs each with extreme values and checks Telegram's 64-byte limit.

Forged data either fails to parse (the fallback handler answers "button expired") or
names something the handler checks against the database and the conversation state.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ConsentCb(CallbackData, prefix="consent"):
    granted: bool


class RegPick(CallbackData, prefix="rp"):
    """A choice in the address picker: level c(ompound) / b(uilding) / u(nit) / r(oom)."""

    level: str
    id: int


class RegPage(CallbackData, prefix="rpg"):
    level: str
    parent: int
    page: int


class RegAction(CallbackData, prefix="ra"):
    action: str


class RelationCb(CallbackData, prefix="rel"):
    relation: str


class ProfileAction(CallbackData, prefix="pf"):
    action: str
    member_id: int = 0


class LanguageCb(CallbackData, prefix="lang"):
    locale: str


class BindCb(CallbackData, prefix="bind"):
    compound_id: int


class MenuCb(CallbackData, prefix="menu"):
    action: str


class CaseCb(CallbackData, prefix="case"):
    """A button on a case card: ack(nowledge) / take / resolve."""

    action: str
    case_id: int


class CaseListCb(CallbackData, prefix="cl"):
    """A page of /cases with the filters it was typed with: the case kind, and the place
    as "c<compound id>", "g<grid id>" or both ("c3g7"); "" for none (64-byte limit)."""

    page: int
    kind: str = ""
    place: str = ""


class CaseOpenCb(CallbackData, prefix="co"):
    """A case in the /cases list: its card (role and scope checked on every press)."""

    case_id: int


class ReportCb(CallbackData, prefix="rep"):
    """A button inside a report conversation: pick / toggle / done / skip / back /
    confirm, with the chosen value (a choice name or a person id)."""

    action: str
    value: str = ""


class PlaceCb(CallbackData, prefix="plc"):
    """A place in the report's place picker (6-digit code)."""

    code: str


class PlacePage(CallbackData, prefix="plp"):
    parent: str
    page: int


class ScreenPick(CallbackData, prefix="scp"):
    """/screen picker: b(uilding) / u(nit) / r(oom) chosen."""

    level: str
    id: int


class ScreenPage(CallbackData, prefix="scg"):
    level: str
    parent: int
    page: int


class ScreenOutcomeCb(CallbackData, prefix="sco"):
    household_id: int
    outcome: str


class GateCb(CallbackData, prefix="gt"):
    """/gate flow: gate (id) / dir (0 in, 1 out) / kind (index of SUBJECTS) / person (id)."""

    action: str
    value: int


class GateSelfCb(CallbackData, prefix="gs"):
    """A resident's own passage after scanning a gate's QR code."""

    token: str
    direction: str


class AuditPage(CallbackData, prefix="aud"):
    page: int


class NoticeCb(CallbackData, prefix="ntc"):
    """Notice compose/cancel buttons: lib / aud_c / aud_r / aud_i / pin / next / now /
    at / daily / weekly / abort / cancel; `arg` is a library index, compound or notice id."""

    action: str
    arg: int = 0


class CheckinCb(CallbackData, prefix="ci"):
    """An answer on a check-in prompt: normal / fever / other, or "type" (a temperature)."""

    answer: str
    checkin_id: int


class IsolationCb(CallbackData, prefix="iso"):
    """An officer's action on an isolation: extend (days) / early / hospital."""

    action: str
    isolation_id: int
    days: int = 0


class DowntimeCb(CallbackData, prefix="dt"):
    """Confirm, after the bot was down, that misses and releases may be processed;
    `since` (epoch seconds of the gap's start) makes an old button harmless."""

    community_id: int
    since: int


class RoundCb(CallbackData, prefix="rnd"):
    """A testing round (issue 15): ann(ounce) / close / prog(ress) / todo (grid worker's
    list, `page`) / self (household self-report) / tick (household list picker)."""

    action: str
    round_id: int
    page: int = 0


class RoundMarkCb(CallbackData, prefix="rmk"):
    """Mark one person of a round: t(ested, ticked by staff) / v(isited at the door) /
    x (exempt, asks the reason) / a(way, asks where) / s(elf-reported)."""

    action: str
    round_id: int
    person_id: int


class RoundPick(CallbackData, prefix="rpk"):
    """The tick list's picker: b(uilding) chosen → its households; h(ousehold) chosen."""

    round_id: int
    level: str
    id: int


class RoundHousePage(CallbackData, prefix="rhp"):
    """A page of the households of one building in the tick list."""

    round_id: int
    building_id: int
    page: int


class CodeCb(CallbackData, prefix="pcode"):
    """Show the personal QR code of one member of one's household."""

    person_id: int


class ScreenPersonCb(CallbackData, prefix="spp"):
    """The door visit's people editor: cyc(le a person's status) / fev(er toggle) /
    save; `index` is the person's place in the visit being edited."""

    action: str
    index: int = 0


class ScreenChangeCb(CallbackData, prefix="scc"):
    """Confirm (ok) or dismiss a register change found at a door (issue 15)."""

    change_id: int
    ok: bool


class PrivacyDecision(CallbackData, prefix="pdr"):
    """An officer confirms (c=1) or declines (c=0) a resident's deletion request."""

    request_id: int
    confirm: bool


class PrivacyAsk(CallbackData, prefix="pra"):
    """The resident's answer to "really delete / withdraw?"."""

    kind: str
    yes: bool


class MonTestCb(CallbackData, prefix="mt"):
    """A resident's "test done" on a test-day reminder (R-CAT)."""

    test_id: int


class MonCaseCb(CallbackData, prefix="mc"):
    """ "Start monitoring" on a case card: the officer continues in a private chat."""

    case_id: int


class MonPickCb(CallbackData, prefix="mp"):
    """A category (index of monitoring.CATEGORIES) in the officer's monitoring flow."""

    category: int


class ImportCb(CallbackData, prefix="imp"):
    """The review of an assignment list: pick / apply / cancel; for a pick, `item` is
    row * 100 + the candidate's index."""

    action: str
    batch_id: int
    item: int = 0


class SupplyCb(CallbackData, prefix="sp"):
    """Supplies (R-SUPPLY): kind (index of supplies.KINDS) / urg (0, 1) / skip (photo) /
    take, done, prob (volunteer, request id) / ok (household confirms, request id)."""

    action: str
    id: int


class CareCb(CallbackData, prefix="cr"):
    """Care flags (R-CARE): m (member id) / k (index of care.KINDS) / rm (flag id) /
    fine, help (daily check id)."""

    action: str
    id: int


class RosterCb(CallbackData, prefix="ro"):
    """Duty rosters (R-ROSTER): join (shift id) / start (signup id: the self-check)."""

    action: str
    id: int


class DistributionCb(CallbackData, prefix="rd"):
    """A household ticked in a distribution round (R-SUPPLY)."""

    round_id: int
    household_id: int
