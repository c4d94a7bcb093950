"""peek run: every service on one machine, on the embedded PostgreSQL and a
Dask LocalCluster; Ctrl-C stops them all; a second run keeps the data."""

import json
import re
import os
import signal
import subprocess
import sys
import threading

import psycopg2
import pytest
import requests

from tests.admin_session import csrf_token
from tests.conftest import REPO, free_port, wait_for, write_config


class PeekRun:
    def __init__(self, home):
        self.home = home
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "peek", "run"], cwd=REPO, text=True,
            env=dict(os.environ, PEEK_HOME=str(home)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def text(self):
        return "".join(self.output)

    def wait_running(self):
        wait_for(lambda: "Peek is running" in self.text or self.process.poll() is not None,
                 timeout=180, what="peek run to start")
        assert self.process.poll() is None, self.text

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.process.wait(90)


@pytest.fixture
def run_home(home):
    ports = {k: free_port() for k in ("admin", "server", "mobile", "agent", "pg", "dash")}
    common = {"server": {"port": ports["server"]}}
    write_config(home, "server", {**common, "http": {"port": ports["admin"]},
                                  "embeddedPostgres": {"port": ports["pg"]},
                                  "dask": {"dashboardPort": ports["dash"], "localWorkers": 1}})
    write_config(home, "client", {**common, "http": {"port": ports["mobile"]}})
    write_config(home, "agent", {**common, "http": {"port": ports["agent"]}})
    return home, ports


def health(port):
    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()


def test_run_starts_everything_and_ctrl_c_stops_it_keeping_the_data(run_home):
    home, ports = run_home
    run = PeekRun(home)
    try:
        run.wait_running()
        for line in (f"Admin site        http://127.0.0.1:{ports['admin']}/",
                     f"Mobile site       http://127.0.0.1:{ports['mobile']}/",
                     f"Desktop site      http://127.0.0.1:{ports['mobile']}/desktop/"):
            assert line in run.text
        server = health(ports["admin"])
        assert server["status"] == "ok" and server["connections"]["database"]["embedded"]
        assert len(server["connections"]["clients"]) == 1
        assert len(server["connections"]["agents"]) == 1
        assert len(server["connections"]["workers"]) == 1
        assert health(ports["server"])["service"] == "server"
        assert health(ports["mobile"])["status"] == "ok"
        assert health(ports["agent"])["status"] == "ok"
        listed = subprocess.run([sys.executable, "-m", "peek", "plugin", "list", "--json"],
                                cwd=REPO, env=dict(os.environ, PEEK_HOME=str(home)),
                                capture_output=True, text=True, timeout=60)
        (noop,) = [p for p in json.loads(listed.stdout) if p["name"] == "peek_plugin_noop"]
        assert noop["states"] == {"server": "started", "client": "started",
                                  "agent": "started", "worker": "started"}
        url = f"postgresql://peek@127.0.0.1:{ports['pg']}/peek"
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO peek.platform_setting (key, value) VALUES ('kept', '42')")
        # The first run makes an administrator and shows its password once.
        password = re.search(r"Admin sign-in     admin / (\S+) \(shown once", run.text).group(1)
        site = requests.Session()
        base = f"http://127.0.0.1:{ports['admin']}"
        token = csrf_token(site.get(f"{base}/sign-in", timeout=5).text)
        site.post(f"{base}/sign-in", timeout=5,
                  data={"name": "admin", "password": password, "csrf_token": token})
        assert "<h1>Dashboard</h1>" in site.get(f"{base}/", timeout=5).text
    finally:
        code = run.interrupt()
    assert code == 0, run.text
    assert "Peek stopped." in run.text
    data = home / "peek-server.home" / "pgdata"
    assert not (data / "postmaster.pid").exists(), "PostgreSQL still running"
    for port in (ports["admin"], ports["mobile"], ports["agent"]):
        with pytest.raises(requests.ConnectionError):
            health(port)
    for service in ("server", "client", "agent"):
        assert (home / f"peek-{service}.log").stat().st_size > 0

    again = PeekRun(home)
    try:
        again.wait_running()
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT value FROM peek.platform_setting WHERE key = 'kept'")
            assert cur.fetchone() == (42,)
        assert "Admin sign-in" not in again.text
    finally:
        assert again.interrupt() == 0, again.text


def test_a_service_that_dies_stops_the_others(run_home):
    home, ports = run_home
    run = PeekRun(home)
    try:
        run.wait_running()
        (agent,) = health(ports["admin"])["connections"]["agents"]
        os.kill(int(agent["name"].rsplit(":", 1)[1]), signal.SIGKILL)
        assert run.process.wait(90) == 1
    finally:
        if run.process.poll() is None:
            run.interrupt()
    assert "The agent service exited with code -9; stopping the others" in run.text
    assert not (home / "peek-server.home" / "pgdata" / "postmaster.pid").exists()
    with pytest.raises(requests.ConnectionError):
        health(ports["admin"])
