"""deliveries: drop ix_deliveries_checkin, a twin of ix_deliveries_checkin_id

Migration 0018 indexed deliveries by check-in for the check-in tick, but 0011 already had
the same index (`ix_deliveries_checkin_id`, for the retention purge). Two identical
indexes cost every insert into the outbox twice; the lookups use either one.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_checkin")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_checkin", ["checkin_id"], unique=False)
