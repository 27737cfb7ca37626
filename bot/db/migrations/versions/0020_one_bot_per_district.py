"""several bots on one database (one per district), and the city day's indexes (issue 17)

- deliveries.bot_id: the bot that sends the row (NULL: any bot); each bot's sender
  claims only its own rows.
- inbox: keyed by (bot_id, update_id): update ids are counted per bot, so two bots'
  updates 1, 2, 3 … must not be taken for each other. Existing rows get bot 0.
- leader_terms.id: the bot's id (a BIGINT), one fencing epoch per bot.

Revision ID: 0020
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _inbox(name: str, key: list[str]) -> None:
    columns = [sa.Column("bot_id", sa.BigInteger(), server_default="0", nullable=False)]
    op.create_table(
        name,
        *(columns if "bot_id" in key else []),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(*key, name="pk_inbox"),
    )


def _rekey_inbox(key: list[str]) -> None:
    """Give the inbox its new primary key: ALTER on PostgreSQL, a copy on SQLite (which
    cannot change a primary key in place)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_inbox", "inbox", type_="primary")
        if "bot_id" not in key:
            op.execute("DELETE FROM inbox WHERE bot_id <> 0")
        op.create_primary_key("pk_inbox", "inbox", key)
        return
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.rename_table("inbox", "inbox_old")
    _inbox("inbox", key)
    where = "" if "bot_id" in key else " WHERE bot_id = 0"
    op.execute(
        "INSERT INTO inbox (update_id, payload, received_at, done_at)"
        f" SELECT update_id, payload, received_at, done_at FROM inbox_old{where}"
    )
    op.drop_table("inbox_old")
    op.create_index("ix_inbox_pending", "inbox", ["done_at", "update_id"], unique=False)


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bot_id", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "inbox", sa.Column("bot_id", sa.BigInteger(), server_default="0", nullable=False)
        )
    _rekey_inbox(["bot_id", "update_id"])
    with op.batch_alter_table("leader_terms", schema=None) as batch_op:
        batch_op.alter_column(
            "id", existing_type=sa.Integer(), type_=sa.BigInteger()
        )


def downgrade() -> None:
    with op.batch_alter_table("leader_terms", schema=None) as batch_op:
        batch_op.alter_column(
            "id", existing_type=sa.BigInteger(), type_=sa.Integer()
        )
    _rekey_inbox(["update_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("inbox", "bot_id")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("bot_id")
