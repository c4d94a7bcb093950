"""``peek plugin build`` and ``peek plugin release``, and installing a release.

A release archive is one zip for a machine without a package registry::

    peek-release.json     {"format": 1, "created": ..., "plugins": [{"name", "version",
                           "wheel"}, ...], "dependencies": ["<wheel>", ...]}
    plugins/<wheel>        each plugin's wheel, in the order they install
    wheels/<wheel>         the wheels of the Python packages they need

Installing it checks the whole archive first (the listed files and only those,
each plugin wheel's package, manifest and version), installs the dependency
wheels into Peek's environment with ``pip install --no-index --find-links``,
then installs each plugin as ``peek plugin install`` does. Should one plugin
be refused, the plugins of the release installed before it are taken back.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import BinaryIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from peek.plugin_system import packages
from peek.plugin_system.archive import (READ_ERRORS, ArchiveError, Limits, extract_members,
                                        unpack_plugin)
from peek.plugin_system.manifest import MANIFEST, NAME_RE, ManifestError, read_manifest
from peek.plugin_system.packages import Installed, PluginOperationError

log = logging.getLogger(__name__)

RELEASE_MANIFEST = "peek-release.json"
FORMAT = 1
#: A release carries dependency wheels: it may be larger than one plugin package.
RELEASE_LIMITS = Limits(max_archive_bytes=500 * 2**20, max_unpacked_bytes=1024 * 2**20)
PIP_TIMEOUT_S = 600
WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


class ReleaseError(PluginOperationError):
    """A project that cannot be built or released, or a release archive that is
    refused; the message says why (with the build tool's output)."""


def _run(command: list[str], what: str, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                                timeout=PIP_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"{what} took longer than {PIP_TIMEOUT_S} s") from None
    if result.returncode != 0:
        output = "\n".join(part.strip() for part in (result.stdout, result.stderr)
                           if part.strip())
        tail = "\n".join(output.splitlines()[-40:])
        raise ReleaseError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


# -- build -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path


def project_name(project: Path) -> str:
    """The plugin package a project directory holds (the one with a manifest)."""
    found = sorted(p.name for p in project.iterdir()
                   if p.is_dir() and NAME_RE.match(p.name) and (p / MANIFEST).is_file())
    if len(found) != 1:
        raise ReleaseError(f"{project}: expected one plugin package (a peek_plugin_<name> "
                           f"folder holding {MANIFEST}), found "
                           f"{', '.join(found) if found else 'none'}")
    return found[0]


def build_project(project: Path, out: Path | None = None) -> Built:
    """The wheel and sdist of the plugin project in ``project``, in ``out``
    (default ``project/dist``), built with the ``build`` package in Peek's
    environment (no isolation: no package registry needed)."""
    project = project.absolute()
    if not project.is_dir():
        raise ReleaseError(f"{project}: no such directory")
    if not (project / "setup.cfg").is_file() and not (project / "pyproject.toml").is_file():
        raise ReleaseError(f"{project}: no setup.cfg or pyproject.toml; is it a plugin "
                           "project (see 'peek plugin new')?")
    name = project_name(project)
    try:
        manifest = read_manifest(project / name / MANIFEST, expected_name=name)
    except ManifestError as e:
        raise ReleaseError(str(e)) from None
    out = (out or project / "dist").absolute()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peek-build-") as scratch:
        _run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
              "--outdir", scratch, str(project)], f"building {project}", cwd=project)
        made = sorted(Path(scratch).iterdir())
        wheels = [p for p in made if p.name.endswith(".whl")]
        sdists = [p for p in made if p.name.endswith(".tar.gz")]
        if len(wheels) != 1 or len(sdists) != 1:
            raise ReleaseError(f"building {project} made {[p.name for p in made]}, not one "
                               "wheel and one sdist")
        _check_wheel(wheels[0], name, manifest.version)
        targets = []
        for path in (wheels[0], sdists[0]):
            target = out / path.name
            shutil.move(path, target)
            targets.append(target)
    egg_info = project / f"{name}.egg-info"  # left by setuptools in the project
    if egg_info.is_dir():
        shutil.rmtree(egg_info, ignore_errors=True)
    shutil.rmtree(project / "build", ignore_errors=True)
    return Built(*targets)


def _check_wheel(wheel: Path, name: str, version: str) -> None:
    """The wheel holds the package with its manifest, and has its version."""
    match = WHEEL_RE.match(wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    if f"{name}/{MANIFEST}" not in names:
        raise ReleaseError(f"{wheel.name} does not hold {name}/{MANIFEST}: add it to "
                           "[options.package_data] in setup.cfg")
    if not match or match["version"] != version:
        raise ReleaseError(f"{wheel.name}: its version is not {version}, the version in "
                           f"{name}/{MANIFEST}; make setup.cfg's version match")


# -- release -----------------------------------------------------------------------------
def _peek_requirements() -> set[str]:
    """Every distribution Peek needs (its requirements, recursively), by
    canonical name: these are on every Peek machine already."""
    seen: set[str] = set()
    todo = ["peek-platform"]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            todo.append(requirement.name)
    return seen


def _wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next((n for n in archive.namelist()
                         if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None)
        if metadata is None:
            raise ReleaseError(f"{wheel.name}: no .dist-info/METADATA; not a wheel")
        text = archive.read(metadata).decode(errors="replace")
    return list(Parser().parsestr(text).get_all("Requires-Dist") or [])


Planned = tuple[str, str, Path, tuple[str, ...]]  # name, version, wheel, requiresPlugins


def _order(plugins: list[Planned]) -> list[Planned]:
    """Plugins of the release after the release's plugins they require."""
    names = {p[0] for p in plugins}
    done: list[Planned] = []
    left = list(plugins)
    while left:
        ready = [p for p in left if all(r in {d[0] for d in done} or r not in names
                                        for r in p[3])]
        if not ready:
            raise ReleaseError("the plugins require each other in a cycle: "
                               f"{', '.join(p[0] for p in left)}")
        done.extend(ready)
        left = [p for p in left if p not in ready]
    return done


def make_release(projects: list[Path], out: Path | None = None,
                 find_links: tuple[Path, ...] = (), no_index: bool = False) -> Path:
    """Build each project and zip the wheels, with the wheels of every Python
    package they need that Peek does not (``pip wheel``), into one release."""
    if not projects:
        raise ReleaseError("name at least one plugin project directory")
    with tempfile.TemporaryDirectory(prefix="peek-release-") as scratch_name:
        scratch = Path(scratch_name)
        plugins = []
        for project in projects:
            built = build_project(project, scratch / "built" / project.name)
            name = project_name(project.absolute())
            manifest = read_manifest(project.absolute() / name / MANIFEST)
            plugins.append((name, manifest.version, built.wheel, manifest.requires_plugins))
        names = [p[0] for p in plugins]
        if len(set(names)) != len(names):
            raise ReleaseError(f"a plugin is named twice: {', '.join(names)}")
        plugins = _order(plugins)
        skip = _peek_requirements() | {canonicalize_name(n) for n in names}
        requirements = sorted({line for _, _, wheel, _ in plugins
                               for line in _wheel_requirements(wheel)
                               if canonicalize_name(Requirement(line).name) not in skip})
        wheels = scratch / "wheels"
        wheels.mkdir()
        if requirements:
            command = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check",
                       "--wheel-dir", str(wheels)]
            command += [arg for link in find_links for arg in ("--find-links", str(link))]
            # Offline, a dependency shipped as an sdist builds with what Peek has.
            command += ["--no-index", "--no-build-isolation"] if no_index else []
            _run(command + requirements, "collecting the wheels of "
                 f"{', '.join(requirements)} (pip wheel)")
        dependencies = sorted(p.name for p in wheels.glob("*.whl")
                              if canonicalize_name(p.name.split("-")[0]) not in skip)
        created = datetime.datetime.now(datetime.timezone.utc)
        manifest = {"format": FORMAT, "created": created.isoformat(timespec="seconds"),
                    "plugins": [{"name": n, "version": v, "wheel": w.name}
                                for n, v, w, _ in plugins],
                    "dependencies": dependencies}
        if out is None:
            stem = names[0] if len(names) == 1 else "peek-plugins"
            out = Path(f"{stem}-release-{created:%Y%m%d-%H%M%S}.zip")
        out = out.absolute()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(RELEASE_MANIFEST, json.dumps(manifest, indent=2) + "\n")
            for _, _, wheel, _ in plugins:
                archive.write(wheel, f"plugins/{wheel.name}")
            for dependency in dependencies:
                archive.write(wheels / dependency, f"wheels/{dependency}")
        os.replace(tmp, out)
    return out


# -- install -----------------------------------------------------------------------------
def is_release(archive: Path | BinaryIO, filename: str | None = None) -> bool:
    """A zip with ``peek-release.json`` at its root (else a plugin package).
    ``archive`` may be an open file (``filename`` its name); it is read from
    the start and left there."""
    name = filename if filename is not None else getattr(archive, "name", "")
    if not str(name).lower().endswith(".zip"):
        return False
    try:
        if not zipfile.is_zipfile(archive):
            return False
        with zipfile.ZipFile(archive) as zf:
            return RELEASE_MANIFEST in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    finally:
        if not isinstance(archive, Path):
            archive.seek(0)


def _read_release(archive: Path, root: Path) -> dict:
    path = root / RELEASE_MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReleaseError(f"{archive.name}: {RELEASE_MANIFEST} is not valid JSON: {e}") \
            from None
    bad = (not isinstance(data, dict) or data.get("format") != FORMAT
           or not isinstance(data.get("plugins"), list) or not data["plugins"]
           or not isinstance(data.get("dependencies"), list)
           or not all(isinstance(p, dict) and all(isinstance(p.get(k), str)
                                                  for k in ("name", "version", "wheel"))
                      for p in data["plugins"])
           or not all(isinstance(d, str) for d in data["dependencies"]))
    if bad:
        raise ReleaseError(f"{archive.name}: {RELEASE_MANIFEST} is not a release manifest "
                           f"of format {FORMAT} (plugins: name, version, wheel; "
                           "dependencies: wheel names)")
    listed = {f"plugins/{p['wheel']}" for p in data["plugins"]} | {
        f"wheels/{d}" for d in data["dependencies"]}
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    missing = sorted(listed - present)
    if missing:
        raise ReleaseError(f"{archive.name}: {RELEASE_MANIFEST} lists {', '.join(missing)}, "
                           "missing from the archive")
    extra = sorted(present - listed - {RELEASE_MANIFEST})
    if extra:
        raise ReleaseError(f"{archive.name}: holds {', '.join(extra)}, not listed in "
                           f"{RELEASE_MANIFEST}")
    return data


def _check_plugins(archive: Path, root: Path, data: dict, home: Path,
                   installed: dict[str, str | None]) -> list[tuple[str, str, Path]]:
    """Each plugin wheel holds the plugin the release manifest says, and could be
    installed (versions, required plugins); nothing is changed."""
    plugins = []
    names = [p["name"] for p in data["plugins"]]
    for entry in data["plugins"]:
        wheel = root / "plugins" / entry["wheel"]
        try:
            unpacked = unpack_plugin(wheel, root / "check" / entry["name"])
            manifest = read_manifest(unpacked.package_dir / MANIFEST,
                                     expected_name=unpacked.name)
        except (ArchiveError, ManifestError) as e:
            raise ReleaseError(f"{archive.name}: {str(e).replace(str(root) + '/', '')}") \
                from None
        if (manifest.package_name, manifest.version) != (entry["name"], entry["version"]):
            raise ReleaseError(f"{archive.name}: plugins/{entry['wheel']} holds "
                               f"{manifest.package_name} {manifest.version}, but "
                               f"{RELEASE_MANIFEST} says {entry['name']} {entry['version']}")
        if installed.get(entry["name"]) is not None:
            raise ReleaseError(f"{entry['name']} is {installed[entry['name']]}; Peek installs "
                               "and replaces only the plugins it installed itself")
        current = packages.versions(home, entry["name"])
        if current and Version(current[-1]) >= Version(entry["version"]):
            raise ReleaseError(f"{entry['name']} {current[-1]} is installed; the release's "
                               f"{entry['version']} is not newer")
        earlier = names[:names.index(entry["name"])]
        missing = [p for p in manifest.requires_plugins if p not in installed
                   and p not in earlier]
        if missing:
            raise ReleaseError(f"{entry['name']} requires plugins that are neither installed "
                               f"nor earlier in the release: {', '.join(missing)}")
        plugins.append((entry["name"], entry["version"], wheel))
    shutil.rmtree(root / "check", ignore_errors=True)
    return plugins


def _pip_install(archive: Path, root: Path, data: dict) -> None:
    """The plugins' Python requirements from the release's wheels only."""
    requirements = sorted({line for p in data["plugins"]
                           for line in _wheel_requirements(root / "plugins" / p["wheel"])
                           if canonicalize_name(Requirement(line).name)
                           not in {canonicalize_name(q["name"]) for q in data["plugins"]}})
    if not requirements:
        return
    env = dict(os.environ, PIP_NO_INDEX="1")
    _run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
          "--no-index", "--find-links", str(root / "wheels"), *requirements],
         f"{archive.name}: installing {', '.join(requirements)} from the release's wheels",
         env=env)
    log.info("Installed %s from %s", ", ".join(requirements), archive.name)


def _distributions() -> dict[str, tuple[str, str]]:
    """The Python distributions in Peek's environment: canonical name →
    (name, version)."""
    importlib.invalidate_caches()
    return {canonicalize_name(d.metadata["Name"]): (d.metadata["Name"], d.version)
            for d in importlib.metadata.distributions() if d.metadata["Name"]}


def _undo_pip(archive: Path, before: dict[str, tuple[str, str]]) -> str:
    """Uninstall what the release's pip run added; what it upgraded stays
    (there is no older wheel to go back to).  Says what was done."""
    after = _distributions()
    added = [after[key] for key in sorted(after) if key not in before]
    upgraded = [f"{after[key][0]} {before[key][1]} → {after[key][1]}" for key in sorted(after)
                if key in before and after[key][1] != before[key][1]]
    said = []
    if added:
        names = ", ".join(name for name, _ in added)
        try:
            _run([sys.executable, "-m", "pip", "uninstall", "--yes",
                  "--disable-pip-version-check", *(name for name, _ in added)],
                 f"{archive.name}: uninstalling {names} again")
            said.append(f"{', '.join(f'{n} {v}' for n, v in added)} uninstalled again")
            log.info("Uninstalled %s again: %s was refused", names, archive.name)
        except ReleaseError as e:
            log.warning("%s", e)
            said.append(f"{names} could not be uninstalled and stay")
    if upgraded:
        said.append(f"upgraded and staying: {', '.join(upgraded)}")
    return "; ".join(said)


def install_release(archive: Path, home: Path,
                    installed: dict[str, str | None]) -> list[Installed]:
    """Install every plugin of a release (the caller holds the packages lock);
    returns them in install order. A refused release changes no plugin."""
    scratch = packages.plugins_dir(home) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=scratch, prefix="release-"))
    done: list[Installed] = []
    try:
        root = work / "release"
        root.mkdir()
        size = archive.stat().st_size
        if size > RELEASE_LIMITS.max_archive_bytes:
            raise ReleaseError(f"{archive.name}: {size // 2**20} MiB, larger than the "
                               f"{RELEASE_LIMITS.max_archive_bytes // 2**20} MiB accepted")
        try:
            extract_members(archive, "zip", root, RELEASE_LIMITS)
        except ArchiveError as e:
            raise ReleaseError(str(e)) from None
        except READ_ERRORS as e:
            raise ReleaseError(f"{archive.name}: damaged or truncated release archive: "
                               f"{e}") from None
        data = _read_release(archive, root)
        plugins = _check_plugins(archive, root, data, home, installed)
        before = _distributions()
        known = dict(installed)
        try:
            _pip_install(archive, root, data)
            importlib.invalidate_caches()
            for name, _, wheel in plugins:
                done.append(packages.install(wheel, home, known))
                known[name] = None
        except PluginOperationError as e:
            for plugin in reversed(done):
                if plugin.previous is None:
                    packages.remove(home, plugin.name)
                else:
                    packages.roll_back(home, plugin.name)
            undone = [f"{', '.join(p.name for p in done)} of this release taken back"] \
                if done else []
            if pip_said := _undo_pip(archive, before):
                undone.append(pip_said)
            kept = f" ({'; '.join(undone)})" if undone else ""
            message = str(e) if isinstance(e, ReleaseError) else f"{archive.name}: {e}"
            raise ReleaseError(f"{message}{kept}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:  # a refused release leaves nothing behind
            scratch.rmdir()
        except OSError:
            pass
    return done
