"""Finding installed plugins: the ``peek.plugins`` entry point group."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from peek.config import peek_home
from peek.plugin_system.manifest import MANIFEST, Manifest, ManifestError, read_manifest
from peek.plugin_system.packages import active_dir, add_to_sys_path

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


def discover(home: Path | None = None) -> dict[str, Discovered]:
    """Every installed plugin by name, with its manifest or why it has none:
    those in Peek's Python environment and those Peek installed in ``home``.

    Finding a plugin imports nothing of it: the manifest is read from the
    package's directory, so a plugin whose code is broken is still listed.
    """
    add_to_sys_path(home or peek_home())
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


def origin(found: Discovered, home: Path) -> str | None:
    """None for a plugin Peek installed (and may replace or remove), else
    where it comes from."""
    if found.module.startswith("peek.plugins."):
        return "bundled with Peek"
    if found.package_dir is not None and found.package_dir.parent == active_dir(home):
        return None
    return "installed in Peek's Python environment (with pip)"


#: Bundled plugins that are examples to read and try, or not finished yet,
#: not enabled by default (``peek plugin enable peek_plugin_tutorial`` turns
#: one on).  peek_core_user waits for device sign-in (docs/core_user.md);
#: peek_plugin_active_task needs peek_core_user (docs/active_task.md).
EXAMPLES = frozenset({"peek_plugin_tutorial", "peek_core_user", "peek_plugin_active_task"})


def bundled() -> list[str]:
    """The plugins that ship inside the ``peek`` package and are enabled by
    default (all but the examples)."""
    return sorted(ep.name for ep in entry_points(group=GROUP)
                  if ep.value.startswith("peek.plugins.") and ep.name not in EXAMPLES)
