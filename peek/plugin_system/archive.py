"""Unpacking a plugin package safely: a wheel, an sdist or a zip of a source tree.

Nothing in an archive is trusted: member names are checked before anything is
written (no absolute paths, no ``..``, no links or devices), sizes are capped
up front and again while writing (headers can lie), and heavily compressed
members are refused.  Whatever goes wrong, nothing is left behind.
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
from typing import IO, Callable, Iterator

from peek.plugin_system.manifest import MANIFEST, NAME_RE

KINDS = {".whl": "wheel", ".tar.gz": "sdist", ".tgz": "sdist", ".zip": "zip"}
CHUNK = 2**16
MIB = 2**20


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
    root: Path               # where everything was extracted
    package_dir: Path        # the directory holding plugin_package.json
    name: str                # its directory name, e.g. peek_plugin_example
    version: str | None      # the version the wheel's METADATA or sdist's PKG-INFO states
    requires_dist: tuple[str, ...]  # ... and the Python packages it needs


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    compressed: int
    open: Callable[[], IO[bytes]]


def kind_of(archive: Path) -> str:
    for suffix, kind in KINDS.items():
        if archive.name.lower().endswith(suffix):
            return kind
    raise ArchiveError(f"{archive.name}: not a plugin package; expected a wheel (.whl), "
                       "an sdist (.tar.gz, .tgz) or a zip of a source tree (.zip)")


def _check_name(archive: Path, name: str) -> PurePosixPath:
    bad = (not name or "\\" in name or "\x00" in name or name.startswith("/")
           or (len(name) > 1 and name[1] == ":"))
    path = PurePosixPath(name)
    if bad or ".." in path.parts:
        raise ArchiveError(f"{archive.name}: member {name!r} points outside the package "
                           "(absolute path or '..'); refused")
    return path


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"{archive.name}: member {info.filename!r} is a symbolic "
                               "link; links are refused")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{archive.name}: member {info.filename!r} is encrypted")
        yield _Member(info.filename, info.is_dir(), info.file_size, info.compress_size,
                      lambda info=info: zf.open(info))


def _tar_members(archive: Path, tf: tarfile.TarFile) -> Iterator[_Member]:
    for info in tf.getmembers():
        if not (info.isfile() or info.isdir()):
            what = ("a symbolic link" if info.issym() else "a hard link" if info.islnk()
                    else "a device or fifo")
            raise ArchiveError(f"{archive.name}: member {info.name!r} is {what}; only "
                               "files and directories are accepted")
        yield _Member(info.name, info.isdir(), info.size, info.size,
                      lambda info=info: tf.extractfile(info))


def _extract(archive: Path, members: list[_Member], dest: Path, limits: Limits) -> None:
    if len(members) > limits.max_members:
        raise ArchiveError(f"{archive.name}: {len(members)} members, more than the "
                           f"{limits.max_members} accepted")
    names = [m.name.rstrip("/") for m in members]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ArchiveError(f"{archive.name}: members appear twice: {', '.join(twice[:5])}")
    paths = [_check_name(archive, m.name) for m in members]
    declared = sum(m.size for m in members)
    if declared > limits.max_unpacked_bytes:
        raise ArchiveError(f"{archive.name}: unpacks to {declared // MIB} MiB, more than "
                           f"the {limits.max_unpacked_bytes // MIB} MiB accepted")
    for m in members:
        if m.size > MIB and m.size > limits.max_ratio * max(m.compressed, 1):
            raise ArchiveError(f"{archive.name}: member {m.name!r} is compressed more than "
                               f"{limits.max_ratio} to 1 (an archive bomb?); refused")
    written = 0
    for member, path in zip(members, paths):
        target = dest.joinpath(*path.parts)
        if member.is_dir:
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
            continue
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with member.open() as source, open(target, "xb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > limits.max_unpacked_bytes:
                    raise ArchiveError(f"{archive.name}: unpacks to more than the "
                                       f"{limits.max_unpacked_bytes // MIB} MiB accepted "
                                       f"(at member {member.name!r})")
                out.write(chunk)
        target.chmod(0o644)


def _find_package(archive: Path, root: Path) -> Path:
    found = sorted(p.parent for p in root.rglob(MANIFEST) if NAME_RE.match(p.parent.name))
    if len(found) == 1:
        return found[0]
    if found:
        raise ArchiveError(f"{archive.name}: holds {len(found)} plugin packages ("
                           f"{', '.join(p.name for p in found)}); one package per plugin")
    lookalikes = sorted({p.name for p in root.rglob("peek_*") if p.is_dir()
                         and NAME_RE.match(p.name)})
    if lookalikes:
        raise ArchiveError(f"{archive.name}: {', '.join(lookalikes)} has no {MANIFEST}")
    raise ArchiveError(f"{archive.name}: no plugin package in it (a folder named "
                       f"peek_plugin_<name> or peek_core_<name> holding {MANIFEST})")


def _metadata(kind: str, root: Path) -> tuple[str | None, tuple[str, ...]]:
    """Version and Requires-Dist of a wheel or sdist (a plain zip has none)."""
    pattern = {"wheel": "*.dist-info/METADATA", "sdist": "*/PKG-INFO"}.get(kind)
    for path in sorted(root.glob(pattern)) if pattern else ():
        metadata = Parser().parsestr(path.read_text(errors="replace"))
        return metadata.get("Version"), tuple(metadata.get_all("Requires-Dist") or ())
    return None, ()


def unpack_plugin(archive: Path, dest: Path, limits: Limits = Limits()) -> Unpacked:
    """Extract ``archive`` into ``dest`` (new or empty) and find the plugin
    package in it; on any error ``dest`` is removed and ArchiveError raised."""
    kind = kind_of(archive)
    size = archive.stat().st_size
    if size > limits.max_archive_bytes:
        raise ArchiveError(f"{archive.name}: {size // MIB} MiB, larger than the "
                           f"{limits.max_archive_bytes // MIB} MiB accepted")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "sdist":
            with tarfile.open(archive, "r:*") as tf:
                _extract(archive, list(_tar_members(archive, tf)), dest, limits)
        else:
            with zipfile.ZipFile(archive) as zf:
                _extract(archive, list(_zip_members(archive, zf)), dest, limits)
        package_dir = _find_package(archive, dest)
        return Unpacked(kind, dest, package_dir, package_dir.name, *_metadata(kind, dest))
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError,
            RuntimeError, NotImplementedError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(e, ArchiveError):
            raise
        raise ArchiveError(f"{archive.name}: cannot be read as a {kind}: {e}") from None
