"""The whole data model of Community Guard (DESIGN.md, "Data").

Community → compound → building → unit → household → person. Grids group buildings.
Role grants are scoped. Reports, isolations and check-ins, cases and their events,
notices and their deliveries (the outbox), gate entries, screening visits, consent
records, the audit log and FSM state complete it. Times are UTC instants; dates that
mean a local day (arrival, isolation days) are plain dates in the community's zone.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.db.types import BigIntPK, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


# Enums are stored as their string value, so adding a member needs no migration.
class Role(enum.StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    GRID_WORKER = "grid_worker"
    PROPERTY_MANAGER = "property_manager"
    GUARD = "guard"
    VOLUNTEER = "volunteer"


class ScopeType(enum.StrEnum):
    COMMUNITY = "community"
    COMPOUND = "compound"
    GRID = "grid"


class ReportKind(enum.StrEnum):
    RETURN = "return"
    VISIT = "visit"
    TENANT = "tenant"
    SYMPTOM = "symptom"
    TIPOFF = "tipoff"
    SUPPLIES = "supplies"


class IsolationStatus(enum.StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    ENDED_EARLY = "ended_early"
    HOSPITAL = "hospital"
    # Handed off to central quarantine (集中隔离): no daily monitoring here (R-CAT).
    HANDED_OFF = "handed_off"


class CheckInStatus(enum.StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    MISSED = "missed"


class CaseKind(enum.StrEnum):
    RETURN = "return"
    VISIT = "visit"
    TENANT = "tenant"
    SYMPTOM = "symptom"
    TIPOFF = "tipoff"
    SUPPLIES = "supplies"
    FEVER = "fever"
    MISSED_CHECKIN = "missed_checkin"
    UNREACHABLE = "unreachable"
    GATE_FEVER = "gate_fever"
    GATE_RISK = "gate_risk"
    GATE_MONITORED = "gate_monitored"
    MISSED_TEST = "missed_test"
    NOT_IN_REGISTER = "not_in_register"
    RISK_MATCH = "risk_match"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    TAKEN = "taken"
    RESOLVED = "resolved"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class NoticeStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class ScreeningOutcome(enum.StrEnum):
    DONE = "done"
    VACANT = "vacant"
    REFUSED = "refused"
    NO_ANSWER = "no_answer"


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Language of what the bot posts in group chats and the officers' chat.
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    officer_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # isolation monitoring (R-ISO, R-CHK)
    isolation_days: Mapped[int] = mapped_column(Integer, default=14)
    checkin_time: Mapped[time] = mapped_column(Time, default=time(9, 0))
    reminder_times: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["12:00", "18:00"])
    misses_for_case: Mapped[int] = mapped_column(Integer, default=1)
    fever_threshold: Mapped[Decimal] = mapped_column(Numeric(4, 1), default=Decimal("37.3"))
    # publicity (R-PUB) and cases (R-ESC)
    public_post_time: Mapped[time] = mapped_column(Time, default=time(20, 0))
    min_public_count: Mapped[int] = mapped_column(Integer, default=3)
    case_realert_minutes: Mapped[int] = mapped_column(Integer, default=30)
    screening_period_days: Mapped[int] = mapped_column(Integer, default=7)
    fever_clinics: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Per-category overrides of the monitoring rules (bot/services/monitoring.py, R-CAT).
    monitoring_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    # daily lists and charts (R-COV, charts): local times, per community (/set)
    coverage_list_time: Mapped[time] = mapped_column(
        Time, default=time(8, 0), server_default="08:00:00"
    )
    chart_time: Mapped[time] = mapped_column(Time, default=time(20, 0), server_default="20:00:00")

    compounds: Mapped[list[Compound]] = relationship(back_populates="community")


class Compound(Base):
    """A 小区: property-managed, or led by its former managing unit (牵头单位)."""

    __tablename__ = "compounds"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    property_managed: Mapped[bool] = mapped_column(Boolean, default=True)
    property_company: Mapped[str | None] = mapped_column(String(200))
    lead_unit: Mapped[str | None] = mapped_column(String(200))
    manager_name: Mapped[str | None] = mapped_column(String(80))
    manager_phone: Mapped[str | None] = mapped_column(String(32))
    stationed_name: Mapped[str | None] = mapped_column(String(80))
    stationed_phone: Mapped[str | None] = mapped_column(String(32))

    community: Mapped[Community] = relationship(back_populates="compounds")
    buildings: Mapped[list[Building]] = relationship(back_populates="compound")


class Grid(Base):
    """A 网格: a set of buildings with responsible grid workers (role grants scoped to it)."""

    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("compound_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id", ondelete="CASCADE"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(40))

    compound: Mapped[Compound] = relationship(back_populates="buildings")
    units: Mapped[list[Unit]] = relationship(back_populates="building")


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("building_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))

    building: Mapped[Building] = relationship(back_populates="units")
    households: Mapped[list[Household]] = relationship(back_populates="unit")


class Household(Base):
    """One room of the community's register; the unit of "not one household missed"."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("unit_id", "room"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    room: Mapped[str] = mapped_column(String(20))
    landlord_rents_out: Mapped[bool] = mapped_column(Boolean, default=False)

    unit: Mapped[Unit] = relationship(back_populates="households")
    members: Mapped[list[Person]] = relationship(back_populates="household")


class Person(Base):
    """A resident, an officer or both. `telegram_user_id` is empty for members
    without Telegram, for whom the head of household reports."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(32))
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)
    relation: Mapped[str | None] = mapped_column(String(40))
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    unreachable_since: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]

    household: Mapped[Household | None] = relationship(back_populates="members")


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (Index("ix_role_grants_person_active", "person_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(24))
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[int] = mapped_column(BigInteger)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))


class Consent(Base):
    """Every consent decision, with the exact text version shown (R-REG, R-PRIV)."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    text_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8))
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


class GroupChat(Base):
    """An owners' group chat bound to its compound (R-GRP)."""

    __tablename__ = "group_chats"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(255))
    bound_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    bound_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RiskArea(Base):
    __tablename__ = "risk_areas"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    place_code: Mapped[str] = mapped_column(String(12))
    place_name: Mapped[str] = mapped_column(String(120))
    level: Mapped[str] = mapped_column(String(12))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    added_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))


class Report(Base):
    """A resident's report. Kind-specific fields live in `details` (JSON)."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_community_created", "community_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    origin_code: Mapped[str | None] = mapped_column(String(12))
    arrival_date: Mapped[date | None] = mapped_column(Date)
    risk_level: Mapped[str | None] = mapped_column(String(12))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Identical reports sent twice (double tap, retry) collapse onto one row.
    dedup_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]


class Isolation(Base):
    """A home isolation. Day 1 is `start_date` (the arrival date); `end_date` is the
    last day, which still gets its check-in; release is at the end of that day."""

    __tablename__ = "isolations"
    __table_args__ = (Index("ix_isolations_status", "status", "end_date"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=IsolationStatus.ACTIVE)
    # The monitoring category (R-CAT) and the first day of the current category: test
    # days count from it; a step-down changes both and keeps the row (and its history).
    category: Mapped[str] = mapped_column(String(16), default="home_isolation")
    category_start: Mapped[date | None] = mapped_column(Date)
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    end_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class CheckIn(Base):
    """One day of one isolation; exactly one row per (isolation, day)."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("isolation_id", "day"),
        Index("ix_checkins_day_status", "day", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    isolation_id: Mapped[int] = mapped_column(ForeignKey("isolations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    day_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=CheckInStatus.PENDING)
    temperature: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    symptoms: Mapped[list[str]] = mapped_column(JSON, default=list)
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class Case(Base):
    """An escalation (R-ESC): a card in the officers' channel with a history."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_community_status", "community_id", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN)
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compounds.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    isolation_id: Mapped[int | None] = mapped_column(ForeignKey("isolations.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    card_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    dedup_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    last_alert_at: Mapped[datetime | None]
    alert_count: Mapped[int] = mapped_column(Integer, default=0)


class CaseEvent(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    action: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class Notice(Base):
    """An official notice (R-NOT): composed, previewed, sent now / later / repeatedly."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    text: Mapped[str] = mapped_column(Text)
    template_key: Mapped[str | None] = mapped_column(String(64))
    media_kind: Mapped[str | None] = mapped_column(String(12))
    media_file_id: Mapped[str | None] = mapped_column(String(255))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pin: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=NoticeStatus.DRAFT)
    send_at: Mapped[datetime | None]
    repeat: Mapped[str | None] = mapped_column(String(12))
    card_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class Delivery(Base):
    """The outbox: one message the bot sends on its own initiative.

    `dedup_key` makes enqueueing idempotent (a job that runs twice adds nothing);
    the sender claims rows, sends, and records the Telegram message id.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "not_before"),
        Index("ix_deliveries_chat", "chat_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    is_group: Mapped[bool] = mapped_column(Boolean, default=False)
    method: Mapped[str] = mapped_column(String(32), default="sendMessage")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    pin: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class Gate(Base):
    __tablename__ = "gates"
    __table_args__ = (UniqueConstraint("compound_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    # The secret in the gate's QR deep link; rotating it retires printed posters.
    token: Mapped[str] = mapped_column(String(32), unique=True)


class GateEntry(Base):
    """One passage through a gate (R-GATE): entry or exit, with temperature."""

    __tablename__ = "gate_entries"
    __table_args__ = (Index("ix_gate_entries_compound_at", "compound_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id", ondelete="CASCADE"))
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(4))
    subject_kind: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    name: Mapped[str | None] = mapped_column(String(80))
    origin_code: Mapped[str | None] = mapped_column(String(12))
    plate: Mapped[str | None] = mapped_column(String(16))
    temperature: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    self_recorded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime]


class ScreeningVisit(Base):
    """A household screened (R-COV): at the door by a grid worker, or confirmed by
    the household itself in the bot."""

    __tablename__ = "screening_visits"
    __table_args__ = (Index("ix_screening_household_at", "household_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(12))
    fever_found: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    self_reported: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime]


class AuditEntry(Base):
    """Every change of data and every officer action, with who and when (R-AUD)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class UserPreference(Base):
    """Choices a Telegram user makes before (or without) consenting: the language.
    Not personal data beyond the Telegram id the chat itself needs."""

    __tablename__ = "user_preferences"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime]


class FsmRecord(Base):
    """aiogram FSM state and data, so a conversation survives a restart."""

    __tablename__ = "fsm_records"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class JobRun(Base):
    """A durable fact that a scheduled job did its work for a period (e.g. one
    compound's public posting for one day), so a job that runs twice does no harm."""

    __tablename__ = "job_runs"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    at: Mapped[datetime]


class MonitoringEvent(Base):
    """The history of one monitoring (R-CAT): started, category changed, stepped down,
    extended, ended, handed off to central quarantine; with who, why and from where."""

    __tablename__ = "monitoring_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    isolation_id: Mapped[int] = mapped_column(
        ForeignKey("isolations.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    category_from: Mapped[str | None] = mapped_column(String(16))
    category_to: Mapped[str | None] = mapped_column(String(16))
    end_from: Mapped[date | None] = mapped_column(Date)
    end_to: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    at: Mapped[datetime]


class MonitoringTest(Base):
    """One required test day of a monitoring (e.g. day 1, 4, 7): reminded, recorded as
    done by the person or staff, or missed (a case)."""

    __tablename__ = "monitoring_tests"
    __table_args__ = (UniqueConstraint("isolation_id", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    isolation_id: Mapped[int] = mapped_column(ForeignKey("isolations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    day_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class ImportBatch(Base):
    """An assignment list received from the CDC / street office, parsed and matched to
    the register, waiting for the officer's review before anything starts."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200))
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="review")
    created_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]


class InboxUpdate(Base):
    """An update received from Telegram, stored before it is acknowledged (the next
    getUpdates offset, or the webhook's 200) and marked done in the transaction of the
    handler that processed it. Rows not done are replayed at start (bot/core/inbox.py)."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "done_at", "update_id"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class LeaderTerm(Base):
    """The leader's fencing token (issue 17): one row, whose `epoch` a new leader
    increments when it takes the advisory lock. The sender's claim statement only
    claims rows while the epoch is still its own, so an old leader that has not yet
    noticed it lost the lock claims nothing; `holder` names the leading process."""

    __tablename__ = "leader_terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str] = mapped_column(String(80), default="")
    since: Mapped[datetime | None]
