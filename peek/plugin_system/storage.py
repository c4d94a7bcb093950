"""A plugin's own PostgreSQL schema and its Alembic migrations.

A plugin keeps its revisions in ``<package>/_private/migrations/versions/``;
the platform runs them through one shared Alembic environment
(``alembic_env/``) with the version table inside the plugin's schema and
``search_path`` set to it, all in one transaction: a failing revision leaves
the schema as it was.  Beside the plugin's tables the platform keeps the
plugin's settings table (``plugin_setting``) in the same schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

ENV_DIR = Path(__file__).with_name("alembic_env")
SETTINGS_TABLE = "plugin_setting"
VERSION_TABLE = "alembic_version"  # Alembic's default name
#: Tables in a plugin's schema that belong to the platform, not the plugin's models.
PLATFORM_TABLES = frozenset({VERSION_TABLE, SETTINGS_TABLE})


def versions_dir(package_dir: Path) -> Path:
    return package_dir / "_private" / "migrations" / "versions"


def _config(package_dir: Path, **attributes) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(versions_dir(package_dir)))
    config.set_main_option("path_separator", "os")
    config.attributes.update(attributes)
    return config


def heads(package_dir: Path) -> tuple[str, ...]:
    """The newest revisions a version of a plugin ships (none without migrations)."""
    if not versions_dir(package_dir).is_dir():
        return ()
    return tuple(ScriptDirectory.from_config(_config(package_dir)).get_heads())


def _create_schema(conn: sqlalchemy.Connection, schema: str) -> None:
    conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    conn.execute(sqlalchemy.text(
        f'CREATE TABLE IF NOT EXISTS "{schema}".{SETTINGS_TABLE} ('
        " name varchar(100) PRIMARY KEY, value jsonb NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT now())"))


def schemas_at(engine: sqlalchemy.Engine, wanted: dict[str, tuple[str, ...]]) -> set[str]:
    """Of ``wanted`` (schema: the revisions its plugin ships), the schemas
    already at those revisions and holding their settings table: nothing to
    run for them.  Two queries on one connection however many schemas, where
    the full path takes DDL and Alembic's reflection for each."""
    if not wanted:
        return set()
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote_identifier
        found = conn.execute(sqlalchemy.text(
            "SELECT s, to_regclass(format('%I.%I', s, :settings)) IS NOT NULL,"
            " to_regclass(format('%I.%I', s, :versions)) IS NOT NULL"
            " FROM unnest(CAST(:schemas AS text[])) AS s"),
            {"settings": SETTINGS_TABLE, "versions": VERSION_TABLE,
             "schemas": list(wanted)}).all()
        ready = {schema for schema, settings, _ in found if settings}
        versioned = [schema for schema, settings, versions in found if settings and versions]
        current: dict[str, set[str]] = {schema: set() for schema in ready}
        if versioned:
            union = " UNION ALL ".join(
                f"SELECT :s{i}, version_num FROM {quote(schema)}.{VERSION_TABLE}"
                for i, schema in enumerate(versioned))
            for schema, revision in conn.execute(sqlalchemy.text(union), {
                    f"s{i}": schema for i, schema in enumerate(versioned)}):
                current[schema].add(revision)
    return {schema for schema in ready if current[schema] == set(wanted[schema])}


def upgrade_plugin_schema(engine: sqlalchemy.Engine, schema: str,
                          package_dir: Path) -> tuple[str, ...]:
    """Bring ``schema`` to the plugin's newest revisions; return them."""
    revisions = heads(package_dir)
    if schema in schemas_at(engine, {schema: revisions}):
        return revisions  # the usual start: nothing to run
    return migrate_plugin_schema(engine, schema, package_dir, revisions)


def migrate_plugin_schema(engine: sqlalchemy.Engine, schema: str, package_dir: Path,
                          revisions: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """:func:`upgrade_plugin_schema` for a schema :func:`schemas_at` did not
    find ready: its schema and settings table made sure of, then Alembic."""
    revisions = heads(package_dir) if revisions is None else revisions
    with engine.begin() as conn:
        _create_schema(conn, schema)
        context = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        if set(context.get_current_heads()) == set(revisions):
            return revisions
        command.upgrade(_config(package_dir, connection=conn, schema=schema), "heads")
    log.info("Schema %s is at revision %s", schema, ", ".join(revisions) or "(none)")
    return revisions


def _known_revisions(package_dir: Path) -> set[str]:
    if not versions_dir(package_dir).is_dir():
        return set()
    script = ScriptDirectory.from_config(_config(package_dir))
    return {revision.revision for revision in script.walk_revisions()}


def downgrade_plugin_schema(engine: sqlalchemy.Engine, schema: str, package_dir: Path,
                            target_dir: Path) -> bool:
    """Take ``schema`` back to the newest revisions of the plugin version at
    ``target_dir``, with the downgrades of the version at ``package_dir``, in
    one transaction; False when the schema holds nothing newer."""
    with engine.begin() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        if set(context.get_current_heads()) <= _known_revisions(target_dir):
            return False
        config = _config(package_dir, connection=conn, schema=schema)
        target = heads(target_dir)
        for revision in target or ("base",):
            command.downgrade(config, revision)
    log.info("Schema %s is back at revision %s", schema, ", ".join(target) or "(none)")
    return True


def autogenerate_revision(engine: sqlalchemy.Engine, schema: str, package_dir: Path,
                          metadata: sqlalchemy.MetaData, message: str) -> Path | None:
    """Write a revision turning the migrated schema into ``metadata``; None
    when they already match."""
    upgrade_plugin_schema(engine, schema, package_dir)
    versions_dir(package_dir).mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        config = _config(package_dir, connection=conn, schema=schema, metadata=metadata)
        empty: list[bool] = []

        def skip_empty(context, revision, directives):
            if directives[0].upgrade_ops.is_empty():
                empty.append(True)
                directives[:] = []

        script = command.revision(config, message=message, autogenerate=True,
                                  process_revision_directives=skip_empty)
    return None if empty or script is None else Path(script.path)


def drop_plugin_schema(engine: sqlalchemy.Engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    log.warning("Dropped schema %s and all its data", schema)
