"""vortex_action.user_name: who sent each applied action, so that an id is
answered again only to the same user

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("vortex_action", sa.Column("user_name", sa.Text(), nullable=True),
                  schema="peek")


def downgrade():
    op.drop_column("vortex_action", "user_name", schema="peek")
