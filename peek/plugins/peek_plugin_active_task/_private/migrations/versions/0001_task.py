"""task table

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
    # search_path is the plugin's schema (pl_active_task) while its migrations run.
    op.create_table(
        "task",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("plugin_name", sa.String(100), nullable=False),
        sa.Column("task_key", sa.String(200), nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("route", sa.String(500), nullable=True),
        sa.Column("auto_delete", sa.String(20), nullable=False),
        sa.Column("auto_delete_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify", sa.Integer, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("plugin_name", "task_key", name="task_plugin_key"),
    )
    op.create_index("task_user_name", "task", [sa.text("lower(user_name)")])
    op.create_index("task_auto_delete_at", "task", ["auto_delete_at"])


def downgrade():
    op.drop_index("task_auto_delete_at", table_name="task")
    op.drop_index("task_user_name", table_name="task")
    op.drop_table("task")
