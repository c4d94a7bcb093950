"""users, groups and their membership

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
    # search_path is the plugin's schema (core_user) while its migrations run.
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    # Names are unique without regard to case: "Alice" cannot join "alice".
    op.create_index("user_account_name_key", "user_account", [sa.text("lower(name)")],
                    unique=True)
    op.create_table(
        "user_group",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
    )
    op.create_table(
        "user_group_member",
        sa.Column("user_id", sa.Integer,
                  sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.Integer,
                  sa.ForeignKey("user_group.id", ondelete="CASCADE"), primary_key=True),
    )


def downgrade():
    op.drop_table("user_group_member")
    op.drop_table("user_group")
    op.drop_index("user_account_name_key", table_name="user_account")
    op.drop_table("user_account")
