"""Monitoring driven by officers (R-CAT, R-RISK): /monitor (start, change, extend, end,
history, rules), assignment lists (/monitor import + a CSV/XLSX, a review screen),
"start monitoring" from a case card, the resident's "test done" button, and
/risk_import of a bulletin. Every action re-checks the officer's role in the database."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, local_day, local_today
from bot.core.forms import ENDS_ON_REFUSAL, LEAVES_FORM
from bot.db.models import Case, Community, ImportBatch, IsolationStatus, Person, Report
from bot.parsing import ParseError, clean_text, parse_date
from bot.presentation.callbacks import ImportCb, MonCaseCb, MonPickCb, MonTestCb
from bot.presentation.keyboards import buttons
from bot.services import assignments, case_text, monitoring, rematch
from bot.services.errors import DomainError, NotAllowed
from bot.services.identity import OFFICER_ROLES, Identity
from handlers.replies import drop_buttons, edit_or_send
from messages import Catalog, Translator

router = Router(name="monitoring")
REASON_MAX = 300
REVIEW_LINES = 30


class MonitorFlow(StatesGroup):
    person = State()
    reason = State()
    import_file = State()


async def _community(session: AsyncSession, identity: Identity) -> Community:
    community_id = identity.acting_community_id(OFFICER_ROLES)
    community = await session.get(Community, community_id) if community_id is not None else None
    if community is None or identity.person is None:
        raise NotAllowed()
    return community


async def _answer_long(message: Message, parts: list[str]) -> None:
    chunk = ""
    for part in parts:
        if chunk and len(chunk) + len(part) + 1 > 4000:
            await message.answer(chunk)
            chunk = ""
        chunk = f"{chunk}\n{part}" if chunk else part
    if chunk:
        await message.answer(chunk)


async def _one_person(session: AsyncSession, community: Community, query: str) -> Person:
    found = await monitoring.people_of(session, community.id, query)
    if not found:
        raise DomainError("monitoring.person_not_found", query=query)
    exact = [p for p in found if p.person.name.casefold() == query.strip().casefold()]
    if len(found) > 1 and len(exact) == 1:
        return exact[0].person
    if len(found) > 1:
        raise DomainError(
            "monitoring.person_several", query=query, example=found[0].person.id,
            people=[{"id": p.person.id, "name": p.person.name, "address": p.address}
                    for p in found],
        )  # fmt: skip
    return found[0].person


_QUOTES = {'"': '"', "“": "”", "'": "'", "「": "」"}
# What ends a person's name (several words) in each sub-command: the category, the number
# of days; `end` takes a quoted name or one word (its reason is free text), `history` the
# whole rest.
_NAME_ENDS: dict[str, Callable[[str], bool] | None] = {
    "start": lambda w: monitoring.parse_category(w) is not None,
    "change": lambda w: monitoring.parse_category(w) is not None,
    "extend": str.isdigit,
    "end": lambda w: True,
    "history": None,
}


def _person_first(sub: str, words: list[str]) -> list[str]:
    """The words with the person first as one item: "Grandma Li" (quoted or not) is one
    person, not "Grandma" followed by "Li"."""
    text = " ".join(words)
    close = _QUOTES.get(text[0])
    if close is not None and (end := text.find(close, 1)) > 1:
        return [text[1:end].strip(), *text[end + 1 :].split()]
    ends = _NAME_ENDS[sub]
    if ends is None:
        return [text]
    for i in range(1, len(words)):
        if ends(words[i]):
            return [" ".join(words[:i]), *words[i:]]
    return words


def _outcome_text(t: Translator, outcome: monitoring.Outcome) -> str:
    isolation = outcome.isolation
    return t(
        f"monitoring.done_{outcome.action}",
        name=outcome.person.name,
        person_id=outcome.person.id,
        category=t(f"monitoring.category_{isolation.category}"),
        start=(isolation.category_start or isolation.start_date).isoformat(),
        end=isolation.end_date.isoformat(),
        status=t(f"monitoring.status_{isolation.status}"),
        told=outcome.told,
    )


@router.message(Command("monitor"), F.text, F.chat.type == "private", StateFilter("*"))
async def monitor_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    try:
        community = await _community(session, identity)
        assert identity.person is not None
        sub, *words = (command.args or "").split()
        text = await _monitor(
            message, state, session, clock, catalog, identity.person, community, t, sub, words
        )
    except ValueError:  # a ParseError too: the command was not understood
        text = t("monitoring.usage")
    if text:
        await message.answer(text)


async def _monitor(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    actor: Person,
    community: Community,
    t: Translator,
    sub: str,
    words: list[str],
) -> str:
    today = local_today(clock, community.timezone)
    if sub in _NAME_ENDS and words:
        words = _person_first(sub, words)
    if sub == "start" and len(words) >= 3:
        person = await _one_person(session, community, words[0])
        category = monitoring.parse_category(words[1])
        if category is None:
            raise DomainError("monitoring.bad_category", text=words[1])
        rest = words[2:]
        start: date | None = None
        try:
            start = parse_date(rest[0], today)
            rest = rest[1:]
        except ParseError:
            start = None
        reason = _reason(" ".join(rest))
        outcome = await monitoring.start(
            session, clock, catalog, community=community, person=person, category=category,
            start_date=start, reason=reason, actor=actor, source="officer",
        )  # fmt: skip
        return _outcome_text(t, outcome)
    if (
        (sub == "change" and len(words) >= 3)
        or (sub == "extend" and len(words) >= 3 and words[1].isdigit())
        or (sub == "end" and len(words) >= 2)
    ):
        # One person, or several at once ("12,13,14": in bulk from a list).
        category = None
        if sub == "change":
            category = monitoring.parse_category(words[1])
            if category is None:
                raise DomainError("monitoring.bad_category", text=words[1])
        reason = _reason(" ".join(words[1:] if sub == "end" else words[2:]))
        queries = [q for q in re.split(r"[,，、]", words[0]) if q][:200]
        lines = []
        for query in queries:
            try:
                person = await _one_person(session, community, query)
                outcome = await _act(
                    session, clock, catalog, community, actor, person, sub, category,
                    int(words[1]) if sub == "extend" else 0, reason,
                )  # fmt: skip
                lines.append(_outcome_text(t, outcome))
            except DomainError as exc:
                if len(queries) == 1:
                    raise
                lines.append(
                    t("monitoring.bulk_error", query=query, error=t(exc.key, **exc.params))
                )
        return "\n".join(lines)
    if sub == "history" and len(words) == 1:
        person = await _one_person(session, community, words[0])
        found = await monitoring.person_history(session, community.id, person.id)
        return t(
            "monitoring.history",
            name=person.name,
            person_id=person.id,
            monitorings=[
                {
                    "id": i.id,
                    "status": t(f"monitoring.status_{i.status}"),
                    # A monitoring started by a report has no events: its own dates say it.
                    "category": t(f"monitoring.category_{i.category}"),
                    "start": i.start_date.isoformat(),
                    "end": i.end_date.isoformat(),
                    "events": [
                        {
                            "at": local_day(e.at, community.timezone).isoformat(),
                            "action": t(f"monitoring.action_{e.action}"),
                            "category": t(f"monitoring.category_{e.category_to}")
                            if e.category_to
                            else "",
                            "end": e.end_to.isoformat() if e.end_to else "",
                            "reason": e.reason or "",
                        }
                        for e in events
                    ],
                }
                for i, events in found
            ],
        )
    if sub == "list" and len(words) <= 1:
        category = monitoring.parse_category(words[0]) if words else None
        if words and category is None:
            raise DomainError("monitoring.bad_category", text=words[0])
        listed = await monitoring.monitored(session, community.id, category)
        await _answer_long(
            message,
            [t("monitoring.list_title", count=len(listed))]
            + [
                t(
                    "monitoring.list_line",
                    person_id=line.person.id,
                    name=line.person.name,
                    address=line.address,
                    category=t(f"monitoring.category_{line.isolation.category}"),
                    start=(line.isolation.category_start or line.isolation.start_date).isoformat(),
                    end=line.isolation.end_date.isoformat(),
                    status=t(f"monitoring.status_{line.isolation.status}"),
                )
                for line in listed[:300]
            ],
        )
        return ""
    if sub == "rules" and not words:
        return _rules_text(t, community)
    if sub == "rule" and len(words) >= 2:
        category, change = monitoring.parse_rule_change(words[0], words[1:])
        await monitoring.change_rule(
            session, clock, community=community, category=category, change=change, actor=actor
        )
        return _rules_text(t, community)
    if sub == "import" and not words:
        await state.set_state(MonitorFlow.import_file)
        return t("monitoring.import_send_file")
    raise ValueError(sub)


async def _act(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    community: Community,
    actor: Person,
    person: Person,
    sub: str,
    category: str | None,
    days: int,
    reason: str,
) -> monitoring.Outcome:
    current = await monitoring.current_monitoring(session, person.id)
    if current is None:
        raise DomainError("monitoring.none", name=person.name)
    if sub == "change":
        assert category is not None
        return await monitoring.change(
            session, clock, catalog, community=community, isolation=current, category=category,
            reason=reason, actor=actor, source="officer",
        )  # fmt: skip
    if sub == "extend":
        return await monitoring.extend(
            session, clock, catalog, isolation_id=current.id, days=days, reason=reason,
            actor=actor,
        )  # fmt: skip
    return await monitoring.end(
        session, clock, catalog, isolation_id=current.id, status=IsolationStatus.ENDED_EARLY,
        reason=reason, actor=actor,
    )  # fmt: skip


def _reason(text: str) -> str:
    try:
        return clean_text(text, max_len=REASON_MAX)
    except ParseError:
        raise DomainError("monitoring.reason_required") from None


def _rules_text(t: Translator, community: Community) -> str:
    return t(
        "monitoring.rules",
        rules=[
            {
                "key": r.category,
                "category": t(f"monitoring.category_{r.category}"),
                "days": r.days,
                "tests": list(r.tests),
                "go_out": r.go_out,
                "then": t(f"monitoring.category_{r.then}") if r.then else "",
                "then_days": r.then_days,
            }
            for r in monitoring.rules(community)
        ],
    )


# ---------------------------------------------------------------- assignment lists


@router.message(F.document, F.chat.type == "private", MonitorFlow.import_file, flags=LEAVES_FORM)
@router.message(
    F.document, F.chat.type == "private", F.caption.startswith("/monitor import"), flags=LEAVES_FORM
)
async def import_file(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    await state.set_state(None)
    community = await _community(session, identity)
    assert identity.person is not None and message.document is not None
    document = message.document
    if (document.file_size or 0) > assignments.MAX_BYTES:
        raise DomainError("imports.too_big")
    assert message.bot is not None
    file = await message.bot.download(document)
    content = file.read() if file is not None else b""
    batch = await assignments.create_batch(
        session, clock, community=community, filename=document.file_name or "list.csv",
        content=content, actor=identity.person,
    )  # fmt: skip
    parts, markups = await _review(session, t, batch)
    await _answer_long(message, parts)
    for text, markup in markups:
        await message.answer(text, reply_markup=markup)


async def _review(
    session: AsyncSession, t: Translator, batch: ImportBatch
) -> tuple[list[str], list[tuple[str, InlineKeyboardMarkup]]]:
    """The review screen: counts, the not-found and invalid rows, one message with
    household buttons per ambiguous row, and apply / cancel."""
    n = assignments.counts(batch)
    rows = batch.rows
    parts = [t("imports.review", file=batch.filename, total=len(rows), n=n)]
    lines = [r for r in rows if r["status"] in (assignments.NOT_FOUND, assignments.INVALID)]
    if lines:
        parts.append(
            t("imports.problem_rows",
              rows=[{"n": r["n"], "name": r.get("name", ""), "address": r.get("address", ""),
                     "status": t(f"imports.status_{r['status']}")} for r in lines[:REVIEW_LINES]],
              more=max(0, len(lines) - REVIEW_LINES))
        )  # fmt: skip
    markups: list[tuple[str, InlineKeyboardMarkup]] = []
    ambiguous = [r for r in rows if r["status"] == assignments.AMBIGUOUS]
    candidates = await assignments.addresses(
        session, [h for r in ambiguous for h in r.get("candidates", [])]
    )
    for row in ambiguous[:REVIEW_LINES]:
        markups.append(
            (
                t("imports.ambiguous_row", n=row["n"], name=row["name"], address=row["address"]),
                buttons(
                    [[(candidates.get(h, str(h)),
                       ImportCb(action="pick", batch_id=batch.id, item=row["n"] * 100 + i))]
                     for i, h in enumerate(row["candidates"][:8])]
                ),
            )
        )  # fmt: skip
    markups.append(
        (
            t("imports.confirm", n=n),
            buttons(
                [[(t("imports.button_apply", count=n[assignments.MATCHED]),
                   ImportCb(action="apply", batch_id=batch.id)),
                  (t("imports.button_cancel"), ImportCb(action="cancel", batch_id=batch.id))]]
            ),
        )
    )  # fmt: skip
    return parts, markups


@router.callback_query(ImportCb.filter())
async def import_button(
    query: CallbackQuery,
    callback_data: ImportCb,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    community = await _community(session, identity)
    assert identity.person is not None
    batch = await assignments.batch_for(session, callback_data.batch_id, community.id)
    if callback_data.action == "pick":
        entry = await assignments.resolve_row(
            session, clock, batch=batch, row=callback_data.item // 100,
            pick=callback_data.item % 100,
            actor=identity.person,
        )  # fmt: skip
        address = (await assignments.addresses(session, [entry["household_id"]])).get(
            entry["household_id"], ""
        )
        text = t("imports.picked", n=entry["n"], name=entry["name"], address=address)
    elif callback_data.action == "apply":
        applied = await assignments.apply_batch(
            session, clock, catalog, batch=batch, actor=identity.person
        )
        text = t("imports.applied", a=applied)
    elif callback_data.action == "cancel":
        batch.status = "cancelled"
        text = t("imports.cancelled")
    else:
        raise DomainError("common.button_expired")
    await query.answer()
    await drop_buttons(query)
    await edit_or_send(query, text)


# ---------------------------------------------------------------- from a case card


@router.callback_query(MonCaseCb.filter())
async def from_case(
    query: CallbackQuery,
    callback_data: MonCaseCb,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    """Pressed on a case card: the officer continues privately (no personal data in the
    group); from the officers' chat a toast says where to go on."""
    case = await session.get(Case, callback_data.case_id)
    if (
        case is None
        or identity.person is None
        or not identity.allows(OFFICER_ROLES, community_id=case.community_id)
    ):
        await query.answer(t("common.not_allowed"), show_alert=True)
        return
    assert query.bot is not None
    key_state = FSMContext(
        storage=state.storage,
        key=StorageKey(
            bot_id=state.key.bot_id, chat_id=query.from_user.id, user_id=query.from_user.id
        ),
    )
    await key_state.set_state(None)
    await key_state.set_data({"case_id": case.id})
    subject = await session.get(Person, case.subject_id) if case.subject_id else None
    tenants = await _tenant_names(session, case)
    who = ", ".join(tenants) if tenants else (subject.name if subject else "")
    try:
        if not who:
            await key_state.set_state(MonitorFlow.person)
            await query.bot.send_message(
                query.from_user.id, t("monitoring.case_ask_person", id=case.id)
            )
        else:
            await query.bot.send_message(
                query.from_user.id,
                t("monitoring.case_pick_category", id=case.id, who=who),
                reply_markup=_category_markup(t),
            )
    except TelegramAPIError:
        # The officer never opened a private chat with the bot.
        await query.answer(t("monitoring.case_start_private_first"), show_alert=True)
        return
    in_private = query.message is not None and query.message.chat.id == query.from_user.id
    # Pressed in the private chat already: the next step is right below, nothing to say.
    await query.answer(None if in_private else t("monitoring.case_continue_private"))


def _category_markup(t: Translator) -> InlineKeyboardMarkup:
    return buttons(
        [[(t(f"monitoring.category_{c}"), MonPickCb(category=i))]
         for i, c in enumerate(monitoring.CATEGORIES)]
    )  # fmt: skip


async def _tenant_names(session: AsyncSession, case: Case) -> list[str]:
    if case.report_id is None:
        return []
    report = await session.get(Report, case.report_id)
    if report is None or report.kind != "tenant":
        return []
    return [str(n) for n in (report.details or {}).get("names", [])]


@router.message(MonitorFlow.person, F.text, F.chat.type == "private")
async def case_person(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    identity: Identity,
    t: Translator,
) -> None:
    community = await _community(session, identity)
    person = await _one_person(session, community, (message.text or "").strip()[:40])
    await state.update_data(person_id=person.id)
    await state.set_state(None)
    data = await state.get_data()
    await message.answer(
        t("monitoring.case_pick_category", id=data.get("case_id", 0), who=person.name),
        reply_markup=_category_markup(t),
    )


@router.callback_query(MonPickCb.filter())
async def case_category(
    query: CallbackQuery,
    callback_data: MonPickCb,
    state: FSMContext,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    if (
        "case_id" not in data
        or not 0 <= callback_data.category < len(monitoring.CATEGORIES)
        or identity.acting_community_id(OFFICER_ROLES) is None
    ):
        await query.answer(t("common.button_expired"), show_alert=True)
        return
    category = monitoring.CATEGORIES[callback_data.category]
    await state.update_data(category=category)
    await state.set_state(MonitorFlow.reason)
    await query.answer()
    await drop_buttons(query)
    await edit_or_send(
        query, t("monitoring.case_ask_reason", category=t(f"monitoring.category_{category}"))
    )


@router.message(MonitorFlow.reason, F.text, F.chat.type == "private", flags=ENDS_ON_REFUSAL)
async def case_reason(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    data = await state.get_data()
    reason = _reason(message.text or "")
    community = await _community(session, identity)
    assert identity.person is not None
    case = await session.get(Case, int(data.get("case_id", 0)))
    if case is None or case.community_id != community.id:
        raise NotAllowed()
    people = await _case_people(session, clock, case, data)
    if not people:
        raise DomainError("monitoring.person_not_found", query="")
    texts = []
    for person in people:
        outcome = await monitoring.start(
            session, clock, catalog, community=community, person=person,
            category=str(data.get("category")), start_date=None, reason=reason,
            actor=identity.person, source=f"case:{case.id}",
        )  # fmt: skip
        texts.append(_outcome_text(t, outcome))
    await state.clear()
    await message.answer("\n".join(texts))


async def _case_people(
    session: AsyncSession, clock: Clock, case: Case, data: dict[str, object]
) -> list[Person]:
    """Who the case is about: the person picked, the tenants of a tenant report (added
    to the landlord's household as members without Telegram), or the case's subject."""
    if data.get("person_id"):
        person = await session.get(Person, int(str(data["person_id"])))
        return [person] if person else []
    names = await _tenant_names(session, case)
    if names and case.household_id is not None:
        people = []
        for name in names:
            found = await session.scalar(
                select(Person).where(Person.household_id == case.household_id, Person.name == name)
            )
            if found is None:
                found = Person(
                    household_id=case.household_id, name=name[:80], relation="tenant",
                    reported_by_id=case.reporter_id, created_at=clock.now(),
                )  # fmt: skip
                session.add(found)
                await session.flush()
            people.append(found)
        return people
    subject = await session.get(Person, case.subject_id) if case.subject_id else None
    return [subject] if subject else []


# ---------------------------------------------------------------- test days


@router.callback_query(MonTestCb.filter())
async def test_done(
    query: CallbackQuery,
    callback_data: MonTestCb,
    session: AsyncSession,
    clock: Clock,
    identity: Identity,
    t: Translator,
) -> None:
    if identity.person is None:
        raise NotAllowed()
    test, person = await monitoring.record_test(
        session, clock, test_id=callback_data.test_id, actor=identity.person
    )
    await query.answer()
    await drop_buttons(query)
    await edit_or_send(
        query, t("monitoring.test_recorded", name=person.name, day_number=test.day_number)
    )


# ---------------------------------------------------------------- risk-area bulletins


@router.message(Command("risk_import"), F.chat.type == "private", StateFilter("*"))
async def risk_import(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    identity: Identity,
    t: Translator,
) -> None:
    """/risk_import followed by one area a line (province city district [street], level,
    from, to): each added, then re-matched against the reports of its window."""
    community = await _community(session, identity)
    text = (message.text or "").partition("\n")[2] or (command.args or "")
    if not text.strip():
        await message.answer(t("monitoring.risk_import_usage"))
        return
    result = await rematch.import_areas(
        session, clock, catalog, community=community, text=text[:20000], actor=identity.person
    )
    await message.answer(
        t(
            "monitoring.risk_imported",
            added=len(result.added),
            errors=[
                {
                    "line": n,
                    "text": raw,
                    "why": t(key, **case_text.resolve(catalog, t.locale, params)),
                }
                for n, raw, key, params in result.errors
            ],
            r=result.rematched,
            cases=len(result.rematched.cases),
        )
    )
