"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:08:25.217805
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "price_quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offering", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("observed_at", monitor.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_url", sa.String(length=1000), nullable=False),
        sa.Column("evidence", sa.String(length=4000), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("price_quotes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_price_quotes_offering_observed", ["offering", "observed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_price_quotes_source"), ["source"], unique=False)

    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("probe_id", sa.String(length=36), nullable=False),
        sa.Column("offering", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=150), nullable=False),
        sa.Column("vantage", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("failed_phase", sa.String(length=16), nullable=True),
        sa.Column("started_at", monitor.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("connect_s", sa.Float(), nullable=True),
        sa.Column("ttfb_s", sa.Float(), nullable=True),
        sa.Column("queue_s", sa.Float(), nullable=True),
        sa.Column("inference_s", sa.Float(), nullable=True),
        sa.Column("download_s", sa.Float(), nullable=True),
        sa.Column("total_s", sa.Float(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("provider_request_id", sa.String(length=200), nullable=True),
        sa.Column("image_mime", sa.String(length=64), nullable=True),
        sa.Column("image_width", sa.Integer(), nullable=True),
        sa.Column("image_height", sa.Integer(), nullable=True),
        sa.Column("image_bytes", sa.Integer(), nullable=True),
        sa.Column("cost_micro_usd", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("retry_after_s", sa.Float(), nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("probe_id"),
    )
    with op.batch_alter_table("probe_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_probe_results_offering_started", ["offering", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_probe_results_outcome"), ["outcome"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_probe_results_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "probe_spend",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("offering", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("amount_micro_usd", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", monitor.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", monitor.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reservation_id"),
    )
    with op.batch_alter_table("probe_spend", schema=None) as batch_op:
        batch_op.create_index("ix_probe_spend_day_offering", ["day", "offering"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("probe_spend", schema=None) as batch_op:
        batch_op.drop_index("ix_probe_spend_day_offering")

    op.drop_table("probe_spend")
    with op.batch_alter_table("probe_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probe_results_started_at"))
        batch_op.drop_index(batch_op.f("ix_probe_results_outcome"))
        batch_op.drop_index("ix_probe_results_offering_started")

    op.drop_table("probe_results")
    with op.batch_alter_table("price_quotes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_quotes_source"))
        batch_op.drop_index("ix_price_quotes_offering_observed")

    op.drop_table("price_quotes")
