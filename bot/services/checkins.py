"""Daily health check-ins of people in home isolation (R-CHK, R-ISO, R-END).

Everything here decides from the injected clock in the *community's* time zone and
from durable rows, so a task that runs twice, or after the bot was down for days,
does no harm:

- one CheckIn row per (isolation, day), inserted in bulk with ON CONFLICT DO NOTHING;
- past days that were never answered are MISSED (rows are created for them too);
- prompts, reminders and release messages are outbox rows with dedup keys;
- cases (missed check-ins, unreachable) carry dedup keys as well.

The first monitored day is the later of the arrival date (day 1) and the local date
the isolation was recorded: a return reported three days late does not count three
misses the resident could never have answered.

The code lives in four modules (this one re-exports every name, so old imports work):
checkin_common (shared pieces), checkin_run (the daily run), checkin_answers
(answering), checkin_views (officer views)."""

from __future__ import annotations

from bot.services.checkin_answers import (
    Answer,
    PendingCheckin,
    _load,
    _record_answer,
    answer_checkin,
    answerable,
    pending_today,
)
from bot.services.checkin_common import (
    ANSWER_FEVER,
    ANSWER_NORMAL,
    ANSWER_OTHER,
    ANSWERS,
    PROMPT,
    RELEASE,
    REMINDER,
    Recipient,
    _chunks,
    _in,
    _insert,
    can_answer_for,
    parse_slot,
    prompt_key,
    recipients,
    reminder_key,
)
from bot.services.checkin_run import (
    DAILY_CHUNK,
    DailyRun,
    Prompt,
    PromptMarkup,
    PromptTexts,
    _enqueue_many,
    _enqueue_prompts,
    _insert_checkins,
    _insert_ignoring_conflicts,
    _no_delivery,
    _not_withdrawn,
    _postgres,
    _queue_prompts,
    escalate_misses,
    escalate_unreachable,
    prepare_checkins,
    release_due,
    run_for_community,
    send_reminders,
)
from bot.services.checkin_views import (
    CompoundStatus,
    IsolationLine,
    checkin_status,
    find_isolations,
    in_isolation,
    isolation_with_person,
    isolations_of,
    officer_end,
    officer_extend,
)

__all__ = [
    "ANSWERS",
    "ANSWER_FEVER",
    "ANSWER_NORMAL",
    "ANSWER_OTHER",
    "DAILY_CHUNK",
    "PROMPT",
    "RELEASE",
    "REMINDER",
    "Answer",
    "CompoundStatus",
    "DailyRun",
    "IsolationLine",
    "PendingCheckin",
    "Prompt",
    "PromptMarkup",
    "PromptTexts",
    "Recipient",
    "_chunks",
    "_enqueue_many",
    "_enqueue_prompts",
    "_in",
    "_insert",
    "_insert_checkins",
    "_insert_ignoring_conflicts",
    "_load",
    "_no_delivery",
    "_not_withdrawn",
    "_postgres",
    "_queue_prompts",
    "_record_answer",
    "answer_checkin",
    "answerable",
    "can_answer_for",
    "checkin_status",
    "escalate_misses",
    "escalate_unreachable",
    "find_isolations",
    "in_isolation",
    "isolation_with_person",
    "isolations_of",
    "officer_end",
    "officer_extend",
    "parse_slot",
    "pending_today",
    "prepare_checkins",
    "prompt_key",
    "recipients",
    "release_due",
    "reminder_key",
    "run_for_community",
    "send_reminders",
]
