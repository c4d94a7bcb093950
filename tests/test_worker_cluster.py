"""The server and ``peek worker`` on a scheduler started separately: plugins
reach the workers, a lost scheduler fails tasks at once, everyone rejoins it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peek.config import load_config
from peek.plugin_api import WorkersUnavailable
from peek.plugin_system.operations import install_plugin
from peek.plugins.peek_plugin_noop._private.worker import tasks
from peek.serve import ServiceProcess
from tests.conftest import REPO, free_port, wait_for, write_config
from tests.plugin_factory import build_wheel, forget_modules, write_plugin_source


def start_scheduler(port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", "127.0.0.1:0"],
        cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def server_config(home: Path, site_ports: dict, database_url: str, scheduler: str) -> None:
    write_config(home, "server", {
        "http": {"port": site_ports["admin"]}, "server": {"port": site_ports["server"]},
        "sqlalchemy": {"connectUrl": database_url}, "dask": {"schedulerAddress": scheduler}})


def noop_of(process: ServiceProcess):
    return process.runtime.plugins.records["peek_plugin_noop"].platform


def test_server_and_peek_worker_rejoin_a_restarted_scheduler(home, tmp_path, site_ports,
                                                             database_url, start_service):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start_scheduler(port, tmp_path / "scheduler.log")
    server_config(home, site_ports, database_url, address)
    write_config(home, "worker", {"dask": {"schedulerAddress": address}})
    worker = subprocess.Popen([sys.executable, "-m", "peek", "worker"], cwd=REPO,
                              env=dict(os.environ, PEEK_HOME=str(home)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server = start_service("server", listen=False)
        dask = server.runtime.dask
        assert dask.wait(60), dask.error
        wait_for(lambda: len(dask.workers()) == 1, timeout=60, what="peek worker to join")
        # Its nanny counts as started a moment after the scheduler lists the worker.
        wait_for(lambda: "joined the scheduler" in (home / "peek-worker.log").read_text(),
                 timeout=60, what="peek worker to log that it joined")
        noop = noop_of(server)
        assert noop.workers.submit(tasks.add, 20, 22).result(timeout=60) == 42
        in_flight = noop.workers.submit(tasks.sleep, 30)

        scheduler.kill()
        scheduler.wait()
        with pytest.raises(WorkersUnavailable, match="not reachable"):
            in_flight.result(timeout=20)
        with pytest.raises(WorkersUnavailable, match=f"{address}.*not reachable"):
            noop.workers.submit(tasks.add, 1, 2).result(timeout=20)
        assert server.runtime.health()[0]["connections"]["dask"]["state"] == "reconnecting"

        scheduler = start_scheduler(port, tmp_path / "scheduler.log")
        wait_for(lambda: dask.connected and len(dask.workers()) == 1, timeout=120,
                 what="the server and the worker back on the new scheduler")
        # The plugins were handed to the new scheduler's workers again.
        assert noop.workers.submit(tasks.add, 2, 3).result(timeout=60) == 5
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        scheduler.kill()
        scheduler.wait()
    assert "lost the scheduler" in (home / "peek-worker.log").read_text()


def _plugin_archive(tmp_path: Path, version: str, answer: str) -> Path:
    source = tmp_path / f"src-{version}"
    package = write_plugin_source(source, "peek_plugin_tw", version,
                                  services=("server", "worker"), init_code=f"""
        import os


        def answer():
            return {answer!r}


        def pid():
            return os.getpid()
        """)
    (tmp_path / "dist").mkdir(exist_ok=True)
    return build_wheel(package, version, tmp_path / "dist")


def test_an_installed_and_updated_plugin_runs_on_the_workers_without_a_cluster_restart(
        home, tmp_path, site_ports, database_url, dask_scheduler):
    server_config(home, site_ports, database_url, dask_scheduler)
    load_config("server")  # fills in the defaults: the noop plugin enabled

    def run(version: str, answer: str) -> int:
        install_plugin(_plugin_archive(tmp_path, version, answer), home)
        forget_modules(("peek_plugin_tw",))
        process = ServiceProcess(load_config("server"))
        process.start(listen=False)
        try:
            assert process.runtime.dask.wait(60), process.runtime.dask.error
            plugin = process.runtime.plugins.records["peek_plugin_tw"]
            assert plugin.state == "started", plugin.error
            module = sys.modules["peek_plugin_tw"]
            assert plugin.platform.workers.submit(module.answer).result(timeout=60) == answer
            return plugin.platform.workers.submit(module.pid).result(timeout=60)
        finally:
            process.stop()

    first_pid = run("1.0.0", "one")
    # The server restarts with version 2; the cluster keeps running, and the
    # worker process that ran version 1 now runs version 2.
    assert run("2.0.0", "two") == first_pid
