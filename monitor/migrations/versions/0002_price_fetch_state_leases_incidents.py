"""price fetch state, leases, incidents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:26:54.858928
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offering", sa.String(length=200), nullable=False),
        sa.Column("vantage", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("started_at", monitor.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", monitor.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incidents_offering_started", ["offering", "started_at"], unique=False
        )

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", monitor.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "price_fetch_state",
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("etag", sa.String(length=300), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("last_attempt_at", monitor.store.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", monitor.store.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("url"),
    )
    with op.batch_alter_table("price_fetch_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_fetch_state_source"), ["source"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("price_fetch_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_fetch_state_source"))

    op.drop_table("price_fetch_state")
    op.drop_table("leases")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_offering_started")

    op.drop_table("incidents")
