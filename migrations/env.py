"""Alembic environment of the platform schema (run through Flask-Migrate)."""

import logging

from alembic import context
from flask import current_app
from sqlalchemy import text

from peek.extensions import PLATFORM_SCHEMA

log = logging.getLogger("alembic.env")
config = context.config
target_metadata = current_app.extensions["migrate"].db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # Only the platform schema: plugin schemas have their own migrations.
    schema = getattr(obj, "schema", None) if type_ != "schema" else name
    return schema in (None, PLATFORM_SCHEMA) if type_ == "table" else True


def include_name(name, type_, parent_names):
    if type_ == "schema":
        return name == PLATFORM_SCHEMA
    return True


def run_migrations_online() -> None:
    engine = current_app.extensions["migrate"].db.engine
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{PLATFORM_SCHEMA}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=PLATFORM_SCHEMA,
            include_schemas=True,
            include_name=include_name,
            include_object=include_object,
            **current_app.extensions["migrate"].configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run peek db upgrade")
run_migrations_online()
