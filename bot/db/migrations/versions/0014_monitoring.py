"""monitoring categories, history, test days and assignment-list imports (issue 14)

Revision ID: 0014
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import BigIntPK, UTCDateTime

revision: str = "0014"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("monitoring_rules", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("isolations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "category", sa.String(length=16), nullable=False, server_default="home_isolation"
            )
        )
        batch_op.add_column(sa.Column("category_start", sa.Date(), nullable=True))
    op.create_table(
        "monitoring_events",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("isolation_id", BigIntPK, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("category_from", sa.String(length=16), nullable=True),
        sa.Column("category_to", sa.String(length=16), nullable=True),
        sa.Column("end_from", sa.Date(), nullable=True),
        sa.Column("end_to", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("actor_id", BigIntPK, nullable=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["persons.id"],
            name=op.f("fk_monitoring_events_actor_id_persons"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["isolation_id"], ["isolations.id"],
            name=op.f("fk_monitoring_events_isolation_id_isolations"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_events")),
    )  # fmt: skip
    with op.batch_alter_table("monitoring_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitoring_events_isolation_id"), ["isolation_id"], unique=False
        )
    op.create_table(
        "monitoring_tests",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("isolation_id", BigIntPK, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("day_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", BigIntPK, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["done_by_id"], ["persons.id"],
            name=op.f("fk_monitoring_tests_done_by_id_persons"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["isolation_id"], ["isolations.id"],
            name=op.f("fk_monitoring_tests_isolation_id_isolations"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_tests")),
        sa.UniqueConstraint("isolation_id", "day", name=op.f("uq_monitoring_tests_isolation_id")),
    )  # fmt: skip
    op.create_table(
        "import_batches",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("community_id", BigIntPK, nullable=False),
        sa.Column("created_by_id", BigIntPK, nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"],
            name=op.f("fk_import_batches_community_id_communities"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["persons.id"],
            name=op.f("fk_import_batches_created_by_id_persons"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("import_batches")
    op.drop_table("monitoring_tests")
    with op.batch_alter_table("monitoring_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_events_isolation_id"))
    op.drop_table("monitoring_events")
    with op.batch_alter_table("isolations", schema=None) as batch_op:
        batch_op.drop_column("category_start")
        batch_op.drop_column("category")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("monitoring_rules")
