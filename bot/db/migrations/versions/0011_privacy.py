"""privacy: consent purposes, audit hash chain and checkpoints, purge runs, daily counts,
deletion requests (issue 11)

Revision ID: 0011
Revises: 0015 (main's head at the merge)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0011"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = bot.db.types.UTCDateTime(timezone=True)


FK_INDEXES = (
    ("deliveries", "ix_deliveries_checkin_id", "checkin_id"),
    ("deliveries", "ix_deliveries_case_id", "case_id"),
    ("isolations", "ix_isolations_report_id", "report_id"),
    ("cases", "ix_cases_report_id", "report_id"),
    ("cases", "ix_cases_isolation_id", "isolation_id"),
)


def upgrade() -> None:
    for table, name, column in FK_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, [column], unique=False)
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="personal", nullable=False)
        )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", PK, nullable=False),
        sa.Column("upto_id", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "purge_runs",
        sa.Column("id", PK, nullable=False),
        sa.Column("started_at", AT, nullable=False),
        sa.Column("finished_at", AT, nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_runs")),
    )
    op.create_table(
        "daily_counts",
        sa.Column("id", PK, nullable=False),
        sa.Column("community_id", PK, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"],
            name=op.f("fk_daily_counts_community_id_communities"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_counts")),
        sa.UniqueConstraint(
            "community_id", "day", "category", name=op.f("uq_daily_counts_community_id")
        ),
    )  # fmt: skip
    op.create_table(
        "data_requests",
        sa.Column("id", PK, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("person_id", PK, nullable=True),
        sa.Column("household_id", PK, nullable=True),
        sa.Column("community_id", PK, nullable=True),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("requested_at", AT, nullable=False),
        sa.Column("due_at", AT, nullable=False),
        sa.Column("decided_at", AT, nullable=True),
        sa.Column("decided_by_id", PK, nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"],
            name=op.f("fk_data_requests_community_id_communities"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["persons.id"],
            name=op.f("fk_data_requests_decided_by_id_persons"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"],
            name=op.f("fk_data_requests_household_id_households"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"],
            name=op.f("fk_data_requests_person_id_persons"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_requests")),
    )  # fmt: skip
    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.create_index("ix_data_requests_status", ["status", "due_at"], unique=False)


def downgrade() -> None:
    for table, name, _ in FK_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_data_requests_status")
    op.drop_table("data_requests")
    op.drop_table("daily_counts")
    op.drop_table("purge_runs")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("purpose")
