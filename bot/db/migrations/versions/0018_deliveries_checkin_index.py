"""deliveries: index by check-in (the check-in tick's prompt/reminder lookups, issue 17)

At a city's scale (bench/city.py: 335,000 deliveries) the check-in tick's UPDATE of a
community's open prompts by `checkin_id` read the whole outbox once per community; with
this index a 150-community tick takes half the time.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_checkin", ["checkin_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_checkin")
