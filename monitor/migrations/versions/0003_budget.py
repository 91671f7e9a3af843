"""probe budget day lock

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one row per UTC day, locked (SELECT ... FOR UPDATE) by every reservation of that day
    op.create_table(
        "probe_budget_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", monitor.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("probe_budget_days")
