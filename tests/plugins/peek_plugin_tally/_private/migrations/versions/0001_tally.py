"""tally table"""
from alembic import op
import sqlalchemy as sa

revision = "t0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("tally", sa.Column("name", sa.String(100), primary_key=True),
                    sa.Column("count", sa.Integer, nullable=False), schema="pl_tally")


def downgrade():
    op.drop_table("tally", schema="pl_tally")
