"""Operator modes: each follower's mode set by ``pause`` / ``close-only`` / ``resume`` (issue
17), with who set it, when and why. A follower without a row copies normally.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``operator_modes`` (empty: every follower normal)."""
    op.create_table(
        "operator_modes",
        sa.Column("follower", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "mode IN ('normal', 'paused', 'close_only')", name=op.f("ck_operator_modes_mode")
        ),
        sa.PrimaryKeyConstraint("follower", name=op.f("pk_operator_modes")),
    )


def downgrade() -> None:
    """Drop ``operator_modes``."""
    op.drop_table("operator_modes")
