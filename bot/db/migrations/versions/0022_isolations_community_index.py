"""isolations: index ix_isolations_community (community_id, status)

The check-in tick runs per community (150 in the city bench): every one of its lookups
starts from "the active isolations of this community", which nothing indexed, so each
community's run scanned the whole table (50,000 rows) several times (issue 17).

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("isolations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_isolations_community", ["community_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("isolations", schema=None) as batch_op:
        batch_op.drop_index("ix_isolations_community")
