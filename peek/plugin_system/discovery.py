"""Finding installed plugins: the ``peek.plugins`` entry point group."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from peek.plugin_system.manifest import MANIFEST, Manifest, ManifestError, read_manifest

GROUP = "peek.plugins"


@dataclass
class Discovered:
    name: str
    module: str
    package_dir: Path | None
    manifest: Manifest | None
    error: str | None = None


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def discover() -> dict[str, Discovered]:
    """Every installed plugin by name, with its manifest or why it has none.

    Finding a plugin imports nothing of it: the manifest is read from the
    package's directory, so a plugin whose code is broken is still listed.
    """
    found: dict[str, Discovered] = {}
    for ep in entry_points(group=GROUP):
        package_dir = _package_dir(ep.value)
        if package_dir is None:
            found[ep.name] = Discovered(ep.name, ep.value, None, None,
                                        f"package {ep.value!r} of entry point "
                                        f"{ep.name!r} cannot be found")
            continue
        try:
            manifest = read_manifest(package_dir / MANIFEST, expected_name=ep.name)
        except ManifestError as e:
            found[ep.name] = Discovered(ep.name, ep.value, package_dir, None, str(e))
            continue
        found[ep.name] = Discovered(ep.name, ep.value, package_dir, manifest)
    return found


def bundled() -> list[str]:
    """The plugins that ship inside the ``peek`` package (enabled by default)."""
    return sorted(ep.name for ep in entry_points(group=GROUP)
                  if ep.value.startswith("peek.plugins."))
