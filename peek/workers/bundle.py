"""The plugins a worker needs, shipped to it through the scheduler.

Workers may run on other machines (a real Dask cluster), so the server sends
the code of every enabled plugin Peek installed itself, zipped, inside the
worker plugin; plugins bundled with Peek or pip-installed come with Peek's
environment.  The fingerprint changes whenever what workers should run does.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from peek.plugin_system import packages
from peek.plugin_system.discovery import discover, origin
from peek.plugin_system.packages import active_dir


def build_bundle(home: Path, enabled: list[str]) -> dict[str, Any]:
    """``{"enabled", "packages": {name: {"version", "zip"}}, "fingerprint"}``."""
    found = discover(home)
    bundled: dict[str, dict[str, Any]] = {}
    versions: dict[str, str | None] = {}
    for name in sorted(enabled):
        plugin = found.get(name)
        if plugin is None:
            continue
        versions[name] = plugin.manifest.version if plugin.manifest else None
        if plugin.package_dir is not None and origin(plugin, home) is None:
            bundled[name] = {"version": versions[name],
                             "zip": packages.version_zip(home, name, versions[name])}
    digest = hashlib.sha256(json.dumps(
        {"enabled": sorted(enabled), "versions": versions,
         "code": {n: hashlib.sha256(p["zip"]).hexdigest() for n, p in bundled.items()}},
        sort_keys=True).encode()).hexdigest()
    return {"enabled": list(enabled), "packages": bundled, "fingerprint": digest[:16]}


def unpack_bundle(bundle: dict[str, Any], home: Path) -> Path:
    """Lay the bundle's packages out as Peek's ``active`` directory of ``home``
    (what plugin discovery reads); returns that directory.

    A worker's home is its own, and one worker process may be handed two
    copies of one version (a rebuilt package): each copy gets its own store
    directory, named by version and code, so that the running plugin manager
    sees the change."""
    active = active_dir(home)
    active.mkdir(parents=True, exist_ok=True)
    for name, package in bundle["packages"].items():
        copy = f"{package['version']}-{hashlib.sha256(package['zip']).hexdigest()[:12]}"
        packages.add_version_zip(home, name, copy, package["zip"])
    return active
