"""The open plain leader orders by security: a partial index, so the leader's pending exits of
an instrument (``Journal.exposures``) are one seek, not a scan of the day's leader orders.

Only orders still open are in it (a finished order leaves it), so it stays small. Its
predicate is spelled as the query spells it (``store.models.OPEN_PLAIN_SQL``): SQLite uses a
partial index only for a WHERE that says the same.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``ix_leader_orders_security_id`` (open plain orders only)."""
    with op.batch_alter_table("leader_orders") as batch:
        batch.create_index(
            batch.f("ix_leader_orders_security_id"),
            ["security_id"],
            sqlite_where=sa.text("is_terminal = 0 AND leg_name = ''"),
            postgresql_where=sa.text("is_terminal = false AND leg_name = ''"),
        )


def downgrade() -> None:
    """Drop the index."""
    with op.batch_alter_table("leader_orders") as batch:
        batch.drop_index(batch.f("ix_leader_orders_security_id"))
