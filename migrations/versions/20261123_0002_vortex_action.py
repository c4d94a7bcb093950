"""vortex_action: answers of applied actions, for resends

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "vortex_action",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("tuple_type", sa.String(200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema="peek",
    )
    op.create_index("ix_vortex_action_applied_at", "vortex_action", ["applied_at"],
                    schema="peek")


def downgrade():
    op.drop_index("ix_vortex_action_applied_at", "vortex_action", schema="peek")
    op.drop_table("vortex_action", schema="peek")
