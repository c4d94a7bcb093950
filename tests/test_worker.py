"""peek worker joins the scheduler named in config; the server sees it."""

import os
import signal
import subprocess
import sys

import pytest
import requests
from distributed import LocalCluster

from tests.conftest import REPO, peek_cli, wait_for, write_config


@pytest.fixture
def bare_scheduler():
    """A scheduler with no workers of its own: only peek worker adds them."""
    cluster = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0")
    yield cluster.scheduler_address
    cluster.close()


def test_worker_joins_the_configured_scheduler(home, site_ports, database_url,
                                               bare_scheduler, start_service):
    write_config(home, "server", {
        "server": {"port": site_ports["server"]}, "http": {"port": site_ports["admin"]},
        "sqlalchemy": {"connectUrl": database_url},
        "dask": {"schedulerAddress": bare_scheduler}})
    write_config(home, "worker", {"dask": {"schedulerAddress": bare_scheduler}})
    start_service("server")
    worker = subprocess.Popen([sys.executable, "-m", "peek", "worker"], cwd=REPO,
                              env=dict(os.environ, PEEK_HOME=str(home)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def workers():
        return requests.get(f"http://127.0.0.1:{site_ports['admin']}/healthz",
                            timeout=5).json()["connections"]["workers"]
    try:
        (joined,) = wait_for(workers, timeout=60, what="the worker on the server")
        assert joined["name"].startswith("peek-worker-") and joined["threads"] == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    assert code == 0, worker.stdout.read()
    assert "joined the scheduler" in (home / "peek-worker.log").read_text()
    wait_for(lambda: workers() == [], what="the stopped worker to leave")


def test_worker_without_a_scheduler_says_what_to_set(home):
    result = peek_cli("worker", home=home)
    assert result.returncode == 1
    assert "key 'dask.schedulerAddress' is not set" in result.stderr
    assert "Traceback" not in result.stderr
