"""Unpacking a plugin package safely: a wheel, an sdist or a zip of a source tree.

Nothing in an archive is trusted: every member is checked before anything is
written (no absolute paths, no ``..``, no links or devices, no duplicates),
sizes are capped up front and again while writing (headers can lie), heavily
compressed members are refused, and extracted files get plain permissions.
Whatever goes wrong, ``dest`` is removed and an :class:`ArchiveError` says why.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path, PurePosixPath
from typing import IO, Callable

from peek.plugin_system.manifest import MANIFEST, NAME_RE

KINDS = {".whl": "wheel", ".tar.gz": "sdist", ".tgz": "sdist", ".zip": "zip"}
#: Where each kind holds its plugin package, relative to the archive root.
PACKAGE_GLOBS = {"wheel": ("*",), "sdist": ("*/*", "*/src/*"), "zip": ("**/*",)}
#: Where each kind holds its metadata (Version, Requires-Dist); a plain zip has none.
METADATA_GLOBS = {"wheel": "*.dist-info/METADATA", "sdist": "*/PKG-INFO"}
CHUNK = 2**16
MIB = 2**20
#: What reading a damaged archive can raise, besides ArchiveError itself.
READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError,
               ValueError, RuntimeError, NotImplementedError)


class ArchiveError(ValueError):
    """A package that cannot be installed; the message names the archive and,
    where it applies, the offending member."""


@dataclass(frozen=True)
class Limits:
    max_archive_bytes: int = 50 * MIB
    max_unpacked_bytes: int = 200 * MIB
    max_members: int = 5000
    max_ratio: int = 200  # uncompressed / compressed, for members over 1 MiB


@dataclass(frozen=True)
class Unpacked:
    kind: str                # "wheel" | "sdist" | "zip"
    root: Path               # the directory everything was extracted into
    package_dir: Path        # the directory holding plugin_package.json
    name: str                # its directory name, e.g. peek_plugin_example
    requires_dist: tuple[str, ...]  # Requires-Dist of METADATA / PKG-INFO; () for a zip
    version: str | None = None      # Version of METADATA / PKG-INFO; None for a zip


@dataclass(frozen=True)
class _Member:
    name: str
    path: PurePosixPath
    is_dir: bool
    size: int        # as the header declares it
    compressed: int  # an upper bound of its compressed size
    open: Callable[[], IO[bytes]]


def kind_of(archive: Path) -> str:
    """``wheel``, ``sdist`` or ``zip``, from the file name."""
    for suffix, kind in KINDS.items():
        if archive.name.lower().endswith(suffix):
            return kind
    raise ArchiveError(f"{archive.name}: not a plugin package; expected a wheel (.whl), "
                       "an sdist (.tar.gz, .tgz) or a zip of a source tree (.zip)")


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n} bytes"


def _member_path(archive: Path, name: str, is_dir: bool) -> PurePosixPath:
    """The member's path inside ``dest``; refused unless it stays there.
    (A folder named ``.`` or ``./``, as ``tar -C dir .`` makes, is ``dest`` itself.)"""
    path = PurePosixPath(name)
    if not name or not (path.parts or is_dir):
        problem = "an empty name"
    elif "\\" in name or "\x00" in name:
        problem = "a backslash or NUL in its name"
    elif name.startswith("/") or name[1:2] == ":":
        problem = "an absolute path"
    elif ".." in path.parts:
        problem = "'..' in its path, pointing outside the package"
    else:
        return path
    raise ArchiveError(f"{archive.name}: member {name!r} has {problem}; refused")


def _too_many(archive: Path, limits: Limits) -> ArchiveError:
    return ArchiveError(f"{archive.name}: more than the {limits.max_members} members accepted")


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        name = info.orig_filename  # zipfile cuts .filename at a NUL
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"{archive.name}: member {name!r} is a symbolic link; "
                               "links are refused")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{archive.name}: member {name!r} is encrypted; refused")
        is_dir = info.is_dir()
        members.append(_Member(name, _member_path(archive, name, is_dir), is_dir,
                               info.file_size, info.compress_size,
                               lambda info=info: zf.open(info)))
    return members


def _tar_members(archive: Path, tf: tarfile.TarFile, limits: Limits) -> list[_Member]:
    members = []
    compressed = archive.stat().st_size  # no member is compressed into more than all of it
    for info in tf:  # read lazily, so a tar of millions of members stops early
        if len(members) == limits.max_members:
            raise _too_many(archive, limits)
        if not (info.isfile() or info.isdir()):
            what = ("a symbolic link" if info.issym() else "a hard link" if info.islnk()
                    else "a device or fifo")
            raise ArchiveError(f"{archive.name}: member {info.name!r} is {what}; only "
                               "files and directories are accepted")
        is_dir = info.isdir()
        members.append(_Member(info.name, _member_path(archive, info.name, is_dir), is_dir,
                               info.size, compressed, lambda info=info: tf.extractfile(info)))
    return members


def _check_layout(archive: Path, members: list[_Member], limits: Limits) -> None:
    """Count, duplicates, files used as folders, declared sizes and ratios."""
    if len(members) > limits.max_members:
        raise _too_many(archive, limits)
    seen: dict[PurePosixPath, _Member] = {}
    for m in members:
        if m.path in seen:
            raise ArchiveError(f"{archive.name}: member {m.name!r} appears twice")
        seen[m.path] = m
    for m in members:
        inside = next((p for p in m.path.parents if p in seen and not seen[p].is_dir), None)
        if inside is not None:
            raise ArchiveError(f"{archive.name}: member {m.name!r} is inside "
                               f"{seen[inside].name!r}, which is a file")
    declared = sum(m.size for m in members)
    if declared > limits.max_unpacked_bytes:
        raise ArchiveError(f"{archive.name}: unpacks to {_size(declared)}, more than "
                           f"the {_size(limits.max_unpacked_bytes)} accepted")
    for m in members:
        if m.size > MIB and m.size > limits.max_ratio * max(m.compressed, 1):
            raise ArchiveError(f"{archive.name}: member {m.name!r} is compressed more than "
                               f"{limits.max_ratio} to 1 (an archive bomb?); refused")


def _write(archive: Path, members: list[_Member], dest: Path, limits: Limits) -> None:
    """Write the members, counting the bytes actually written, not the declared ones."""
    written = 0
    for m in members:
        target = dest.joinpath(*m.path.parts)
        if m.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with m.open() as source, open(target, "xb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > limits.max_unpacked_bytes:
                    raise ArchiveError(f"{archive.name}: unpacks to more than the "
                                       f"{_size(limits.max_unpacked_bytes)} accepted "
                                       f"(at member {m.name!r})")
                out.write(chunk)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def extract_members(archive: Path, kind: str, dest: Path, limits: Limits) -> None:
    """Write the members of ``archive`` (a ``kind`` of KINDS) under ``dest``,
    checking each one first; raises ArchiveError.  Also unpacks release zips."""
    if kind == "sdist":
        if not tarfile.is_tarfile(archive):
            raise ArchiveError(f"{archive.name}: not a valid tar file (damaged, truncated "
                               "or not an sdist)")
        with tarfile.open(archive, "r:gz") as tf:
            members = _tar_members(archive, tf, limits)
            _check_layout(archive, members, limits)
            _write(archive, members, dest, limits)
    else:
        if not zipfile.is_zipfile(archive):
            raise ArchiveError(f"{archive.name}: not a valid zip file (damaged, truncated "
                               f"or not a {kind})")
        with zipfile.ZipFile(archive) as zf:
            members = _zip_members(archive, zf)
            _check_layout(archive, members, limits)
            _write(archive, members, dest, limits)


def _find_package(archive: Path, kind: str, root: Path) -> Path:
    """The one plugin package where ``kind`` keeps it."""
    candidates = sorted({p for pattern in PACKAGE_GLOBS[kind] for p in root.glob(pattern)
                         if p.is_dir() and NAME_RE.match(p.name)})
    found = [p for p in candidates if (p / MANIFEST).is_file()]
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(str(p.relative_to(root)) for p in found)
        raise ArchiveError(f"{archive.name}: holds {len(found)} plugin packages ({listed}); "
                           "a package must hold exactly one")
    if candidates:
        listed = ", ".join(str(p.relative_to(root)) for p in candidates)
        raise ArchiveError(f"{archive.name}: no plugin package; {MANIFEST} is missing "
                           f"from {listed}")
    raise ArchiveError(f"{archive.name}: no plugin package in it (a folder named "
                       f"peek_plugin_<name> or peek_core_<name> holding {MANIFEST})")


def _metadata(kind: str, root: Path) -> tuple[tuple[str, ...], str | None]:
    """Requires-Dist and Version of a wheel or sdist; nothing for a plain zip."""
    paths = sorted(root.glob(METADATA_GLOBS[kind])) if kind in METADATA_GLOBS else []
    if not paths:
        return (), None
    metadata = Parser().parsestr(paths[0].read_text(errors="replace"))
    return tuple(metadata.get_all("Requires-Dist") or ()), metadata.get("Version")


def unpack_plugin(archive: Path, dest: Path, limits: Limits = Limits()) -> Unpacked:
    """Extract ``archive`` into ``dest`` (must not exist or be empty) and find the
    plugin package; on any error ``dest`` is removed and ArchiveError raised."""
    kind = kind_of(archive)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ArchiveError(f"{archive.name}: cannot unpack into {dest}: it is not empty")
    try:
        size = archive.stat().st_size
        if size > limits.max_archive_bytes:
            raise ArchiveError(f"{archive.name}: {_size(size)}, larger than the "
                               f"{_size(limits.max_archive_bytes)} accepted")
        dest.mkdir(parents=True, exist_ok=True)
        extract_members(archive, kind, dest, limits)
        package_dir = _find_package(archive, kind, dest)
        return Unpacked(kind, dest, package_dir, package_dir.name, *_metadata(kind, dest))
    except ArchiveError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except READ_ERRORS as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f"{archive.name}: damaged or truncated {kind} file: {e}") from None
