"""The bundled noop plugin on every site, and peek plugin list."""

import json

import requests

from tests.admin_session import admin_client
from tests.conftest import peek_cli, wait_for


def test_noop_pages_mount_under_the_plugin_name(configured, start_service):
    server = start_service("server", listen=False)
    admin = admin_client(server.apps["admin"]).get("/peek_plugin_noop/")
    assert admin.status_code == 200
    html = admin.get_data(as_text=True)
    assert "Items in pl_noop.noop_item: 0" in html and "Peek Admin" in html
    client = start_service("client", listen=False).apps["mobile"].test_client()
    assert "mobile page" in client.get("/peek_plugin_noop/").get_data(as_text=True)
    desktop = client.get("/desktop/peek_plugin_noop/").get_data(as_text=True)
    assert "desktop page" in desktop and "Peek Desktop" in desktop
    health = server.apps["admin"].test_client().get("/healthz").get_json()
    # Bundled examples (the tutorial) are installed but not enabled.
    assert {n: s for n, s in health["plugins"].items() if s != "disabled"} == {
        "peek_plugin_noop": "started"}


def test_plugin_list_on_a_running_server_and_without_one(configured, site_ports, start_service):
    stopped = peek_cli("plugin", "list", "--json", home=configured)
    assert stopped.returncode == 0, stopped.stderr
    (noop,) = [p for p in json.loads(stopped.stdout) if p["name"] == "peek_plugin_noop"]
    assert noop["enabled"] and noop["states"]["server"] == "not running"

    start_service("server")
    start_service("client")
    wait_for(lambda: requests.get(f"http://127.0.0.1:{site_ports['admin']}/healthz",
                                  timeout=5).json()["connections"]["clients"], what="client")
    listed = peek_cli("plugin", "list", home=configured)
    assert listed.returncode == 0, listed.stderr
    assert "peek_plugin_noop 1.0.0 (enabled)" in listed.stdout
    assert "    server: started" in listed.stdout and "    client: started" in listed.stdout
    assert "    agent: no service connected" in listed.stdout

    # The list is for those who hold the shared secret.
    anonymous = requests.get(f"http://127.0.0.1:{site_ports['server']}/plugins", timeout=5)
    assert anonymous.status_code == 401
