"""``peek plugin``: the installed plugins, and installing, removing,
enabling, disabling and rolling them back; writing, building and releasing
plugin projects (``new``, ``build``, ``release``)."""

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
    (.tar.gz), a zip of a plugin source tree, or a release archive made by
    'peek plugin release' (its plugins and the Python packages they need, no
    package registry used). The previous version is kept for rollback; a
    refused package changes nothing."""
    from peek.plugin_system.operations import install_package

    done = install_package(path, peek_home())
    lines = [f"Upgraded {i.name} from {i.previous} to {i.version}." if i.previous else
             f"Installed and enabled {i.name} {i.version}." for i in done]
    click.echo("\n".join(lines) + ("\n" if len(lines) > 1 else " ") + applied())


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


@plugin.command()
@click.argument("name")
@click.option("--services", default="server", show_default=True,
              help="Comma-separated: server, client, agent, worker, storage, admin, "
                   "mobile, desktop.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the project (default: ./NAME).")
@click.option("--title", help="The name people see (default: from NAME).")
@reported
def new(name: str, services: str, directory: Path | None, title: str | None) -> None:
    """Write a new plugin project NAME (peek_plugin_<name>): the package with its
    manifest, hooks, storage, pages, setup.cfg, README and tests."""
    from peek.plugin_system.scaffold import new_project, parse_services

    target = new_project(name, parse_services(services), directory, title)
    click.echo(f"Wrote the project of {name} in {target}.\n"
               f"Develop:  pip install -e {target} --no-build-isolation && "
               f"peek plugin enable {name}\n"
               f"Build:    peek plugin build {target}\n"
               f"Release:  peek plugin release {target}")


@plugin.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where to put the wheel and sdist (default: DIRECTORY/dist).")
@reported
def build(directory: Path, out: Path | None) -> None:
    """Build the wheel and the sdist of the plugin project in DIRECTORY."""
    from peek.plugin_system.release import build_project

    built = build_project(directory, out)
    click.echo(f"Built {built.wheel}\nBuilt {built.sdist}")


@plugin.command()
@click.argument("directories", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The archive to write (default: NAME-release-DATE.zip here).")
@click.option("--find-links", multiple=True, type=click.Path(path_type=Path),
              help="Also look for the dependencies' wheels here (pip --find-links).")
@click.option("--no-index", is_flag=True, help="Use no package registry (pip --no-index).")
@reported
def release(directories: tuple[Path, ...], out: Path | None, find_links: tuple[Path, ...],
            no_index: bool) -> None:
    """One offline release archive of the plugin projects in DIRECTORIES: their
    wheels and the wheels of every Python package they need that Peek does not
    already. 'peek plugin install FILE' installs it without a package registry."""
    import json as json_module
    import zipfile

    from peek.plugin_system.release import RELEASE_MANIFEST, make_release

    path = make_release(list(directories), out, find_links, no_index)
    with zipfile.ZipFile(path) as archive:
        manifest = json_module.loads(archive.read(RELEASE_MANIFEST))
    plugins = ", ".join(f"{p['name']} {p['version']}" for p in manifest["plugins"])
    click.echo(f"Wrote {path}: {plugins}; "
               f"{len(manifest['dependencies'])} dependency wheel(s)"
               + (f" ({', '.join(manifest['dependencies'])})" if manifest["dependencies"]
                  else ""))
