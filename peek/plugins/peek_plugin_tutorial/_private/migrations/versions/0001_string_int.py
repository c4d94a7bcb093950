"""string_int table

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
    # search_path is the plugin's schema (pl_tutorial) while its migrations run.
    op.create_table(
        "string_int",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("string1", sa.String(50), nullable=False),
        sa.Column("int1", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade():
    op.drop_table("string_int")
