"""``peek plugin``: the installed plugins, and installing, removing,
enabling, disabling and rolling them back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from peek.cli.errors import reported
from peek.config import load_config, peek_home
from peek.services import SERVER

def applied() -> str:
    """Hand the change to the running platform, and say what happened."""
    from peek.plugin_system.listing import apply_on_running_server

    if apply_on_running_server(load_config(SERVER)):
        return "The running services apply it now."
    return "No server is running: the services apply it when they start."


@click.group()
def plugin() -> None:
    """Installed plugins and their state on every service."""


@plugin.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@reported
def list_plugins(as_json: bool) -> None:
    """Name, version, services and the state on each service (asks the running
    server; without one, says 'not running')."""
    from peek.plugin_system.listing import plugin_list
    from peek.plugin_system.manifest import PYTHON_SERVICES

    entries, running = plugin_list(load_config(SERVER))
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not running:
        click.echo("The server is not running: showing installed plugins only.")
    for entry in entries:
        state = "enabled" if entry["enabled"] else "disabled"
        click.echo(f"{entry['name']} {entry['version'] or '?'} ({state}): "
                   f"{', '.join(entry['services']) or 'no valid manifest'}")
        if entry["error"]:
            click.echo(f"    error: {entry['error']}")
        for service in PYTHON_SERVICES:
            if service in entry["states"]:
                line = f"    {service}: {entry['states'][service]}"
                if entry["states"].get(f"{service}_error"):
                    line += f" ({entry['states'][f'{service}_error']})"
                click.echo(line)


@plugin.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@reported
def install(path: Path) -> None:
    """Install or upgrade the plugin in PATH: a wheel (.whl), an sdist
    (.tar.gz) or a zip of a plugin source tree. The previous version is kept
    for rollback; a refused package changes nothing."""
    from peek.plugin_system.operations import install_plugin

    installed = install_plugin(path, peek_home())
    if installed.previous:
        click.echo(f"Upgraded {installed.name} from {installed.previous} to "
                   f"{installed.version}. {applied()}")
    else:
        click.echo(f"Installed and enabled {installed.name} {installed.version}. {applied()}")


@plugin.command()
@click.argument("name")
@click.option("--drop-data", is_flag=True, help="Also drop the plugin's schema and its rows.")
@click.option("--yes", is_flag=True, help="Do not ask before dropping data.")
@reported
def uninstall(name: str, drop_data: bool, yes: bool) -> None:
    """Remove plugin NAME; its database schema stays unless --drop-data."""
    from peek.plugin_system.operations import uninstall_plugin

    if drop_data and not yes:
        click.confirm(f"Drop {name}'s schema and every row in it?", abort=True)
    uninstall_plugin(name, peek_home(), drop_data=drop_data)
    kept = "its data was dropped" if drop_data else "its schema and data were kept"
    click.echo(f"Uninstalled {name}; {kept}. {applied()}")


@plugin.command()
@click.argument("name")
@reported
def enable(name: str) -> None:
    """Run plugin NAME on the services it names."""
    from peek.plugin_system.operations import enable_plugin

    enable_plugin(name, peek_home())
    click.echo(f"Enabled {name}. {applied()}")


@plugin.command()
@click.argument("name")
@reported
def disable(name: str) -> None:
    """Stop running plugin NAME (it stays installed, with its data)."""
    from peek.plugin_system.operations import disable_plugin

    disable_plugin(name, peek_home())
    click.echo(f"Disabled {name}. {applied()}")


@plugin.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@reported
def rollback(name: str, yes: bool) -> None:
    """Go back to the previously installed version of NAME, taking its schema
    back too (rows in tables the newer version added are lost)."""
    from peek.plugin_system.operations import rollback_plugin

    if not yes:
        click.confirm(f"Roll {name} back to its previous version?", abort=True)
    current, previous = rollback_plugin(name, peek_home())
    click.echo(f"Rolled {name} back from {current} to {previous}. {applied()}")


@plugin.command()
@click.argument("name")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@reported
def migration(name: str, message: str) -> None:
    """Write a new Alembic revision for plugin NAME by comparing its models
    (_private/storage.py) with its migrated schema."""
    from peek.plugin_system.operations import generate_migration

    path = generate_migration(name, message, peek_home())
    click.echo(f"Wrote {path}." if path else f"{name}'s models match its schema: "
               "no revision written.")
