"""Plugin packages on disk: installing, switching versions and removing them.

Peek keeps the plugins it installs apart from the Python environment, under
``$PEEK_HOME/peek-plugins/``::

    store/<name>/<version>/<name>/          the package as shipped
    store/<name>/<version>/<name>.dist-info  its entry point (written by Peek)
    store/<name>/versions.json               installed versions, oldest first; last is current
    active/                                  on sys.path: links to each current version

An install is checked completely (archive, manifest, versions, requirements,
a test import in a separate process) in a scratch directory before anything
is moved into place; a refused package leaves every file as it was.
Switching versions replaces links, each in one atomic rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.metadata
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from peek.plugin_system.archive import ArchiveError, Limits, Unpacked, unpack_plugin
from peek.plugin_system.manifest import (MANIFEST, PYTHON_SERVICES, Manifest,
                                         ManifestError, read_manifest)

log = logging.getLogger(__name__)

#: Versions of a plugin kept for rollback, the current one included.
KEEP_VERSIONS = 3
TEST_IMPORT_TIMEOUT_S = 120


class PluginOperationError(RuntimeError):
    """A plugin package or operation that is refused; the message says why."""


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    previous: str | None


def plugins_dir(home: Path) -> Path:
    return home / "peek-plugins"


def active_dir(home: Path) -> Path:
    return plugins_dir(home) / "active"


def add_to_sys_path(home: Path) -> None:
    """Make the plugins Peek installed importable (and found as entry points)."""
    active = active_dir(home)
    active.mkdir(parents=True, exist_ok=True)
    if str(active) not in sys.path:
        sys.path.append(str(active))
    importlib.invalidate_caches()


def versions(home: Path, name: str) -> list[str]:
    """Installed versions of ``name``, oldest first (empty if Peek did not install it)."""
    path = plugins_dir(home) / "store" / name / "versions.json"
    return json.loads(path.read_text()) if path.exists() else []


@contextmanager
def locked(home: Path) -> Iterator[None]:
    """One package operation at a time on this PEEK_HOME."""
    root = plugins_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# -- checking a package ------------------------------------------------------------------
def _check_requirements(name: str, requires_dist: tuple[str, ...]) -> None:
    problems = []
    for line in requires_dist:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(f"{line!r} (not a valid requirement)")
            continue
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            have = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{requirement} (not installed)")
            continue
        if requirement.specifier and not requirement.specifier.contains(have, prereleases=True):
            problems.append(f"{requirement} (version {have} is installed)")
    if problems:
        raise PluginOperationError(f"{name} needs Python packages Peek's environment does not have: "
                           f"{'; '.join(problems)}. Install them with pip first.")


_TEST_IMPORT = """
import importlib, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from peek.plugin_api import PluginHook
module = importlib.import_module(sys.argv[3])
for service in sys.argv[4:]:
    factory = getattr(module, service + "_entry_hook", None)
    if factory is None:
        sys.exit(f"it has no {service}_entry_hook() but its manifest lists the {service} service")
    hook = factory()
    if not (isinstance(hook, type) and issubclass(hook, PluginHook)):
        sys.exit(f"{service}_entry_hook() returned {hook!r}, not a PluginHook subclass")
"""


def _test_import(unpacked: Unpacked, manifest: Manifest, home: Path) -> None:
    """Import the package and each hook class in a fresh interpreter, so a
    package that cannot even be imported is refused before it is installed."""
    services = [s for s in PYTHON_SERVICES if manifest.runs_on(s)]
    with tempfile.TemporaryDirectory() as empty:
        try:
            result = subprocess.run(
                [sys.executable, "-c", _TEST_IMPORT, str(unpacked.package_dir.parent),
                 str(active_dir(home)), unpacked.name, *services],
                cwd=empty, capture_output=True, text=True, timeout=TEST_IMPORT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise PluginOperationError(f"{unpacked.name}: importing it took longer than "
                               f"{TEST_IMPORT_TIMEOUT_S} s") from None
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
        raise PluginOperationError(f"{unpacked.name} failed its test import: {detail}")


def _check(unpacked: Unpacked, home: Path, installed: dict[str, str | None]) -> Manifest:
    """Everything that must hold before a package is installed.

    ``installed`` maps each plugin found now to where it comes from: ``None``
    for Peek's own store, else a description (bundled, the Python environment).
    """
    try:
        manifest = read_manifest(unpacked.package_dir / MANIFEST, expected_name=unpacked.name)
    except ManifestError as e:
        raise PluginOperationError(str(e).replace(str(unpacked.root) + "/", "")) from None
    name, version = manifest.package_name, manifest.version
    if unpacked.version and Version(unpacked.version) != Version(version):
        raise PluginOperationError(f"{name}: the package says version {unpacked.version} "
                                   f"but its {MANIFEST} says {version}")
    if installed.get(name, None) is not None:
        raise PluginOperationError(f"{name} is {installed[name]}; Peek installs and replaces only "
                           "the plugins it installed itself")
    current = versions(home, name)[-1:] or [None]
    if current[0] is not None:
        if Version(version) == Version(current[0]):
            raise PluginOperationError(f"{name} {version} is already installed; give the new "
                               "package a higher version")
        if Version(version) < Version(current[0]):
            raise PluginOperationError(f"{name} {current[0]} is installed, newer than {version}; "
                               f"use 'peek plugin rollback {name}' to go back")
    missing = [p for p in manifest.requires_plugins if p not in installed]
    if missing:
        raise PluginOperationError(f"{name} requires plugins that are not installed: "
                           f"{', '.join(missing)}")
    _check_requirements(name, unpacked.requires_dist)
    _test_import(unpacked, manifest, home)
    return manifest


# -- changing what is installed --------------------------------------------------------
def _write_versions(home: Path, name: str, listed: list[str]) -> None:
    path = plugins_dir(home) / "store" / name / "versions.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(listed))
    os.replace(tmp, path)


def _link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(target, link.parent))
    os.replace(tmp, link)


def activate(home: Path, name: str, version: str) -> None:
    """Make ``version`` (in the store) the one discovery finds."""
    target = plugins_dir(home) / "store" / name / version
    active = active_dir(home)
    active.mkdir(parents=True, exist_ok=True)
    _link(active / f"{name}.dist-info", target / f"{name}.dist-info")
    _link(active / name, target / name)
    importlib.invalidate_caches()


def _write_dist_info(path: Path, manifest: Manifest, requires_dist: tuple[str, ...]) -> None:
    path.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {manifest.package_name}",
             f"Version: {manifest.version}", f"Summary: {manifest.title}",
             *(f"Requires-Dist: {r}" for r in requires_dist)]
    (path / "METADATA").write_text("\n".join(lines) + "\n")
    (path / "entry_points.txt").write_text(
        f"[peek.plugins]\n{manifest.package_name} = {manifest.package_name}\n")
    (path / "INSTALLER").write_text("peek\n")


def install(archive: Path, home: Path, installed: dict[str, str | None],
            limits: Limits = Limits()) -> Installed:
    """Check and install a package; the previous version stays for rollback."""
    if not archive.is_file():
        raise PluginOperationError(f"{archive}: no such file")
    scratch = plugins_dir(home) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=scratch))
    try:
        try:
            unpacked = unpack_plugin(archive, work / "unpacked", limits)
        except ArchiveError as e:
            raise PluginOperationError(str(e)) from None
        manifest = _check(unpacked, home, installed)
        name, version = manifest.package_name, manifest.version
        listed = versions(home, name)
        target = plugins_dir(home) / "store" / name / version
        if target.exists():  # left by an earlier rollback past it
            shutil.rmtree(target)
        target.mkdir(parents=True)
        os.rename(unpacked.package_dir, target / name)
        _write_dist_info(target / f"{name}.dist-info", manifest, unpacked.requires_dist)
        kept = (listed + [version])[-KEEP_VERSIONS:]
        _write_versions(home, name, kept)
        activate(home, name, version)
        for old in listed[:len(listed) + 1 - len(kept)]:
            shutil.rmtree(plugins_dir(home) / "store" / name / old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):  # a refused package leaves nothing behind
            scratch.rmdir()
    log.info("Installed plugin %s %s from %s", name, version, archive.name)
    return Installed(name, version, listed[-1] if listed else None)


def package_dir(home: Path, name: str, version: str) -> Path:
    return plugins_dir(home) / "store" / name / version / name


def rollback_versions(home: Path, name: str) -> tuple[str, str]:
    """(current, previous) installed versions of ``name``, or why there are none."""
    listed = versions(home, name)
    if len(listed) < 2:
        raise PluginOperationError(f"{name} has no earlier version to roll back to"
                                   if listed else f"{name} was not installed by Peek")
    return listed[-1], listed[-2]


def roll_back(home: Path, name: str) -> tuple[str, str]:
    """Make the previous version current again and forget the current one;
    returns (from, to).  The caller takes the schema back first."""
    current, previous = rollback_versions(home, name)
    listed = versions(home, name)
    activate(home, name, previous)
    _write_versions(home, name, listed[:-1])
    shutil.rmtree(plugins_dir(home) / "store" / name / current, ignore_errors=True)
    log.info("Rolled plugin %s back from %s to %s", name, current, previous)
    return current, previous


def remove(home: Path, name: str) -> None:
    """Remove every installed version of ``name``."""
    if not versions(home, name):
        raise PluginOperationError(f"{name} was not installed by Peek")
    active = active_dir(home)
    (active / name).unlink(missing_ok=True)
    (active / f"{name}.dist-info").unlink(missing_ok=True)
    importlib.invalidate_caches()
    shutil.rmtree(plugins_dir(home) / "store" / name)
    log.info("Removed plugin %s", name)


_EPOCH = (1980, 1, 1, 0, 0, 0)


def version_zip(home: Path, name: str, version: str) -> bytes:
    """One installed version (``<name>/`` and ``<name>.dist-info/``) zipped, the
    same bytes for the same files: what the server hands to other services."""
    root = plugins_dir(home) / "store" / name / version
    if not (root / name).is_dir():
        raise PluginOperationError(f"{name} {version} is not in Peek's store")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), _EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def add_version_zip(home: Path, name: str, version: str, data: bytes) -> None:
    """Put a zip made by :func:`version_zip` in this home's store (once) and
    make it the active version."""
    target = plugins_dir(home) / "store" / name / version
    if not (target / name).is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{version}.{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in Path(member).parts \
                        or Path(member).parts[0] not in (name, f"{name}.dist-info"):
                    raise PluginOperationError(f"{name} {version}: unexpected member "
                                               f"{member!r} in the package sent")
            archive.extractall(scratch)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
    activate(home, name, version)
