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
    ROUND_MISSED = "round_missed"
    ROUND_POSITIVE = "round_positive"
    SCREEN_REFUSED = "screen_refused"
    SCREEN_NO_ANSWER = "screen_no_answer"
    SCREEN_FEVER = "screen_fever"
    GATE_MONITORED = "gate_monitored"
    MISSED_TEST = "missed_test"
    NOT_IN_REGISTER = "not_in_register"
    RISK_MATCH = "risk_match"
    MEDICAL = "medical"  # urgent medicine or medical need under a seal (R-SUPPLY)
    SUPPLY_OVERDUE = "supply_overdue"
    CARE_CHECK = "care_check"  # a person who needs care did not answer (R-CARE)


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
    # A join request the head has not answered in this time goes to the grid worker /
    # officers of the compound (R-HH).
    join_fallback_minutes: Mapped[int] = mapped_column(Integer, default=720, server_default="720")

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
    members: Mapped[list[Person]] = relationship(
        back_populates="household", foreign_keys="Person.household_id"
    )


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
    # Set when an officer or grid worker registered this person on their behalf (R-HH).
    registered_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))

    household: Mapped[Household | None] = relationship(
        back_populates="members", foreign_keys=[household_id]
    )


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
    # "personal" (address, name, phone, household) or "health" (PIPL: sensitive data
    # needs its own consent); a withdrawal is a row with granted = False.
    purpose: Mapped[str] = mapped_column(String(16), default="personal", server_default="personal")
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
    __table_args__ = (
        Index("ix_isolations_status", "status", "end_date"),
        # The check-in tick's per-community lookups (migration 0022).
        Index("ix_isolations_community", "community_id", "status"),
    )

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
    #: The bot that sends it (its id, the token's number; migration 0020): one database
    #: can serve several bots, one per district, each sending only its own rows. NULL:
    #: any bot (rows written without a bot, e.g. before 0020).
    bot_id: Mapped[int | None] = mapped_column(BigInteger)
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
    # The community the entry belongs to, so /audit shows an admin only their own.
    community_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # The hash chain (bot/services/audit.py): the previous entry's hash and this one's.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))


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


# ---------------------------------------------------------------- testing rounds (issue 15)


class RoundStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class RoundPersonStatus(enum.StrEnum):
    PENDING = "pending"
    TESTED = "tested"
    EXEMPT = "exempt"
    AWAY = "away"
    POSITIVE = "positive"


class VisitPersonStatus(enum.StrEnum):
    PRESENT = "present"
    AWAY = "away"
    MOVED_OUT = "moved_out"
    NEW = "new"


class PersonCode(Base):
    """The secret of a person's personal QR code (a deep link): unguessable, one per
    person, members without Telegram included (R-ROUND)."""

    __tablename__ = "person_codes"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]


class Round(Base):
    """A mass testing round (全员核酸): a day, a scope and a slot per building."""

    __tablename__ = "test_rounds"
    __table_args__ = (Index("ix_test_rounds_community_day", "community_id", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    # {"type": "community" | "compounds" | "buildings", "ids": [...]}
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "everyone", or a monitoring category ("isolated")
    required: Mapped[str] = mapped_column(String(24), default="everyone")
    status: Mapped[str] = mapped_column(String(12), default=RoundStatus.DRAFT)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime]
    announced_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))


class RoundSlot(Base):
    """When and where one building of a round is tested."""

    __tablename__ = "round_slots"
    __table_args__ = (UniqueConstraint("round_id", "building_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("test_rounds.id", ondelete="CASCADE"))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    site: Mapped[str] = mapped_column(String(80))


class RoundPerson(Base):
    """One expected person of a round: exactly one row per (round, person), so each
    person counts once however often they are scanned."""

    __tablename__ = "round_people"
    __table_args__ = (
        UniqueConstraint("round_id", "person_id"),
        Index("ix_round_people_progress", "round_id", "building_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("test_rounds.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    door_to_door: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=RoundPersonStatus.PENDING)
    method: Mapped[str | None] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    marked_at: Mapped[datetime | None]
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))


class ScreeningVisitPerson(Base):
    """A person seen (or not) at a door visit: present / away / moved out / new, with
    a temperature or a fever found. A new person is a pending record until staff
    confirm it into the register (`person_id` is then set)."""

    __tablename__ = "screening_visit_people"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    visit_id: Mapped[int] = mapped_column(
        ForeignKey("screening_visits.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12))
    temperature: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    fever: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime | None]


# --- privacy (issue 11): retention purge, deletion requests, audit checkpoints ---------

# Foreign keys the purge deletes through: without an index, deleting one check-in, report,
# case or isolation scans the whole referring table (the outbox is the largest of all).
# The check-in tick also finds a community's prompts by check-in through it.
Index("ix_deliveries_checkin_id", Delivery.checkin_id)
Index("ix_deliveries_case_id", Delivery.case_id)
Index("ix_isolations_report_id", Isolation.report_id)
Index("ix_cases_report_id", Case.report_id)
Index("ix_cases_isolation_id", Case.isolation_id)


class AuditCheckpoint(Base):
    """Where the audit chain continues after the purge removed its oldest entries: the
    last removed id and its hash, so the first remaining entry still verifies."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    upto_id: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))
    removed: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime]


class PurgeRun(Base):
    """One run of the retention purge: when, and how many rows per category."""

    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DailyCount(Base):
    """Aggregates kept after the purge, without identities (history for officers)."""

    __tablename__ = "daily_counts"
    __table_args__ = (UniqueConstraint("community_id", "day", "category"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)


class DataRequest(Base):
    """A resident's deletion request or consent withdrawal (R-PRIV). While `open`, the
    household's check-ins stop (withdrawal); it is carried out once nothing legally open
    remains, after an officer confirms or automatically after DELETION_AUTO_DAYS."""

    __tablename__ = "data_requests"
    __table_args__ = (Index("ix_data_requests_status", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(24))


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

    #: The bot that received it (migration 0020): update ids are per bot, so several bots
    #: on one database keep their inboxes apart; 0 for rows from before.
    bot_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, server_default="0"
    )
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


# ---------------------------------------------------------------- issue 16: sealed buildings


class PlaceLevel(enum.StrEnum):
    """A place's status (R-SEAL), least to most severe."""

    NORMAL = "normal"
    PRECAUTION = "precaution"  # 防范
    CONTROLLED = "controlled"  # 管控: no leaving the compound
    SEALED = "sealed"  # 封控: no leaving home


class PlaceStatus(Base):
    """A status of a compound, a building or a unit from `starts_at` until it is ended
    (`ended_at`); rows are never deleted, so the history stays for the ledger."""

    __tablename__ = "place_statuses"
    __table_args__ = (Index("ix_place_statuses_compound_ended", "compound_id", "ended_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id", ondelete="CASCADE"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime]
    planned_end: Mapped[date | None] = mapped_column(Date)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime]


class SupplyRequest(Base):
    """A household's request for supplies or medicine while its place is controlled
    (R-SUPPLY): open → taken (by a volunteer) → delivered → confirmed, or problem."""

    __tablename__ = "supply_requests"
    __table_args__ = (Index("ix_supply_requests_building_status", "building_id", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    prescription_file_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(12), default="open")
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    taken_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    delivery_photo_file_id: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None]
    problem_note: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class CareFlag(Base):
    """A person who needs care (R-CARE): elderly living alone, pregnant, dialysis, … ."""

    __tablename__ = "care_flags"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(200))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class CareCheck(Base):
    """One day's contact check of a person who needs care while their place is
    controlled or sealed: pending → fine / help, or missed (a call task for the grid
    worker). One row per (person, day)."""

    __tablename__ = "care_checks"
    __table_args__ = (UniqueConstraint("person_id", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    asked_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))


class Shift(Base):
    """A duty shift (R-ROSTER): gate duty, door screening, test-site help, deliveries."""

    __tablename__ = "shifts"
    __table_args__ = (Index("ix_shifts_starts_at", "starts_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    slots: Mapped[int] = mapped_column(Integer, default=1)
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class ShiftSignup(Base):
    """A volunteer on a shift; `confirmed_at` is the start-of-shift self-check (mask worn,
    temperature normal)."""

    __tablename__ = "shift_signups"
    __table_args__ = (UniqueConstraint("shift_id", "person_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    signed_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class DistributionRound(Base):
    """A standard distribution to every household of a building (e.g. a vegetable pack
    a day), ticked per household like a testing round (R-SUPPLY)."""

    __tablename__ = "distribution_rounds"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(80))
    day: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class RoundTick(Base):
    """One household's delivery in a distribution round."""

    __tablename__ = "round_ticks"
    __table_args__ = (UniqueConstraint("round_id", "household_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("distribution_rounds.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    at: Mapped[datetime]


# ---------------------------------------------------------------- households and trust (R-HH)


class JoinRequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class JoinRequest(Base):
    """Someone asked to join a household that already exists (R-HH). Until the head
    (or, after `join_fallback_minutes`, a grid worker / officer) approves, the applicant
    is no member and sees nothing of the household. Name and phone wait here."""

    __tablename__ = "join_requests"
    __table_args__ = (Index("ix_join_requests_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default=JoinRequestStatus.PENDING)
    created_at: Mapped[datetime]
    escalated_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))


class Invitation(Base):
    """A one-time `join_<token>` deep link made by the head (R-HH): for the household,
    or bound to one listed member without Telegram who then takes over their record."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None]


class ChatCommunity(Base):
    """The community a staff member with roles in several communities chose to act in,
    remembered per chat (R-RBAC)."""

    __tablename__ = "chat_communities"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime]


class ConsentDecline(Base):
    """Declined consents, counted per day and text version: nothing identifies who."""

    __tablename__ = "consent_declines"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    text_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class LeaderTerm(Base):
    """The leader's fencing token (issue 17): one row per bot (`id` is the bot's id,
    migration 0020), whose `epoch` a new leader of that bot increments when it takes the
    bot's advisory lock. The sender's claim statement only claims rows while the epoch
    is still its own, so an old leader that has not yet noticed it lost the lock claims
    nothing; `holder` names the leading process."""

    __tablename__ = "leader_terms"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str] = mapped_column(String(80), default="")
    since: Mapped[datetime | None]
