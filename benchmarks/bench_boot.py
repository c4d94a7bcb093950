"""Boot benchmark: ``peek server`` with 200 generated plugins.

Each generated plugin ``peek_plugin_bench_NNN`` is a real one, installed as
pip would install it (the package plus a ``.dist-info`` registering its
``peek.plugins`` entry point, in a directory on the server's PYTHONPATH, with
its bytecode compiled): requiresServices server, storage and admin; a server
hook adding an admin blueprint whose one route renders a template from
``templates/<name>/``; a SQLAlchemy model; one Alembic revision creating its
table in schema ``pl_bench_NNN``.  The server's ``plugin.enabled`` lists all of
them plus the bundled noop plugin.

The server runs as a real process (``python -m peek server``) with its own
PEEK_HOME, free loopback ports for every port key and the embedded PostgreSQL
of that home, which the server starts and stops itself.  A start is timed
from spawn until the admin site's ``/healthz`` answers 200 with every enabled
plugin ``started`` (the site listens only once the plugins have started).

- cold_s: a first start on a new, empty database: the embedded PostgreSQL's
  data directory is initialised (initdb and the empty ``peek`` database,
  untimed) beforehand, so the timed start includes starting PostgreSQL, the
  platform's migrations and all 201 plugin migrations.  Median of 2, each in
  a new PEEK_HOME.
- warm_s: a later start on the migrated database of the last cold run
  (starting PostgreSQL included, nothing to migrate).  Median of 3.
- rss_mb: resident memory (MiB) of the server process once healthy after a
  warm start; median of the 3 warm starts.

Prints ``BENCH boot plugins=200 cold_s=.. warm_s=.. rss_mb=..`` on stdout, or
``BENCH boot error="why"`` and exits 1.  Progress goes to stderr.
"""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import psutil
import requests

from peek.storage.embedded import EmbeddedPostgres
from vortex_bench import REPO  # noqa: F401 (puts the repo on sys.path)
from tests.admin_session import admin_requests  # noqa: E402

NAME = "boot"
PLUGINS = 200
COLD_RUNS, WARM_RUNS = 2, 3
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 90
SETTLE_S = 1.0
LEFTOVER_GRACE_S = 5


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bench_boot] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the generated plugins ---------------------------------------------------------------

def plugin_name(index: int) -> str:
    return f"peek_plugin_bench_{index:03d}"


def write_plugin(root: Path, index: int) -> str:
    name = plugin_name(index)
    schema = f"pl_bench_{index:03d}"
    files = {
        "__init__.py": """
            from peek.plugin_api import PluginHook


            def server_entry_hook() -> type[PluginHook]:
                from ._private.server.hook import ServerHook
                return ServerHook
            """,
        "plugin_package.json": json.dumps({
            "plugin": {"title": f"Bench {index:03d}", "packageName": name, "version": "1.0.0"},
            "requiresServices": ["server", "storage", "admin"],
            "requiresPlugins": [],
            "admin": {"title": f"Bench {index:03d}", "priority": 500},
        }, indent=2),
        "_private/__init__.py": "",
        "_private/server/__init__.py": "",
        "_private/storage.py": f'''
            """The plugin's table, in its own schema ({schema})."""

            from sqlalchemy import Integer, MetaData, String
            from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


            class Base(DeclarativeBase):
                metadata = MetaData(schema="{schema}")


            class BenchItem(Base):
                __tablename__ = "bench_item"

                id: Mapped[int] = mapped_column(Integer, primary_key=True)
                name: Mapped[str] = mapped_column(String(100), unique=True)
            ''',
        "_private/server/hook.py": f"""
            from flask import Blueprint, render_template
            from sqlalchemy import func, select

            from peek.plugin_api import PluginHook

            from ..storage import BenchItem


            class ServerHook(PluginHook):
                def load(self) -> None:
                    admin = Blueprint("admin", __name__, template_folder="../../templates")
                    admin.add_url_rule("/", "index", self._index)
                    self.platform.add_blueprint(admin, "admin")

                def _index(self) -> str:
                    with self.platform.db_session() as session:
                        count = session.scalar(select(func.count()).select_from(BenchItem))
                    return render_template("{name}/admin.html", count=count)
            """,
        "_private/migrations/versions/0001_bench_item.py": '''
            """bench_item table

            Revision ID: 0001
            Revises:
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "0001"
            down_revision = None
            branch_labels = None
            depends_on = None


            def upgrade():
                # search_path is the plugin's schema while its migrations run.
                op.create_table(
                    "bench_item",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(100), nullable=False, unique=True),
                )


            def downgrade():
                op.drop_table("bench_item")
            ''',
        f"templates/{name}/admin.html": f"""
            {{% extends "admin/layout.html" %}}
            {{% block title %}}Bench {index:03d}{{% endblock %}}
            {{% block content %}}<p id="bench-count">{{{{ count }}}} items</p>{{% endblock %}}
            """,
    }
    package = root / name
    for path, text in files.items():
        target = package / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip())
    dist = root / f"{name}-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n")
    (dist / "entry_points.txt").write_text(f"[peek.plugins]\n{name} = {name}\n")
    (dist / "top_level.txt").write_text(f"{name}\n")
    return name


def write_plugins(root: Path) -> list[str]:
    root.mkdir(parents=True)
    names = [write_plugin(root, i) for i in range(PLUGINS)]
    # pip compiles bytecode on install; do the same so every cold run is alike.
    if not compileall.compile_dir(str(root), quiet=1, workers=0):
        raise BenchError(f"compiling the generated plugins in {root} failed")
    return names


# -- one PEEK_HOME -------------------------------------------------------------------------

class Home:
    """A PEEK_HOME whose server uses its own embedded PostgreSQL."""

    def __init__(self, path: Path, names: list[str]):
        self.path = path
        self.names = names
        self.server_home = path / "peek-server.home"
        self.pgdata = self.server_home / "pgdata"
        self.http_port = 0
        self.pg_port = 0

    @property
    def config_path(self) -> Path:
        return self.server_home / "config.json"

    @property
    def log_path(self) -> Path:
        return self.path / "peek-server.log"

    def write_config(self) -> None:
        """New free ports for every port key, before each start."""
        self.http_port, self.pg_port = free_port(), free_port()
        ports = {self.http_port, self.pg_port}
        server_port, dashboard_port = free_port(), free_port()
        if len(ports | {server_port, dashboard_port}) != 4:
            return self.write_config()
        config = {
            "logging": {"level": "INFO"},
            "http": {"host": "127.0.0.1", "port": self.http_port},
            "server": {"host": "127.0.0.1", "port": server_port, "secret": "bench-boot"},
            "embeddedPostgres": {"port": self.pg_port},
            "dask": {"localWorkers": 1, "threadsPerWorker": 1, "dashboardPort": dashboard_port},
            "plugin": {"enabled": ["peek_plugin_noop", *self.names]},
        }
        self.server_home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2))

    def initdb(self) -> None:
        """Initialise the embedded PostgreSQL (initdb, the empty ``peek``
        database) with the code the server uses, then stop it: untimed."""
        began = time.perf_counter()
        pg = EmbeddedPostgres(self.pgdata, free_port())
        try:
            pg.start()
        finally:
            pg.stop()
        log(f"initdb of {self.pgdata} (untimed): {time.perf_counter() - began:.1f} s")

    def stop_postgres(self) -> None:
        """Stop the embedded PostgreSQL if the server left it running."""
        pg = EmbeddedPostgres(self.pgdata, self.pg_port or 1)
        try:
            if pg.running():
                log(f"PostgreSQL in {self.pgdata} was still running: stopping it")
                pg.stop()
        except Exception as e:  # cleaning up: report, go on
            log(f"could not stop PostgreSQL in {self.pgdata}: {e}")


# -- one start -----------------------------------------------------------------------------

def health(port: int) -> tuple[int | None, dict | None]:
    """(HTTP status, JSON) of /healthz; (None, None) while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:  # answering, but not healthy (503: degraded)
        return e.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None, None


def check_plugins(report: dict, names: list[str], log_path: Path) -> None:
    plugins = report.get("plugins", {})
    bad = {n: plugins.get(n, "missing") for n in names if plugins.get(n) != "started"}
    if bad:
        first = next(iter(bad))
        why = next((line.split(": ", 1)[-1] for line in log_path.read_text().splitlines()
                    if f"Plugin {first} " in line and "started" not in line), "")
        raise BenchError(f"{len(bad)} of {len(names)} enabled plugins are not started once "
                         f"/healthz answers, e.g. {first}: {bad[first]}: {why}")


def check_pages(port: int, names: list[str], database_url: str) -> None:
    """Every bench plugin's admin page renders its template with its table."""
    session = admin_requests(f"http://127.0.0.1:{port}", database_url)
    for name in names:
        url = f"http://127.0.0.1:{port}/{name}/"
        try:
            reply = session.get(url, timeout=10)
            reply.raise_for_status()
        except requests.RequestException as e:
            raise BenchError(f"GET {url} failed: {e}") from e
        if 'id="bench-count">0 items' not in reply.text:
            raise BenchError(f"GET {url} did not render the plugin's template")


def leftovers(pgid: int) -> list[psutil.Process]:
    """Live processes still in the server's process group (Dask workers...)."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, ProcessLookupError):
            pass
    return found


def stop_server(server: subprocess.Popen, home: Home) -> None:
    """SIGINT and wait for the exit; then kill whatever it left behind (its
    process group: the Dask processes) and stop its PostgreSQL if still up."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log(f"the server did not stop within {STOP_TIMEOUT_S} s of SIGINT: killing it")
            server.kill()
            server.wait()
    # Dask's processes (multiprocessing's resource tracker last) exit just after it.
    _, alive = psutil.wait_procs(leftovers(server.pid), timeout=LEFTOVER_GRACE_S)
    for process in alive:
        try:
            what = " ".join(process.cmdline())[:200]
            log(f"process {process.pid} ({what}) was still running {LEFTOVER_GRACE_S} s "
                "after the server exited: killing it")
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)
    home.stop_postgres()


def boot(home: Home, *, check_pages_too: bool = False) -> tuple[float, float]:
    """Start the server, return (seconds until healthy, RSS MiB once healthy); stop it."""
    home.write_config()
    env = dict(os.environ, PEEK_HOME=str(home.path), PYTHONPATH=str(home.path.parent / "plugins"))
    output_path = home.path / f"server-output-{time.time_ns()}.txt"
    with output_path.open("w") as output:  # a file: a pipe left unread would block it
        wall = time.time()
        began = time.perf_counter()
        # A session of its own, so its Dask processes can be found (and killed) by group.
        server = subprocess.Popen([sys.executable, "-m", "peek", "server"], env=env,
                                  stdout=output, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            status = None
            while True:
                status, report = health(home.http_port)
                if status == 200 and report is not None:
                    elapsed = time.perf_counter() - began
                    break
                if server.poll() is not None:
                    tail = output_path.read_text()[-1500:]
                    raise BenchError(f"the server exited with code {server.returncode} "
                                     f"before it was healthy: ...{tail}")
                if time.perf_counter() - began > START_TIMEOUT_S:
                    raise BenchError(f"the server was not healthy within {START_TIMEOUT_S} s "
                                     f"(last /healthz status: {status or 'no answer'}; "
                                     f"log: {home.log_path})")
                time.sleep(0.05)
            process = psutil.Process(server.pid)
            rss = process.memory_info().rss / 2**20
            children = sum(p.memory_info().rss for p in process.children(recursive=True))
            check_plugins(report, ["peek_plugin_noop", *home.names], home.log_path)
            log(f"healthy after {elapsed:.2f} s; RSS: server {rss:.0f} MiB, its Dask "
                f"processes {children / 2**20:.0f} MiB; dask "
                f"{report['connections']['dask']['state']}; {phases(home.log_path, wall)}")
            if check_pages_too:
                check_pages(home.http_port, home.names,
                            EmbeddedPostgres(home.pgdata, home.pg_port).url)
                log(f"all {len(home.names)} bench plugin pages render")
            return elapsed, rss
        finally:
            stop_server(server, home)
            time.sleep(SETTLE_S)  # let the stopped processes' last work finish


#: Server log lines marking the end of each phase of a start, in order.
PHASES = (
    ("Starting the Peek server", "python+imports"),
    ("Embedded PostgreSQL ready", "postgres start"),
    ("Platform schema is up to date", "platform migrations"),
    ("started on the server service", "plugins migrate+load+start"),  # the last such line
    ("admin site at", "mount+listen"),
)


def phases(log_path: Path, since: float) -> str:
    """Where the time of one start went, from the server log's timestamps."""
    stamp_re = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
    stamps: dict[str, float] = {}
    try:
        lines = log_path.read_text().splitlines()
    except OSError:
        return "no server log"
    for line in lines:
        m = stamp_re.match(line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if t < since - 0.002:
            continue
        for mark, _ in PHASES:
            if mark in line and (mark not in stamps or mark.startswith("started")):
                stamps[mark] = t
    points = [("spawn", since)] + [(mark, stamps[mark]) for mark, _ in PHASES if mark in stamps]
    labels = dict(PHASES)
    return ", ".join(f"{labels[b]} {tb - ta:.2f}s" for (_, ta), (b, tb) in zip(points, points[1:]))


# -- the benchmark -------------------------------------------------------------------------

def main() -> int:
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="peek-bench-boot-"))
    root.chmod(0o755)  # see vortex_bench.bench_dir
    homes: list[Home] = []
    try:
        names = write_plugins(root / "plugins")
        log(f"wrote {len(names)} plugins in {root / 'plugins'}")
        cold: list[float] = []
        for run in range(COLD_RUNS):
            home = Home(root / f"home-{run}", names)
            homes.append(home)
            home.path.mkdir()
            home.initdb()
            seconds, _ = boot(home, check_pages_too=run == 0)
            cold.append(seconds)
            log(f"cold start {run + 1}/{COLD_RUNS}: {seconds:.2f} s")
        warm: list[float] = []
        rss: list[float] = []
        for run in range(WARM_RUNS):
            seconds, mib = boot(homes[-1])
            warm.append(seconds)
            rss.append(mib)
            log(f"warm start {run + 1}/{WARM_RUNS}: {seconds:.2f} s, {mib:.0f} MiB")
    finally:
        for home in homes:
            home.stop_postgres()
        if os.environ.get("PEEK_BENCH_KEEP"):
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    log(f"cold {[round(s, 2) for s in cold]}, warm {[round(s, 2) for s in warm]}, "
        f"rss {[round(m) for m in rss]}; benchmark took {time.perf_counter() - began:.0f} s")
    print(f"BENCH {NAME} plugins={PLUGINS} cold_s={statistics.median(cold):.2f} "
          f"warm_s={statistics.median(warm):.2f} rss_mb={statistics.median(rss):.0f}",
          flush=True)
    return 0


def _terminated(signum, frame):
    raise KeyboardInterrupt(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)  # clean up on SIGTERM as on Ctrl-C
    try:
        sys.exit(main())
    except (Exception, KeyboardInterrupt) as e:  # report in the agreed form, then fail
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        why = " ".join(why.split()).replace('"', "'")[:500]
        print(f'BENCH {NAME} error="{why}"', flush=True)
        sys.exit(1)
