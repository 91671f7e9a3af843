"""probe usage, measured cost and served model

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # what each answer reported it consumed, its cost at the listed rates, and the model
    # the answer named (a silent redirect to another model shows here first)
    with op.batch_alter_table("probe_results") as batch:
        batch.add_column(sa.Column("usage_json", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("measured_cost_micro_usd", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("served_model", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("probe_results") as batch:
        batch.drop_column("served_model")
        batch.drop_column("measured_cost_micro_usd")
        batch.drop_column("usage_json")
