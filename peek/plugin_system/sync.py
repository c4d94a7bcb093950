"""Handing the server's plugins to the client and agent services, live.

The server tells each connected service which plugins are enabled, and which
version of each Peek installed, in a ``plugins`` frame: when the service
connects and after every change.  The service fetches the versions it lacks
from the server's service endpoint (``GET /plugins/package/<name>/<version>``
with the shared secret), lays them out in its own home as Peek installs them,
takes the enabled list as its own and applies it without a restart.  On one
machine (``peek run``) the services share a home, so nothing is fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from peek.config import ServiceConfig
from peek.plugin_system import packages
from peek.plugin_system.discovery import discover, origin
from peek.vortex.frames import frame

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 60


def wanted_plugins(home: Path, enabled: list[str]) -> list[dict[str, Any]]:
    """Each enabled plugin found: its name, version and whether it is in
    Peek's store (else it comes with Peek or its Python environment)."""
    found = discover(home)
    return [{"name": name, "version": found[name].manifest.version,
             "store": origin(found[name], home) is None}
            for name in enabled if name in found and found[name].manifest]


def plugins_frame(home: Path, enabled: list[str], per_user: list[str],
                  internal_data: list[str], device_actions: list[str],
                  internal_actions: list[str]) -> str:
    """What every client and agent should run; the tuple types that are
    per-user (so a service whose plugins do not declare one still gives each
    device only its own user's data); and what plugins keep from devices:
    provided tuple types and action types they did not offer them (see
    peek.vortex.exposure)."""
    wanted = wanted_plugins(home, enabled)
    digest = hashlib.sha256(json.dumps([enabled, wanted]).encode()).hexdigest()[:16]
    return frame("plugins", plugins=wanted, fingerprint=digest, per_user=per_user,
                 internal_data=internal_data, device_actions=device_actions,
                 internal_actions=internal_actions)


def package_url(config: ServiceConfig, name: str, version: str) -> str:
    return (f"http://{config.get('server.host')}:{config.get('server.port')}"
            f"/plugins/package/{name}/{version}")


def fetch_missing(config: ServiceConfig, wanted: list[dict[str, Any]]) -> None:
    """Put every stored plugin version of ``wanted`` in this service's home,
    fetching from the server those it does not have, and activate them."""
    home = config.home.parent
    for plugin in wanted:
        if not plugin.get("store"):
            continue
        name, version = str(plugin["name"]), str(plugin["version"])
        if packages.package_dir(home, name, version).is_dir():
            if (packages.active_dir(home) / name).resolve() \
                    != packages.package_dir(home, name, version).resolve():
                packages.activate(home, name, version)
            continue
        request = urllib.request.Request(package_url(config, name, version), headers={
            "Authorization": f"Bearer {config.get('server.secret')}"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as e:
            raise packages.PluginOperationError(
                f"could not fetch {name} {version} from the server: {e}") from e
        packages.add_version_zip(home, name, version, data)
        log.info("Fetched plugin %s %s from the server (%d bytes)", name, version, len(data))
