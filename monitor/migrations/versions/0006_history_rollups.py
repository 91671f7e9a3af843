"""hourly rollups of probe results and the marks of rolling up and pruning (issue 18)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_rollups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("span_hours", sa.Integer(), nullable=False),
        sa.Column("hour", UTCDateTime(timezone=True), nullable=False),
        sa.Column("offering", sa.String(length=200), nullable=False),
        sa.Column("vantage", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("content_filtered", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("latency_histogram", sa.LargeBinary(), nullable=True),
        # the 30-day routing query and re-rolling an hour both read by span and hour
        sa.UniqueConstraint(
            "span_hours", "hour", "offering", "vantage", "kind", name="uq_probe_rollups_key"
        ),
    )
    op.create_table(
        "history_marks",
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("value", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("history_marks")
    op.drop_table("probe_rollups")
