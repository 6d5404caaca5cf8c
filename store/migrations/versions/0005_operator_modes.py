"""Operator controls (issue 17): each follower's mode set by ``pause`` / ``close-only`` /
``resume``, with who set it, when and why (a follower without a row copies normally); and the
``flatten`` requests a running engine carries out.

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
    """Create ``operator_modes`` (empty: every follower normal) and ``flatten_requests``."""
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
    op.create_table(
        "flatten_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("follower", sa.String(length=64), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'done', 'failed')", name=op.f("ck_flatten_requests_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flatten_requests")),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("flatten_requests")
    op.drop_table("operator_modes")
