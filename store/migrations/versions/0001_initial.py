"""Initial journal schema: leader events and snapshots, follower intents, bracket legs,
account marks, actor restarts, follower flags and the audit outbox.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every journal table."""
    op.create_table(
        "account_marks",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "name", name=op.f("pk_account_marks")),
    )
    op.create_table(
        "actor_restarts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actor_restarts")),
    )
    with op.batch_alter_table("actor_restarts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actor_restarts_actor"), ["actor"], unique=False)

    op.create_table(
        "audit_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_outbox")),
    )
    op.create_table(
        "follower_flags",
        sa.Column("follower", sa.String(length=64), nullable=False),
        sa.Column("quarantined", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("follower", name=op.f("pk_follower_flags")),
    )
    op.create_table(
        "follower_intents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("follower", sa.String(length=64), nullable=False),
        sa.Column("leader_order_id", sa.String(length=64), nullable=False),
        sa.Column("leg", sa.String(length=32), nullable=False),
        sa.Column("correlation_id", sa.String(length=30), nullable=False),
        sa.Column("transaction_type", sa.String(length=8), nullable=False),
        sa.Column("exchange_segment", sa.String(length=16), nullable=False),
        sa.Column("product_type", sa.String(length=16), nullable=False),
        sa.Column("order_type", sa.String(length=24), nullable=False),
        sa.Column("validity", sa.String(length=8), nullable=True),
        sa.Column("security_id", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("trigger_price", sa.Double(), nullable=False),
        sa.Column("bo_profit_value", sa.Double(), nullable=True),
        sa.Column("bo_stop_loss_value", sa.Double(), nullable=True),
        sa.Column("target_price", sa.Double(), nullable=True),
        sa.Column("stop_loss_price", sa.Double(), nullable=True),
        sa.Column("trailing_jump", sa.Double(), nullable=True),
        sa.Column("desired_open", sa.Boolean(), nullable=False),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("desired_version", sa.Integer(), nullable=False),
        sa.Column("applied_version", sa.Integer(), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("broker_status", sa.String(length=16), nullable=True),
        sa.Column("filled_qty", sa.Integer(), nullable=False),
        sa.Column("modifications", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('PLANNED', 'SENDING', 'WORKING', 'MODIFYING', 'CANCELLING', "
            "'UNKNOWN', 'DONE', 'REJECTED', 'FAILED', 'SKIPPED')",
            name=op.f("ck_follower_intents_state"),
        ),
        sa.CheckConstraint(
            "desired_version >= 1 AND applied_version >= 0",
            name=op.f("ck_follower_intents_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follower_intents")),
        sa.UniqueConstraint("correlation_id", name=op.f("uq_follower_intents_correlation_id")),
        sa.UniqueConstraint(
            "leader_order_id",
            "follower",
            "leg",
            name=op.f("uq_follower_intents_leader_order_id_follower_leg"),
        ),
    )
    with op.batch_alter_table("follower_intents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_follower_intents_state_follower"), ["state", "follower"], unique=False
        )

    op.create_table(
        "leader_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("leader_order_id", sa.String(length=64), nullable=False),
        sa.Column("leg_name", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filled_qty", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leader_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_leader_events_dedupe_key")),
    )
    op.create_table(
        "leader_orders",
        sa.Column("leader_order_id", sa.String(length=64), nullable=False),
        sa.Column("leg_name", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_terminal", sa.Boolean(), nullable=False),
        sa.Column("transaction_type", sa.String(length=8), nullable=False),
        sa.Column("exchange_segment", sa.String(length=16), nullable=False),
        sa.Column("product_type", sa.String(length=16), nullable=False),
        sa.Column("order_type", sa.String(length=24), nullable=False),
        sa.Column("validity", sa.String(length=8), nullable=True),
        sa.Column("security_id", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("filled_qty", sa.Integer(), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("trigger_price", sa.Double(), nullable=False),
        sa.Column("avg_price", sa.Double(), nullable=False),
        sa.Column("bo_profit_value", sa.Double(), nullable=True),
        sa.Column("bo_stop_loss_value", sa.Double(), nullable=True),
        sa.Column("target_price", sa.Double(), nullable=True),
        sa.Column("stop_loss_price", sa.Double(), nullable=True),
        sa.Column("trailing_jump", sa.Double(), nullable=True),
        sa.Column("parent_order_id", sa.String(length=64), nullable=True),
        sa.Column("is_super", sa.Boolean(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("broker_updated_at", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("leader_order_id", "leg_name", name=op.f("pk_leader_orders")),
    )
    op.create_table(
        "bracket_order_legs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "intent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("leg_name", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Double(), nullable=True),
        sa.Column("trigger_price", sa.Double(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("filled_qty", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["follower_intents.id"],
            name=op.f("fk_bracket_order_legs_intent_id_follower_intents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bracket_order_legs")),
        sa.UniqueConstraint(
            "intent_id", "leg_name", name=op.f("uq_bracket_order_legs_intent_id_leg_name")
        ),
    )


def downgrade() -> None:
    """Drop every journal table (loses the journal: for tests and tooling only)."""
    op.drop_table("bracket_order_legs")
    op.drop_table("leader_orders")
    op.drop_table("leader_events")
    with op.batch_alter_table("follower_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follower_intents_state_follower"))

    op.drop_table("follower_intents")
    op.drop_table("follower_flags")
    op.drop_table("audit_outbox")
    with op.batch_alter_table("actor_restarts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actor_restarts_actor"))

    op.drop_table("actor_restarts")
    op.drop_table("account_marks")
