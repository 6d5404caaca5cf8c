"""Positions: each account's net quantity per instrument and product, the fills counted in
them (one row per broker order), and the exit bases recorded at a leader order's first sight.

The open plain leader orders get a partial index by security: the leader's pending exits.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``positions``, ``position_fills`` and ``exit_bases`` (empty: positions are
    learned from the broker at the next start), and the partial index of the open plain
    leader orders by security (the leader's pending exits)."""
    with op.batch_alter_table("leader_orders") as batch:
        batch.create_index(
            batch.f("ix_leader_orders_security_id"),
            ["security_id"],
            sqlite_where=sa.text("is_terminal = 0 AND leg_name = ''"),
            postgresql_where=sa.text("is_terminal = false AND leg_name = ''"),
        )
    op.create_table(
        "positions",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("exchange_segment", sa.String(length=16), nullable=False),
        sa.Column("security_id", sa.String(length=32), nullable=False),
        sa.Column("product_type", sa.String(length=16), nullable=False),
        sa.Column("net_qty", sa.BigInteger(), nullable=False),
        sa.Column("carried_qty", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "account",
            "exchange_segment",
            "security_id",
            "product_type",
            name=op.f("pk_positions"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "position_fills",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("exchange_segment", sa.String(length=16), nullable=False),
        sa.Column("security_id", sa.String(length=32), nullable=False),
        sa.Column("product_type", sa.String(length=16), nullable=False),
        sa.Column("transaction_type", sa.String(length=8), nullable=False),
        sa.Column("filled_qty", sa.BigInteger(), nullable=False),
        sa.Column("previous_qty", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "order_id", name=op.f("pk_position_fills")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "exit_bases",
        sa.Column("leader_order_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("qty >= 0", name=op.f("ck_exit_bases_qty")),
        sa.PrimaryKeyConstraint("leader_order_id", "account", name=op.f("pk_exit_bases")),
    )


def downgrade() -> None:
    """Drop the three tables and the index."""
    with op.batch_alter_table("leader_orders") as batch:
        batch.drop_index(batch.f("ix_leader_orders_security_id"))
    op.drop_table("exit_bases")
    op.drop_table("position_fills")
    op.drop_table("positions")
