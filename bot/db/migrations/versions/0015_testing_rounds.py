"""testing rounds, personal codes, people seen at door visits (issue 15)

Revision ID: 0015
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import BigIntPK, UTCDateTime

revision: str = "0015"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_codes",
        sa.Column("person_id", BigIntPK, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_codes_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_codes")),
        sa.UniqueConstraint("token", name=op.f("uq_person_codes_token")),
    )  # fmt: skip
    op.create_table(
        "test_rounds",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("community_id", BigIntPK, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("required", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("announced_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by_id", BigIntPK, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"],
            name=op.f("fk_test_rounds_community_id_communities"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["persons.id"], name=op.f("fk_test_rounds_created_by_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["persons.id"], name=op.f("fk_test_rounds_closed_by_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_rounds")),
    )  # fmt: skip
    op.create_index("ix_test_rounds_community_day", "test_rounds", ["community_id", "day"])
    op.create_table(
        "round_slots",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("round_id", BigIntPK, nullable=False),
        sa.Column("building_id", BigIntPK, nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("site", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["test_rounds.id"], name=op.f("fk_round_slots_round_id_test_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_round_slots_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_slots")),
        sa.UniqueConstraint("round_id", "building_id", name=op.f("uq_round_slots_round_id")),
    )  # fmt: skip
    op.create_table(
        "round_people",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("round_id", BigIntPK, nullable=False),
        sa.Column("person_id", BigIntPK, nullable=False),
        sa.Column("household_id", BigIntPK, nullable=True),
        sa.Column("building_id", BigIntPK, nullable=True),
        sa.Column("grid_id", BigIntPK, nullable=True),
        sa.Column("door_to_door", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo_file_id", sa.String(length=255), nullable=True),
        sa.Column("marked_at", UTCDateTime(), nullable=True),
        sa.Column("marked_by_id", BigIntPK, nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"], ["test_rounds.id"], name=op.f("fk_round_people_round_id_test_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_round_people_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"],
            name=op.f("fk_round_people_household_id_households"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_round_people_building_id_buildings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_round_people_grid_id_grids"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["marked_by_id"], ["persons.id"], name=op.f("fk_round_people_marked_by_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_people")),
        sa.UniqueConstraint("round_id", "person_id", name=op.f("uq_round_people_round_id")),
    )  # fmt: skip
    op.create_index(
        "ix_round_people_progress", "round_people", ["round_id", "building_id", "status"]
    )
    op.create_table(
        "screening_visit_people",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("visit_id", BigIntPK, nullable=False),
        sa.Column("person_id", BigIntPK, nullable=True),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("temperature", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("fever", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["screening_visits.id"],
            name=op.f("fk_screening_visit_people_visit_id_screening_visits"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"],
            name=op.f("fk_screening_visit_people_person_id_persons"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_visit_people")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_screening_visit_people_visit_id"), "screening_visit_people", ["visit_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_screening_visit_people_visit_id"), table_name="screening_visit_people")
    op.drop_table("screening_visit_people")
    op.drop_index("ix_round_people_progress", table_name="round_people")
    op.drop_table("round_people")
    op.drop_table("round_slots")
    op.drop_index("ix_test_rounds_community_day", table_name="test_rounds")
    op.drop_table("test_rounds")
    op.drop_table("person_codes")
