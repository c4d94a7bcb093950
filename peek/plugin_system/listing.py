"""``peek plugin list``: installed plugins and their state on every service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from peek.config import ServiceConfig
from peek.plugin_system.discovery import discover
from peek.plugin_system.manifest import PYTHON_SERVICES
from peek.sites import site_url


def fetch_running_states(server: ServiceConfig) -> dict[str, Any] | None:
    """What the running server reports, or None when it is not running."""
    request = urllib.request.Request(
        site_url(server, "server", "/plugins"),
        headers={"Authorization": f"Bearer {server.get('server.secret')}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def plugin_list(server: ServiceConfig) -> tuple[list[dict[str, Any]], bool]:
    """One entry per installed plugin; the flag says whether a server answered."""
    running = fetch_running_states(server)
    enabled = set(running["enabled"] if running else server.get("plugin.enabled"))
    entries = []
    for name, found in sorted(discover(server.home.parent).items()):
        manifest = found.manifest
        services = list(manifest.requires_services) if manifest else []
        states: dict[str, Any] = {}
        for service in PYTHON_SERVICES:
            if service not in services:
                continue
            if running is None:
                states[service] = "not running"
                continue
            per_instance = [
                next((p for p in inst["plugins"] if p.get("name") == name),
                     {"state": "unknown"})
                for inst in running["instances"].get(service, [])]
            distinct = {p["state"] for p in per_instance}
            states[service] = (distinct.pop() if len(distinct) == 1 else
                               "mixed" if distinct else "no service connected")
            errors = [p["error"] for p in per_instance if p.get("error")]
            if errors:
                states[f"{service}_error"] = errors[0]
        entries.append({"name": name, "title": manifest.title if manifest else None,
                        "version": manifest.version if manifest else None,
                        "services": services, "enabled": name in enabled,
                        "states": states, "error": found.error})
    return entries, running is not None


def apply_on_running_server(server: ServiceConfig) -> bool:
    """Ask the running server to apply plugin changes made on disk now (it
    hands them to every service); False when no server answers."""
    request = urllib.request.Request(
        site_url(server, "server", "/plugins/apply"), method="POST", data=b"",
        headers={"Authorization": f"Bearer {server.get('server.secret')}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return True
    except (OSError, ValueError):
        return False
