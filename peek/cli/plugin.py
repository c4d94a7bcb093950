"""``peek plugin``: the installed plugins."""

from __future__ import annotations

import json

import click

from peek.cli.errors import reported
from peek.config import load_config
from peek.services import SERVER


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
