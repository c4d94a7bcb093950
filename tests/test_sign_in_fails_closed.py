"""A client service whose devices sign in through a plugin refuses them while
that plugin is enabled and not running (503), never lets them in
anonymously, and closes the sockets opened anonymously once sign-in is
required."""

from __future__ import annotations

import json

import pytest
import requests
import simple_websocket

from tests.conftest import wait_for, write_config
from tests.plugin_factory import make_plugin

SIGN_IN = '''
class _NobodySignsIn:
    sign_in_url = "/sign-in"
    sign_out_url = "/sign-out"

    def user_of(self, request):
        return None


self.platform.set_device_sign_in(_NobodySignsIn())
'''


def gate_plugin(root, name: str, **kwargs):
    return make_plugin(root, name, services=["client"], manifest={
        "plugin": {"title": "Gate", "packageName": name, "version": "1.0.0"},
        "requiresServices": ["client"], "client": {"deviceSignIn": True}}, **kwargs)


@pytest.fixture
def client_alone(configured, site_ports):
    """The client's config, its server not running: it runs its own plugin list."""
    def write(enabled: list[str]):
        write_config(configured, "client", {
            "server": {"host": "127.0.0.1", "port": site_ports["server"],
                       "secret": "test-secret"},
            "http": {"port": site_ports["mobile"]}, "plugin": {"enabled": enabled}})
    return write


def test_devices_are_refused_while_their_sign_in_plugin_is_not_running(
        client_alone, plugin_root, start_service, site_ports):
    gate_plugin(plugin_root, "peek_plugin_tgate", fail=("start",), extra_load=SIGN_IN)
    client_alone(["peek_plugin_noop", "peek_plugin_tgate"])
    start_service("client")
    base = f"http://127.0.0.1:{site_ports['mobile']}"
    expected = ("sign-in is not available right now (peek_plugin_tgate, which devices sign "
                "in through, is failed): try again shortly")
    for path, accept in (("/vortex/api/data?selector={}", "application/json"),
                         ("/", "text/html"), ("/desktop/", "text/html"),
                         ("/peek_plugin_noop/", "text/html")):
        answer = requests.get(base + path, headers={"Accept": accept}, timeout=10)
        assert answer.status_code == 503, path
        assert answer.headers["Retry-After"] == "5"
        text = answer.json()["error"] if accept == "application/json" else answer.text
        assert text == expected, path
    action = requests.post(f"{base}/vortex/api/actions", timeout=10, json={
        "type": "action", "id": "gate-0000-1", "tuple": {"_tt": "peek_plugin_noop.X"}})
    assert action.status_code == 503 and action.json()["state"] == "retry"
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        simple_websocket.Client.connect(f"ws://127.0.0.1:{site_ports['mobile']}/vortex/ws")
    assert refused.value.status_code == 503
    # What needs nobody signed in stays open.
    assert requests.get(f"{base}/vortex/api/openapi.json", timeout=10).status_code == 200


def test_a_socket_opened_anonymously_is_closed_when_sign_in_becomes_required(
        client_alone, plugin_root, start_service, site_ports):
    gate_plugin(plugin_root, "peek_plugin_tgate", extra_start=SIGN_IN)
    client_alone(["peek_plugin_noop"])
    client = start_service("client")
    device = simple_websocket.Client.connect(f"ws://127.0.0.1:{site_ports['mobile']}/vortex/ws")
    assert json.loads(device.receive(timeout=5))["type"] == "status"

    client.runtime.config.set("plugin.enabled", ["peek_plugin_noop", "peek_plugin_tgate"])
    client.runtime.apply_plugins()
    frames = []
    with pytest.raises(simple_websocket.ConnectionClosed) as closed:
        while True:
            frames.append(json.loads(device.receive(timeout=5)))
    assert closed.value.reason == 4401
    assert {"type": "status", "state": "signed-out"} in frames
    wait_for(lambda: requests.get(f"http://127.0.0.1:{site_ports['mobile']}/vortex/api/data",
                                  params={"selector": "{}"}, timeout=5).status_code == 401,
             what="REST to need a sign-in")
