"""``plugin_package.json``: reading and validating a plugin's manifest."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from peek.plugin_system.settings import Setting, read_declarations

MANIFEST = "plugin_package.json"
NAME_RE = re.compile(r"^peek_(plugin|core)_[a-z][a-z0-9_]*$")
PYTHON_SERVICES = ("server", "client", "agent", "worker")
ALL_SERVICES = (*PYTHON_SERVICES, "storage", "admin", "mobile", "desktop")
#: Parts served by a Python service: a plugin naming one needs that service too.
NEEDS = {"storage": "server", "admin": "server", "mobile": "client", "desktop": "client"}
SITES = ("admin", "mobile", "desktop")
#: Keys of a site's section that place the plugin on the site's pages, and their types.
SITE_KEYS = {"title": str, "icon": str, "priority": int}


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    title: str
    package_name: str
    version: str
    requires_services: tuple[str, ...]
    requires_plugins: tuple[str, ...]
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Setting] = field(default_factory=dict)
    #: ``client.deviceSignIn``: devices sign in through this plugin, so while
    #: it is enabled and not running the client refuses them (fails closed).
    device_sign_in: bool = False

    def runs_on(self, service: str) -> bool:
        return service in self.requires_services


def schema_name(plugin_name: str) -> str:
    """``pl_<name>`` for ``peek_plugin_<name>``, ``core_<name>`` for ``peek_core_<name>``."""
    kind, rest = NAME_RE.match(plugin_name).group(1), plugin_name.split("_", 2)[2]
    return f"{'pl' if kind == 'plugin' else 'core'}_{rest}"


def _field(path: Path, data: dict, dotted: str, kind: type, required: bool = True) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if required:
                raise ManifestError(f"{path}: field '{dotted}' is missing")
            return None
        node = node[part]
    if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
        names = {str: "a string", list: "a list", dict: "an object", int: "an integer",
                 bool: "true or false"}
        raise ManifestError(f"{path}: field '{dotted}' must be {names[kind]}, "
                            f"not {json.dumps(node)}")
    return node


def read_manifest(path: Path, expected_name: str | None = None) -> Manifest:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the manifest: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: line {e.lineno}, column {e.colno}: not valid JSON: "
                            f"{e.msg}") from e
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: must hold a JSON object")

    title = _field(path, data, "plugin.title", str)
    name = _field(path, data, "plugin.packageName", str)
    version = _field(path, data, "plugin.version", str)
    if not NAME_RE.match(name):
        raise ManifestError(f"{path}: field 'plugin.packageName' must look like "
                            f"peek_plugin_<name> or peek_core_<name>, not {name!r}")
    if expected_name and name != expected_name:
        raise ManifestError(f"{path}: field 'plugin.packageName' is {name!r} but the "
                            f"package is {expected_name!r}")
    try:
        Version(version)
    except InvalidVersion:
        raise ManifestError(f"{path}: field 'plugin.version' {version!r} is not a "
                            "version (PEP 440, e.g. 1.2.0)") from None

    services = _field(path, data, "requiresServices", list)
    unknown = [s for s in services if s not in ALL_SERVICES]
    if unknown:
        raise ManifestError(f"{path}: field 'requiresServices' has unknown services "
                            f"{unknown}; known: {', '.join(ALL_SERVICES)}")
    for part, service in NEEDS.items():
        if part in services and service not in services:
            raise ManifestError(f"{path}: field 'requiresServices' lists {part!r}, which "
                                f"needs {service!r} too")
    plugins = _field(path, data, "requiresPlugins", list, required=False) or []
    bad = [p for p in plugins if not isinstance(p, str) or not NAME_RE.match(p)]
    if bad:
        raise ManifestError(f"{path}: field 'requiresPlugins' has invalid plugin names {bad}")
    sections = {}
    for service in services:
        section = _field(path, data, service, dict, required=False)
        sections[service] = section or {}
    for site in SITES:
        for key, kind in SITE_KEYS.items():
            if site in services:
                _field(path, data, f"{site}.{key}", kind, required=False)
    settings = {}
    if "settings" in data:
        if "storage" not in services:
            raise ManifestError(f"{path}: field 'settings' needs 'storage' in "
                                "'requiresServices': settings are kept in the plugin's schema")
        try:
            settings = read_declarations(path, data["settings"])
        except ValueError as e:
            raise ManifestError(str(e)) from None
    device_sign_in = "client" in services and bool(
        _field(path, data, "client.deviceSignIn", bool, required=False))
    return Manifest(path=path, title=title, package_name=name, version=version,
                    requires_services=tuple(services), requires_plugins=tuple(plugins),
                    sections=sections, settings=settings, device_sign_in=device_sign_in)
