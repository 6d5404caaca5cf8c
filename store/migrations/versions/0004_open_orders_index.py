"""Repair: the partial index of the open plain leader orders by security, on a journal whose
0003 was written before 0003 created it (the index came into 0003 after its first version).

On any other journal 0003 created it already and this changes nothing (``IF NOT EXISTS``).
Its predicate is spelled as the query spells it (``store.models.OPEN_PLAIN_SQL``): SQLite uses
a partial index only for a WHERE that says the same.

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
    """Create ``ix_leader_orders_security_id`` (open plain orders only) where it is missing."""
    op.create_index(
        op.f("ix_leader_orders_security_id"),
        "leader_orders",
        ["security_id"],
        if_not_exists=True,
        sqlite_where=sa.text("is_terminal = 0 AND leg_name = ''"),
        postgresql_where=sa.text("is_terminal = false AND leg_name = ''"),
    )


def downgrade() -> None:
    """Nothing: the index belongs to 0003 (its downgrade drops it)."""
