"""Production: gunicorn with the repo's config serves a service's sites and websockets."""

import os
import signal
import subprocess
import sys

import json

import pytest
import requests
import simple_websocket

from tests.admin_session import admin_requests
from tests.conftest import REPO, wait_for


def start_gunicorn(home, service: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, PEEK_HOME=str(home), PEEK_SERVICE=service)
    log = open(home / f"gunicorn-{service}.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                "wsgi:application"], cwd=REPO, env=env, text=True,
                               stdout=log, stderr=subprocess.STDOUT)

    def up():
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()[
                "status"] == "ok"
        except (requests.RequestException, ValueError):  # also a read timeout under load
            assert process.poll() is None, (home / f"gunicorn-{service}.log").read_text()
            return False
    wait_for(up, timeout=90, what=f"gunicorn to serve the {service} service")
    return process


def stop_gunicorn(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0


@pytest.fixture
def gunicorn_server(configured, site_ports):
    process = start_gunicorn(configured, "server", site_ports["admin"])
    yield process
    stop_gunicorn(process)


def test_gunicorn_serves_both_server_sites_and_peer_websockets(gunicorn_server, site_ports,
                                                              start_service, database_url):
    admin = f"http://127.0.0.1:{site_ports['admin']}"
    service = f"http://127.0.0.1:{site_ports['server']}"
    signed_in = admin_requests(admin, database_url)
    assert "<h1>Dashboard</h1>" in signed_in.get(admin + "/", timeout=5).text
    # Each port serves its own site.
    assert requests.get(service + "/", timeout=5).status_code == 404
    assert requests.get(service + "/healthz", timeout=5).json()["service"] == "server"

    client = start_service("client")
    wait_for(lambda: client.runtime.upstream.connected, what="the client's websocket")
    clients = requests.get(admin + "/healthz", timeout=5).json()["connections"]["clients"]
    assert [c["service"] for c in clients] == ["client"]


def test_gunicorn_serves_the_client_service_and_device_websockets(gunicorn_server, configured,
                                                     site_ports):
    client = start_gunicorn(configured, "client", site_ports["mobile"])
    try:
        mobile = f"http://127.0.0.1:{site_ports['mobile']}"
        assert requests.get(mobile + "/", timeout=5).status_code == 200
        device = simple_websocket.Client.connect(f"ws://127.0.0.1:{site_ports['mobile']}"
                                                 "/vortex/ws")
        assert json.loads(device.receive(timeout=30)) == {"type": "status",
                                                          "state": "connected"}
        device.send(json.dumps({"type": "ping"}))
        assert json.loads(device.receive(timeout=10)) == {"type": "pong"}
        device.close()
    finally:
        stop_gunicorn(client)
