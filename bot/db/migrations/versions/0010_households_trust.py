"""trust: join requests, invitations, per-chat community, consent decline counter,
staff-registered persons, audit community (issue 10)

Revision ID: 0010
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0010"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = bot.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("join_fallback_minutes", sa.Integer(), server_default="720", nullable=False)
        )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registered_by_staff_id", PK, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_persons_registered_by_staff_id_persons"),
            "persons",
            ["registered_by_staff_id"],
            ["id"],
        )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("community_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_audit_log_community_id"), ["community_id"], unique=False
        )
    op.create_table(
        "join_requests",
        sa.Column("id", PK, nullable=False),
        sa.Column("household_id", PK, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("escalated_at", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decided_by_id", PK, nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["persons.id"], name=op.f("fk_join_requests_decided_by_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_join_requests_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_requests")),
    )
    with op.batch_alter_table("join_requests", schema=None) as batch_op:
        batch_op.create_index("ix_join_requests_status", ["status", "created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_join_requests_telegram_user_id"), ["telegram_user_id"], unique=False
        )
    op.create_table(
        "invitations",
        sa.Column("id", PK, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("household_id", PK, nullable=False),
        sa.Column("member_id", PK, nullable=True),
        sa.Column("created_by_id", PK, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("used_by_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["persons.id"], name=op.f("fk_invitations_created_by_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_invitations_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["persons.id"],
            name=op.f("fk_invitations_member_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token", name=op.f("uq_invitations_token")),
    )
    op.create_table(
        "chat_communities",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("community_id", PK, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_chat_communities_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", "telegram_user_id", name=op.f("pk_chat_communities")),
    )
    op.create_table(
        "consent_declines",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("text_version", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "text_version", "locale", name=op.f("pk_consent_declines")),
    )


def downgrade() -> None:
    op.drop_table("consent_declines")
    op.drop_table("chat_communities")
    op.drop_table("invitations")
    with op.batch_alter_table("join_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_join_requests_telegram_user_id"))
        batch_op.drop_index("ix_join_requests_status")
    op.drop_table("join_requests")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_community_id"))
        batch_op.drop_column("community_id")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_persons_registered_by_staff_id_persons"), type_="foreignkey"
        )
        batch_op.drop_column("registered_by_staff_id")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("join_fallback_minutes")
