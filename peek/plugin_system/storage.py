"""A plugin's own PostgreSQL schema and its Alembic migrations.

A plugin keeps its revisions in ``<package>/_private/migrations/versions/``;
the platform runs them with the version table inside the plugin's schema and
``search_path`` set to it, all in one transaction: a failing revision leaves
the schema as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)


def migrations_dir(package_dir: Path) -> Path:
    return package_dir / "_private" / "migrations"


def upgrade_plugin_schema(engine: sqlalchemy.Engine, schema: str, package_dir: Path) -> str | None:
    """Bring ``schema`` to the plugin's newest revision; return that revision."""
    location = migrations_dir(package_dir)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        if not (location / "versions").is_dir():
            return None
        conn.execute(sqlalchemy.text(f'SET LOCAL search_path TO "{schema}", public'))
        config = Config()
        config.set_main_option("script_location", str(location))
        script = ScriptDirectory(str(location))

        def upgrade(revision, context):
            return script._upgrade_revs("head", revision)

        with EnvironmentContext(config, script, fn=upgrade, destination_rev="head") as env:
            env.configure(connection=conn, version_table_schema=schema,
                          transactional_ddl=True)
            env.run_migrations()
        head = script.get_current_head()
    log.info("Schema %s is at revision %s", schema, head)
    return head
