"""A selector answered with an error is answered again to every subscriber
that asks, on REST and on the websocket; once its plugin runs, its watchers
get data without asking again; a REST data request always gets an answer."""

from __future__ import annotations

import json
import time

import requests

from peek.vortex.proxy import ERROR_ANSWER_S
from tests.conftest import peek_cli, wait_for
from tests.vortex_harness import Device

TALLY = "peek_plugin_tally.Tally"
UNKNOWN = "peek_plugin_nosuch.T1"


def rest_data(site_ports, tuple_type: str, timeout: float = 15, **filter) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{site_ports['mobile']}/vortex/api/data",
                        params={"selector": json.dumps({"name": tuple_type, "filter": filter})},
                        timeout=timeout)


def is_error_for(name: str):
    return lambda f: f["type"] == "error" and f.get("selector", {}).get("name") == name


def test_an_unknown_selector_is_answered_every_time_it_is_asked(services, site_ports):
    services("server")
    services("client")
    for _ in range(10):
        answer = rest_data(site_ports, UNKNOWN)
        assert answer.status_code == 404
        assert f"no provider for tuple type '{UNKNOWN}'" in answer.json()["error"]

    # One device asking ten times, each time answered.
    one = Device(site_ports["mobile"])
    for _ in range(10):
        one.subscribe(UNKNOWN, place="x")
        assert "no provider" in one.next(is_error_for(UNKNOWN), timeout=5)["error"]
    # Ten devices on one selector: each gets the error, the later ones too.
    devices = [Device(site_ports["mobile"]) for _ in range(10)]
    for device in devices:
        device.subscribe(UNKNOWN, place="y")
        assert "no provider" in device.next(is_error_for(UNKNOWN), timeout=5)["error"]
    # Past the time an error is answered from the cache, asking goes upstream
    # again, and the answer reaches the new device.
    time.sleep(ERROR_ANSWER_S + 0.5)
    late = Device(site_ports["mobile"])
    late.subscribe(UNKNOWN, place="y")
    assert "no provider" in late.next(is_error_for(UNKNOWN), timeout=5)["error"]
    for device in (one, late, *devices):
        device.close()


def test_a_disabled_plugins_selector_gets_data_once_it_is_enabled(services, site_ports,
                                                                  configured):
    services("server")
    services("client")
    assert rest_data(site_ports, TALLY, name="pears").status_code == 200
    disabled = peek_cli("plugin", "disable", "peek_plugin_tally", home=configured)
    assert disabled.returncode == 0, disabled.stderr
    wait_for(lambda: rest_data(site_ports, TALLY, name="plums").status_code == 404,
             timeout=30, what="the tally plugin to stop")

    watching = Device(site_ports["mobile"])
    watching.subscribe(TALLY, name="plums")
    assert "no provider" in watching.next(is_error_for(TALLY), timeout=5)["error"]
    assert rest_data(site_ports, TALLY, name="plums").status_code == 404

    enabled = peek_cli("plugin", "enable", "peek_plugin_tally", home=configured)
    assert enabled.returncode == 0, enabled.stderr
    # The device that stayed subscribed gets the data without asking again ...
    assert watching.data(timeout=30) == [{"_tt": TALLY, "name": "plums", "count": 0,
                                          "padding": ""}]
    # ... and a new device and a REST request get it too.
    newcomer = Device(site_ports["mobile"])
    newcomer.subscribe(TALLY, name="plums")
    assert newcomer.data(timeout=10)[0]["name"] == "plums"
    assert rest_data(site_ports, TALLY, name="plums").json()["tuples"][0]["count"] == 0
    for device in (watching, newcomer):
        device.close()


def test_a_rest_data_request_the_server_does_not_answer_gets_504(services, site_ports):
    server = services("server")
    services("client", dataTimeoutS=1.0)
    slow = rest_data(site_ports, TALLY, name="figs", pause_s=4)
    assert slow.status_code == 504
    assert slow.json()["error"] == ("no answer from the server within 1 s "
                                    "(vortex.dataTimeoutS); ask again")
    # The answer that comes later is the cache's for the next request.
    wait_for(lambda: rest_data(site_ports, TALLY, name="figs", pause_s=4).status_code == 200,
             timeout=15, what="the slow selector's data")

    server.kill()
    cut_off = rest_data(site_ports, TALLY, name="dates")
    assert cut_off.status_code == 504 and "no answer from the server" in cut_off.json()["error"]
