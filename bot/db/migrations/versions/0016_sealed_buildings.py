"""sealed buildings (issue 16): place statuses, supply requests, care flags and checks, duty shifts

Revision ID: 0016
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import BigIntPK, UTCDateTime

revision: str = "0016"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", BigIntPK, nullable=False)


def upgrade() -> None:
    op.create_table(
        "place_statuses",
        _id(),
        sa.Column("community_id", BigIntPK, nullable=False),
        sa.Column("compound_id", BigIntPK, nullable=False),
        sa.Column("building_id", BigIntPK, nullable=True),
        sa.Column("unit_id", BigIntPK, nullable=True),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("set_by_id", BigIntPK, nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], name=op.f("fk_place_statuses_community_id_communities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compounds.id"], name=op.f("fk_place_statuses_compound_id_compounds"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], name=op.f("fk_place_statuses_building_id_buildings"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_place_statuses_unit_id_units"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["set_by_id"], ["persons.id"], name=op.f("fk_place_statuses_set_by_id_persons")),
        sa.ForeignKeyConstraint(["ended_by_id"], ["persons.id"], name=op.f("fk_place_statuses_ended_by_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_statuses")),
    )  # fmt: skip
    op.create_index(
        "ix_place_statuses_compound_ended", "place_statuses", ["compound_id", "ended_at"]
    )
    op.create_table(
        "supply_requests",
        _id(),
        sa.Column("community_id", BigIntPK, nullable=False),
        sa.Column("household_id", BigIntPK, nullable=False),
        sa.Column("building_id", BigIntPK, nullable=False),
        sa.Column("requester_id", BigIntPK, nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("prescription_file_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("volunteer_id", BigIntPK, nullable=True),
        sa.Column("taken_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery_photo_file_id", sa.String(length=255), nullable=True),
        sa.Column("confirmed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("problem_note", sa.Text(), nullable=True),
        sa.Column("case_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], name=op.f("fk_supply_requests_community_id_communities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_supply_requests_household_id_households"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], name=op.f("fk_supply_requests_building_id_buildings"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["persons.id"], name=op.f("fk_supply_requests_requester_id_persons"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["volunteer_id"], ["persons.id"], name=op.f("fk_supply_requests_volunteer_id_persons"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_supply_requests_case_id_cases"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_requests")),
    )  # fmt: skip
    op.create_index(
        "ix_supply_requests_building_status", "supply_requests", ["building_id", "status"]
    )
    op.create_table(
        "care_flags",
        _id(),
        sa.Column("person_id", BigIntPK, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("set_by_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_care_flags_person_id_persons"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["set_by_id"], ["persons.id"], name=op.f("fk_care_flags_set_by_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_flags")),
    )  # fmt: skip
    op.create_index(op.f("ix_care_flags_person_id"), "care_flags", ["person_id"])
    op.create_table(
        "care_checks",
        _id(),
        sa.Column("person_id", BigIntPK, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("asked_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_id", BigIntPK, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_care_checks_person_id_persons"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_care_checks_case_id_cases"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_checks")),
        sa.UniqueConstraint("person_id", "day", name=op.f("uq_care_checks_person_id")),
    )  # fmt: skip

    op.create_table(
        "shifts",
        _id(),
        sa.Column("community_id", BigIntPK, nullable=False),
        sa.Column("compound_id", BigIntPK, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("organiser_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], name=op.f("fk_shifts_community_id_communities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compounds.id"], name=op.f("fk_shifts_compound_id_compounds"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organiser_id"], ["persons.id"], name=op.f("fk_shifts_organiser_id_persons"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
    )  # fmt: skip
    op.create_index("ix_shifts_starts_at", "shifts", ["starts_at"])
    op.create_table(
        "shift_signups",
        _id(),
        sa.Column("shift_id", BigIntPK, nullable=False),
        sa.Column("person_id", BigIntPK, nullable=False),
        sa.Column("signed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shift_id"], ["shifts.id"], name=op.f("fk_shift_signups_shift_id_shifts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_shift_signups_person_id_persons"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_signups")),
        sa.UniqueConstraint("shift_id", "person_id", name=op.f("uq_shift_signups_shift_id")),
    )  # fmt: skip

    op.create_table(
        "distribution_rounds",
        _id(),
        sa.Column("community_id", BigIntPK, nullable=False),
        sa.Column("building_id", BigIntPK, nullable=False),
        sa.Column("item", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_by_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], name=op.f("fk_distribution_rounds_community_id_communities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], name=op.f("fk_distribution_rounds_building_id_buildings"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["persons.id"], name=op.f("fk_distribution_rounds_created_by_id_persons"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_rounds")),
    )  # fmt: skip
    op.create_table(
        "round_ticks",
        _id(),
        sa.Column("round_id", BigIntPK, nullable=False),
        sa.Column("household_id", BigIntPK, nullable=False),
        sa.Column("by_id", BigIntPK, nullable=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["distribution_rounds.id"], name=op.f("fk_round_ticks_round_id_distribution_rounds"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_round_ticks_household_id_households"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["by_id"], ["persons.id"], name=op.f("fk_round_ticks_by_id_persons"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_ticks")),
        sa.UniqueConstraint("round_id", "household_id", name=op.f("uq_round_ticks_round_id")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("round_ticks")
    op.drop_table("distribution_rounds")
    op.drop_table("shift_signups")
    op.drop_index("ix_shifts_starts_at", table_name="shifts")
    op.drop_table("shifts")
    op.drop_table("care_checks")
    op.drop_index(op.f("ix_care_flags_person_id"), table_name="care_flags")
    op.drop_table("care_flags")
    op.drop_index("ix_supply_requests_building_status", table_name="supply_requests")
    op.drop_table("supply_requests")
    op.drop_index("ix_place_statuses_compound_ended", table_name="place_statuses")
    op.drop_table("place_statuses")
