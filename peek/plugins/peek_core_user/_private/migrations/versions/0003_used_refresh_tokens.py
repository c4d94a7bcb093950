"""refresh tokens already rotated away, to see them used again

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sign_in_used_refresh",
        # sha256 of a rotated refresh token, never the token itself.
        sa.Column("refresh_hash", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64),
                  sa.ForeignKey("sign_in_session.id", ondelete="CASCADE"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("sign_in_used_refresh_used_at", "sign_in_used_refresh", ["used_at"])
    op.create_index("sign_in_used_refresh_session", "sign_in_used_refresh", ["session_id"])


def downgrade():
    op.drop_table("sign_in_used_refresh")
