"""device sign-in sessions

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sign_in_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("refresh_expires", sa.DateTime(timezone=True), nullable=False),
        # sha256 of the current refresh token, never the token itself.
        sa.Column("refresh_hash", sa.String(64), nullable=False),
        sa.Column("access_expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("address", sa.String(100), nullable=False, server_default=""),
        sa.Column("user_agent", sa.String(500), nullable=False, server_default=""),
        sa.CheckConstraint("kind IN ('site', 'app')", name="sign_in_session_kind"),
    )
    op.create_index("sign_in_session_refresh_key", "sign_in_session", ["refresh_hash"],
                    unique=True)
    op.create_index("sign_in_session_user", "sign_in_session", [sa.text("lower(user_name)")])
    op.create_index("sign_in_session_revoked", "sign_in_session", ["revoked_at"])


def downgrade():
    op.drop_table("sign_in_session")
