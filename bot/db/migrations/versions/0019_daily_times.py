"""communities: the grid workers' daily list and the daily chart at set local times

Revision ID: 0019
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("coverage_list_time", sa.Time(), server_default="08:00:00", nullable=False)
        )
        batch_op.add_column(
            sa.Column("chart_time", sa.Time(), server_default="20:00:00", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("chart_time")
        batch_op.drop_column("coverage_list_time")
