"""price quote units up to 32 characters (``image_output_token`` is 18)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # token-priced offerings are quoted per image_output_token / output_token / input_token
    with op.batch_alter_table("price_quotes") as batch:
        batch.alter_column("unit", existing_type=sa.String(length=16), type_=sa.String(length=32))


def downgrade() -> None:
    with op.batch_alter_table("price_quotes") as batch:
        batch.alter_column("unit", existing_type=sa.String(length=32), type_=sa.String(length=16))
