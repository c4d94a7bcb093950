"""The plugins a worker needs, shipped to it through the scheduler.

Workers may run on other machines (a real Dask cluster), so the server sends
the code of every enabled plugin Peek installed itself, zipped, inside the
worker plugin; plugins bundled with Peek or pip-installed come with Peek's
environment.  The fingerprint changes whenever what workers should run does.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from peek.plugin_system.discovery import discover, origin
from peek.plugin_system.packages import active_dir

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _zip_dir(root: Path) -> bytes:
    """The files under ``root`` (a store version directory), byte-for-byte the
    same for the same files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), _EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def build_bundle(home: Path, enabled: list[str]) -> dict[str, Any]:
    """``{"enabled", "packages": {name: {"version", "zip"}}, "fingerprint"}``."""
    found = discover(home)
    packages: dict[str, dict[str, Any]] = {}
    versions: dict[str, str | None] = {}
    for name in sorted(enabled):
        plugin = found.get(name)
        if plugin is None:
            continue
        versions[name] = plugin.manifest.version if plugin.manifest else None
        if plugin.package_dir is not None and origin(plugin, home) is None:
            store_version = plugin.package_dir.resolve().parent
            packages[name] = {"version": versions[name], "zip": _zip_dir(store_version)}
    digest = hashlib.sha256(json.dumps(
        {"enabled": sorted(enabled), "versions": versions,
         "code": {n: hashlib.sha256(p["zip"]).hexdigest() for n, p in packages.items()}},
        sort_keys=True).encode()).hexdigest()
    return {"enabled": list(enabled), "packages": packages, "fingerprint": digest[:16]}


def unpack_bundle(bundle: dict[str, Any], home: Path) -> Path:
    """Lay the bundle's packages out as Peek's ``active`` directory of ``home``
    (what plugin discovery reads); returns that directory."""
    active = active_dir(home)
    active.mkdir(parents=True, exist_ok=True)
    for name, package in bundle["packages"].items():
        target = active.parent / "store" / name / str(package["version"])
        if not target.exists():
            scratch = target.with_name(f".{target.name}.{os.getpid()}")
            with zipfile.ZipFile(io.BytesIO(package["zip"])) as archive:
                archive.extractall(scratch)
            os.replace(scratch, target)
        for entry in (name, f"{name}.dist-info"):
            link = active / entry
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target / entry)
    return active
