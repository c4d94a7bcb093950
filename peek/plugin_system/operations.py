"""What administrators do to plugins: install, uninstall, enable, disable and
roll back.  The CLI calls these, and so will the admin site.

Each operation checks everything first and refuses with a
:class:`PluginOperationError` saying why, changing nothing.  The enabled list
lives in ``plugin.enabled`` of the server's config.json; the client and agent
configured in the same PEEK_HOME follow it.  Running services pick changes up
when they restart.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy

from peek.config import load_config, service_home
from peek.plugin_system import packages
from peek.plugin_system.discovery import Discovered, discover, origin
from peek.plugin_system.manifest import schema_name
from peek.plugin_system.packages import Installed, PluginOperationError
from peek.plugin_system.storage import downgrade_plugin_schema, drop_plugin_schema, heads
from peek.services import AGENT, CLIENT, SERVER

log = logging.getLogger(__name__)

__all__ = ["PluginOperationError", "install_plugin", "install_package", "uninstall_plugin", "enable_plugin",
           "disable_plugin", "rollback_plugin", "enabled_plugins"]


def enabled_plugins(home: Path) -> list[str]:
    return list(load_config(SERVER, home).get("plugin.enabled") or [])


def _set_enabled(home: Path, name: str, on: bool) -> None:
    for service in (SERVER, CLIENT, AGENT):
        if service != SERVER and not (service_home(service, home) / "config.json").exists():
            continue
        config = load_config(service, home)
        listed = [p for p in config.get("plugin.enabled") or [] if p != name]
        config.set("plugin.enabled", listed + [name] if on else listed)
        config.save()
    log.info("Plugin %s %s", name, "enabled" if on else "disabled")


def _found(home: Path, name: str) -> tuple[dict[str, Discovered], Discovered]:
    found = discover(home)
    if name not in found:
        raise PluginOperationError(f"{name} is not installed")
    return found, found[name]


def _dependents(found: dict[str, Discovered], name: str, among: list[str]) -> list[str]:
    return sorted(n for n, f in found.items() if n in among and f.manifest
                  and name in f.manifest.requires_plugins)


@contextmanager
def _database(home: Path) -> Iterator[sqlalchemy.Engine]:
    from peek.storage.database import database_available, sqlalchemy_url

    with database_available(load_config(SERVER, home)) as url:
        engine = sqlalchemy.create_engine(sqlalchemy_url(url))
        try:
            yield engine
        finally:
            engine.dispose()


def install_plugin(archive: Path, home: Path) -> Installed:
    """Install (or upgrade to) the plugin in ``archive``; a new plugin is enabled.
    A release archive (``peek plugin release``) installs all its plugins; the
    last one is returned."""
    return install_package(archive, home)[-1]


def install_package(archive: Path, home: Path) -> list[Installed]:
    """Install a plugin package, or every plugin of a release archive (with the
    Python packages it carries, installed into Peek's environment); new plugins
    are enabled."""
    from peek.plugin_system.release import install_release, is_release

    with packages.locked(home):
        found = discover(home)
        origins = {n: origin(f, home) for n, f in found.items()}
        if archive.is_file() and is_release(archive):
            done = install_release(archive, home, origins)
        else:
            done = [packages.install(archive, home, origins)]
        for installed in done:
            if installed.previous is None:
                _set_enabled(home, installed.name, True)
    return done


def uninstall_plugin(name: str, home: Path, drop_data: bool = False) -> None:
    """Remove a plugin Peek installed; its schema stays unless ``drop_data``."""
    with packages.locked(home):
        found, plugin = _found(home, name)
        if origin(plugin, home):
            raise PluginOperationError(f"{name} is {origin(plugin, home)}; it cannot be "
                                       "uninstalled, only disabled")
        dependents = _dependents(found, name, enabled_plugins(home))
        if dependents:
            raise PluginOperationError(f"{', '.join(dependents)} require {name}; disable "
                                       "or uninstall them first")
        if drop_data and plugin.manifest and "storage" in plugin.manifest.requires_services:
            with _database(home) as engine:
                drop_plugin_schema(engine, schema_name(name))
        _set_enabled(home, name, False)
        packages.remove(home, name)


def enable_plugin(name: str, home: Path) -> None:
    found, plugin = _found(home, name)
    if plugin.error:
        raise PluginOperationError(f"{name} cannot be enabled: {plugin.error}")
    enabled = enabled_plugins(home)
    missing = [p for p in plugin.manifest.requires_plugins if p not in enabled]
    if missing:
        raise PluginOperationError(f"{name} requires {', '.join(missing)}; enable "
                                   f"{'it' if len(missing) == 1 else 'them'} first")
    _set_enabled(home, name, True)


def disable_plugin(name: str, home: Path) -> None:
    found, _ = _found(home, name)
    dependents = _dependents(found, name, enabled_plugins(home))
    if dependents:
        raise PluginOperationError(f"{', '.join(dependents)} require {name}; disable "
                                   f"{'it' if len(dependents) == 1 else 'them'} first")
    _set_enabled(home, name, False)


def rollback_plugin(name: str, home: Path) -> tuple[str, str]:
    """Back to the previously installed version, schema included; returns
    (from, to).  Rows in tables the newer version added are lost."""
    with packages.locked(home):
        current, previous = (packages.package_dir(home, name, version)
                             for version in packages.rollback_versions(home, name))
        if heads(current) != heads(previous):
            with _database(home) as engine:
                downgrade_plugin_schema(engine, schema_name(name), current, previous)
        return packages.roll_back(home, name)


def generate_migration(name: str, message: str, home: Path) -> Path | None:
    """Autogenerate a revision for a plugin from the models in its
    ``_private/storage.py`` (``Base`` or ``metadata``); None if nothing changed."""
    import importlib

    from peek.plugin_system.storage import autogenerate_revision

    _, plugin = _found(home, name)
    if plugin.error:
        raise PluginOperationError(plugin.error)
    if "storage" not in plugin.manifest.requires_services:
        raise PluginOperationError(f"{name} does not list 'storage' in requiresServices")
    try:
        models = importlib.import_module(f"{plugin.module}._private.storage")
    except ImportError as e:
        raise PluginOperationError(f"{name}: cannot import its models from "
                                   f"{plugin.module}._private.storage: {e}") from e
    metadata = getattr(models, "metadata", None) or getattr(getattr(models, "Base", None),
                                                             "metadata", None)
    if not isinstance(metadata, sqlalchemy.MetaData):
        raise PluginOperationError(f"{plugin.module}._private.storage defines neither "
                                   "Base (a DeclarativeBase) nor metadata")
    schema = schema_name(name)
    strays = sorted(t.fullname for t in metadata.tables.values() if t.schema != schema)
    if strays:
        raise PluginOperationError(f"{name}: tables {', '.join(strays)} are not in its "
                                   f"schema; declare them on MetaData(schema={schema!r})")
    with _database(home) as engine:
        return autogenerate_revision(engine, schema, plugin.package_dir, metadata, message)
