"""Alembic environment shared by every plugin's migrations.

The platform runs it with ``config.attributes`` set by
:mod:`peek.plugin_system.storage`: the open ``connection``, the plugin's
``schema`` and, to autogenerate a revision, its ``metadata``.
"""

from alembic import context
from sqlalchemy import text

from peek.plugin_system.storage import PLATFORM_TABLES

attributes = context.config.attributes
schema: str = attributes["schema"]
metadata = attributes.get("metadata")
connection = attributes["connection"]


def include_name(name, type_, parent_names):
    # Only the plugin's own schema, and not the tables the platform keeps in it.
    if type_ == "schema":
        return name == schema
    if type_ == "table":
        return parent_names.get("schema_name") == schema and name not in PLATFORM_TABLES
    return True


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
if metadata is None:
    # Running revisions: unqualified names in them land in the plugin's schema.
    connection.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
context.configure(connection=connection, target_metadata=metadata,
                  version_table_schema=schema, include_schemas=True,
                  include_name=include_name, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
