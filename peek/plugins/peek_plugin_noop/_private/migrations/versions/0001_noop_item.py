"""noop_item table

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # search_path is the plugin's schema (pl_noop) while its migrations run.
    op.create_table(
        "noop_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
    )


def downgrade():
    op.drop_table("noop_item")
