"""After-market orders: a leader snapshot and a follower intent say whether the order is an AMO
and, when the broker says, its AMO time, so a copy of an AMO is placed as one.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("leader_orders", "follower_intents")


def upgrade() -> None:
    """Add ``after_market_order`` (false for every existing row) and ``amo_time``."""
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "after_market_order", sa.Boolean(), server_default=sa.false(), nullable=False
                )
            )
            batch.add_column(sa.Column("amo_time", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Drop the two columns."""
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("amo_time")
            batch.drop_column("after_market_order")
