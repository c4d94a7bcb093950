"""Production: gunicorn with the repo's config serves a service's sites and websockets."""

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO, wait_for


@pytest.fixture
def gunicorn_server(configured, site_ports):
    env = dict(os.environ, PEEK_HOME=str(configured), PEEK_SERVICE="server")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                "wsgi:application"], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def up():
        try:
            return requests.get(f"http://127.0.0.1:{site_ports['admin']}/healthz",
                                timeout=2).status_code == 200
        except requests.ConnectionError:
            assert process.poll() is None, process.stdout.read()
            return False
    wait_for(up, timeout=90, what="gunicorn to serve the admin site")
    yield process
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0


def test_gunicorn_serves_both_server_sites_and_peer_websockets(gunicorn_server, site_ports,
                                                              start_service):
    admin = f"http://127.0.0.1:{site_ports['admin']}"
    service = f"http://127.0.0.1:{site_ports['server']}"
    assert "<h1>Dashboard</h1>" in requests.get(admin + "/", timeout=5).text
    # Each port serves its own site.
    assert requests.get(service + "/", timeout=5).status_code == 404
    assert requests.get(service + "/healthz", timeout=5).json()["service"] == "server"

    client = start_service("client")
    wait_for(lambda: client.runtime.upstream.connected, what="the client's websocket")
    clients = requests.get(admin + "/healthz", timeout=5).json()["connections"]["clients"]
    assert [c["service"] for c in clients] == ["client"]
