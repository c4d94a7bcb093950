"""``peek db``: migrate, back up and restore the configured database."""

from __future__ import annotations

from pathlib import Path

import click

from peek.cli.errors import reported
from peek.config import load_config
from peek.services import SERVER


@click.group()
def db() -> None:
    """Database schema, backups and restores (the server's database)."""


@db.command()
@reported
def upgrade() -> None:
    """Apply pending migrations of the platform schema, then of each enabled
    plugin's schema."""
    import sqlalchemy

    from peek.app import create_app
    from peek.plugin_system.manager import PluginManager
    from peek.runtime import ServerRuntime
    from peek.storage.database import database_available, sqlalchemy_url
    from peek.storage.migrations import upgrade_platform

    config = load_config(SERVER)
    with database_available(config) as url:
        upgrade_platform(create_app("admin", ServerRuntime(config)))
        engine = sqlalchemy.create_engine(sqlalchemy_url(url))
        try:
            results = PluginManager(config, engine=engine).migrate_all()
        finally:
            engine.dispose()
    for name, error in results.items():
        click.echo(f"{name}: {'FAILED, ' + error if error else 'up to date'}")
    if any(results.values()):
        raise click.ClickException("some plugin schemas could not be migrated (see above)")
    click.echo("The database schema is up to date.")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--exclude-table-data", "exclude", multiple=True, metavar="PATTERN",
              help="Keep these tables' definitions but not their rows "
                   "(pg_dump pattern, e.g. 'peek.platform_setting' or 'pl_noop.*'); repeatable.")
@click.option("--schema-only", is_flag=True, help="Leave all table data out.")
@reported
def backup(file: Path, exclude: tuple[str, ...], schema_only: bool) -> None:
    """Write the database to FILE as a plain SQL dump."""
    from peek.storage.backup import backup as dump
    from peek.storage.database import database_available

    with database_available(load_config(SERVER)) as url:
        dump(url, file, exclude_table_data=exclude, schema_only=schema_only)
    click.echo(f"Backed up the database to {file}.")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@reported
def restore(file: Path, yes: bool) -> None:
    """Replace the database's objects with those in FILE (one transaction)."""
    from peek.storage.backup import restore as load
    from peek.storage.database import database_available

    if not yes:
        click.confirm(f"Replace the database's tables and rows with {file}?", abort=True)
    with database_available(load_config(SERVER)) as url:
        load(url, file)
    click.echo(f"Restored the database from {file}.")
