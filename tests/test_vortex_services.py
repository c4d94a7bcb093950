"""The vortex between separate server, client and agent processes, with devices
on real websockets: observables, actions exactly once, RPC, bad frames."""

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import simple_websocket

from tests.conftest import wait_for
from tests.vortex_harness import (Device, count_of, server_subscriptions, stalled_device,
                                  tally)

TALLY = "peek_plugin_tally.Tally"


def client_health(ports):
    return requests.get(f"http://127.0.0.1:{ports['mobile']}/healthz", timeout=5).json()


def test_devices_get_current_data_then_every_update_through_one_upstream_subscription(
        services, site_ports):
    services("server")
    services("client")
    devices = [Device(site_ports["mobile"]) for _ in range(5)]
    for device in devices:
        device.subscribe(TALLY, name="apples")
    for device in devices:
        assert device.data() == [{"_tt": TALLY, "name": "apples", "count": 0, "padding": ""}]

    action = devices[0].act(tally("apples", 3))
    answer = devices[0].answer(action)
    assert answer["result"]["count"] == 3 and "error" not in answer
    for device in devices:
        assert count_of(device.data(where=lambda t: count_of(t, "apples") == 3), "apples") == 3

    (subscription,) = [s for s in server_subscriptions(site_ports) if "apples" in s["selector"]]
    assert subscription["subscribers"] == 1  # the client service, for all five devices
    for device in devices:
        device.close()


def os_threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:"))
               .split()[1])


def test_device_websockets_cost_the_client_service_no_threads(services, site_ports):
    """300 devices on a client started by the ``peek`` script: all subscribed
    and updated, while the process keeps a handful of OS threads (greenlets)."""
    services("server")
    client = services("client", script=True)
    devices = [Device(site_ports["mobile"]) for _ in range(300)]
    for device in devices:
        device.subscribe(TALLY, name="crowd")
    for device in devices:
        assert count_of(device.data(), "crowd") == 0
    devices[0].act(tally("crowd"))
    for device in devices:
        assert count_of(device.data(where=lambda t: count_of(t, "crowd") == 1), "crowd") == 1
    assert client_health(site_ports)["connections"]["devices"] == 300
    assert os_threads(client.process.pid) < 50
    for device in devices:
        device.close()


def test_after_the_server_is_killed_and_restarted_every_device_gets_current_data(
        services, site_ports):
    server = services("server")
    services("client")
    device = Device(site_ports["mobile"])
    device.subscribe(TALLY, name="pears")
    assert count_of(device.data(), "pears") == 0

    server.kill()
    device.next(lambda f: f["type"] == "status" and f["state"] == "reconnecting")
    server.start().wait_ready()
    device.next(lambda f: f["type"] == "status" and f["state"] == "connected", timeout=60)
    assert count_of(device.data(), "pears") == 0  # resynced
    device.act(tally("pears"))
    assert count_of(device.data(where=lambda t: count_of(t, "pears") == 1), "pears") == 1
    device.close()


def test_the_client_drops_its_upstream_subscription_after_the_last_device_leaves(
        services, site_ports):
    services("server")
    services("client", subscriptionIdleS=1)
    device = Device(site_ports["mobile"])
    device.subscribe(TALLY, name="plums")
    device.data()
    assert any("plums" in s["selector"] for s in server_subscriptions(site_ports))
    device.close()
    wait_for(lambda: not any("plums" in s["selector"]
                             for s in server_subscriptions(site_ports)),
             timeout=15, what="the idle subscription to be dropped")


def test_an_action_resent_is_answered_again_but_applied_once(services, site_ports):
    services("server")
    services("client")
    device = Device(site_ports["mobile"])
    action_id = str(uuid.uuid4())
    answers = []
    for _ in range(3):
        device.act(tally("figs", 5), action_id)
        answers.append(device.answer(action_id))
    # Three copies at once, over three connections.
    twin_id = str(uuid.uuid4())
    others = [Device(site_ports["mobile"]) for _ in range(3)]
    for other in others:
        other.act(tally("figs", 7), twin_id)
    twins = [other.answer(twin_id) for other in others]

    assert [a["result"]["count"] for a in answers] == [5, 5, 5]
    assert [t["result"]["count"] for t in twins] == [12, 12, 12]
    device.subscribe(TALLY, name="figs")
    assert count_of(device.data(), "figs") == 12


def test_actions_apply_exactly_once_across_a_server_restart_mid_stream(
        services, site_ports):
    server = services("server")
    services("client", actionTimeoutS=60)
    device = Device(site_ports["mobile"])
    ids = [f"stream-{i:04d}-{uuid.uuid4()}" for i in range(300)]
    answers = {}

    def read_answers():
        while len(answers) < len(ids):
            frame = device.next(lambda f: f["type"] == "result", timeout=120)
            answers.setdefault(frame["id"], frame)
    reader = threading.Thread(target=read_answers)
    reader.start()
    for i, action_id in enumerate(ids):
        device.act(tally("stream"), action_id)
        if i == 150:
            server.kill()
            server.start()
    reader.join(timeout=180)

    assert len(answers) == len(ids) and all("error" not in a for a in answers.values()), \
        [a for a in answers.values() if "error" in a][:3]
    counts = sorted(a["result"]["count"] for a in answers.values())
    assert counts == list(range(1, len(ids) + 1))  # each applied once, none lost
    # Every id again (an offline queue replayed): the same answers, nothing applied.
    again = Device(site_ports["mobile"])
    for action_id in ids[:50]:
        again.act(tally("stream"), action_id)
        assert again.answer(action_id)["result"] == answers[action_id]["result"]
    again.subscribe(TALLY, name="stream")
    assert count_of(again.data(), "stream") == len(ids)


def test_action_errors_and_timeouts_are_clear(services, site_ports):
    services("server")
    services("client", actionTimeoutS=2)
    device = Device(site_ports["mobile"])
    failing = device.act(tally("nuts", -1))
    assert device.answer(failing)["error"] == "ValueError: a tally only grows"
    unknown = device.act({"_tt": "peek_plugin_tally.Nothing"})
    assert "unknown tuple type 'peek_plugin_tally.Nothing'" in device.answer(unknown)["error"]
    short = device.act(tally("nuts"), "short")
    assert "id of 8 to 100" in device.answer(short)["error"]
    # An agent RPC with no agent connected: the action's processor fails clearly.
    ask = device.act({"_tt": "peek_plugin_tally.AskAgent", "rpc": "read_tally",
                      "args": ["nuts"]})
    assert "no connected agent service serves it" in device.answer(ask)["error"]

    # A burst from several devices, applied together: the failing actions among
    # them undo nothing but themselves, and copies inside the burst apply once.
    devices = [Device(site_ports["mobile"]) for _ in range(4)]
    sent = []
    for i in range(120):
        amount = -1 if i % 10 == 3 else 1
        action_id = sent[-1][0] if i % 10 == 7 else str(uuid.uuid4())
        devices[i % 4].act(tally("burst", amount), action_id)
        sent.append((action_id, amount, devices[i % 4]))
    answers = [d.answer(action_id) for action_id, _, d in sent]
    for (action_id, amount, _), reply in zip(sent, answers):
        assert ("error" in reply) == (amount < 0), reply
    good = {action_id for action_id, amount, _ in sent if amount > 0}
    counts = sorted({a["id"]: a["result"]["count"] for a in answers if "result" in a}
                    .values())
    assert counts == list(range(1, len(good) + 1))


def test_rpc_between_server_and_agent_with_refusals_timeouts_and_remote_errors(
        services, site_ports):
    services("server")
    services("client")
    services("agent")
    device = Device(site_ports["mobile"])

    def via_agent(rpc: str, *args):
        action_id = device.act({"_tt": "peek_plugin_tally.AskAgent", "rpc": rpc,
                                "args": list(args)})
        return device.answer(action_id)["result"]

    device.act(tally("dates", 2))
    # server -> agent -> server: the agent process answers with a server tuple.
    probe = via_agent("read_tally", "dates")
    assert "result" in probe, probe
    assert probe["result"] == {"_tt": TALLY, "name": "dates", "count": 2, "padding": ""}
    assert probe["pid"] != 0
    assert via_agent("agent_only")["result"] == "for agents"
    assert via_agent("fail", "bad input") == {"pid": probe["pid"], "error": "ValueError",
                                             "message": "bad input"}
    assert via_agent("slow", 3)["error"] == "RpcTimeout"

    # client -> server: allowed for read_tally, refused for the agent-only RPC.
    mobile = f"http://127.0.0.1:{site_ports['mobile']}/peek_plugin_tally/rpc"
    assert requests.get(f"{mobile}/read_tally/dates", timeout=10).json()["result"][
        "count"] == 2
    refused = requests.get(f"{mobile}/agent_only/x", timeout=10).json()
    assert refused["error"] == "RpcError" and "may not be called from the client" in \
        refused["message"]


def test_bad_frames_close_only_their_own_connection(services, site_ports):
    services("server")
    services("client", maxFrameBytes=10_000)
    good = Device(site_ports["mobile"])
    good.subscribe(TALLY, name="limes")
    good.data()

    bad = Device(site_ports["mobile"])
    bad.ws.send("{not json")
    error = bad.next(lambda f: f["type"] == "error")
    assert "not JSON" in error["error"]
    with pytest.raises(simple_websocket.ConnectionClosed):
        while True:
            bad.ws.receive(timeout=5)

    big = Device(site_ports["mobile"])
    big.send("ping", padding="x" * 20_000)
    with pytest.raises(simple_websocket.ConnectionClosed):
        while True:
            big.ws.receive(timeout=5)
    assert big.ws.close_reason == 1009

    unknown = Device(site_ports["mobile"])
    unknown.send("teleport")
    assert "unknown frame type 'teleport'" in unknown.next(lambda f: f["type"] == "error")[
        "error"]

    good.act(tally("limes"))
    assert count_of(good.data(where=lambda t: count_of(t, "limes") == 1), "limes") == 1


def test_a_device_that_stops_reading_is_dropped_while_the_others_keep_receiving(
        services, site_ports):
    services("server")
    services("client", sendQueueFrames=5)
    readers = [Device(site_ports["mobile"]) for _ in range(2)]
    stalled = stalled_device(site_ports["mobile"], {
        "type": "subscribe", "selector": {"name": TALLY,
                                          "filter": {"name": "kiwis", "padding": 300_000}}})
    for device in readers:
        device.subscribe(TALLY, name="kiwis", padding=300_000)
        device.data()
    wait_for(lambda: client_health(site_ports)["connections"]["devices"] == 3,
             what="three devices")

    for i in range(1, 61):
        readers[0].act(tally("kiwis"))
        for device in readers:
            device.data(where=lambda t: count_of(t, "kiwis") == i)
    assert client_health(site_ports)["connections"]["devices"] == 2  # the stalled one: dropped
    stalled.close()


def test_websocket_pings_drop_a_device_that_never_answers(services, site_ports):
    services("server")
    client = services("client", keepaliveS=0.3)
    answering = Device(site_ports["mobile"])  # simple_websocket answers pings itself
    silent = stalled_device(site_ports["mobile"], {"type": "ping"})
    wait_for(lambda: client_health(site_ports)["connections"]["devices"] == 2,
             what="two devices")
    wait_for(lambda: client_health(site_ports)["connections"]["devices"] == 1,
             what="the silent device dropped", timeout=10)
    assert "no answer (pong) to the last websocket ping" in client.output
    time.sleep(1)  # several more rounds of pings
    answering.send("ping")
    assert answering.next(lambda f: f["type"] == "pong")
    assert client_health(site_ports)["connections"]["devices"] == 1
    silent.close()


def test_rest_data_actions_and_openapi(services, site_ports):
    services("server")
    services("client")
    base = f"http://127.0.0.1:{site_ports['mobile']}/vortex/api"
    selector = json.dumps({"name": TALLY, "filter": {"name": "melons"}})
    assert requests.get(f"{base}/data", params={"selector": selector},
                        timeout=10).json()["tuples"][0]["count"] == 0

    body = {"type": "action", "id": str(uuid.uuid4()), "tuple": tally("melons", 4)}
    first = requests.post(f"{base}/actions", json=body, timeout=10)
    again = requests.post(f"{base}/actions", json=body, timeout=10)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["result"]["count"] == 4
    # The client's cache of the selector gets the new data after the commit
    # (the server reloads it), which may be a moment after the answer.
    wait_for(lambda: requests.get(f"{base}/data", params={"selector": selector},
                                  timeout=10).json()["tuples"][0]["count"] == 4,
             timeout=10, what="the new count in the data")

    failing = requests.post(f"{base}/actions", timeout=10, json={
        "type": "action", "id": str(uuid.uuid4()), "tuple": tally("melons", -1)})
    assert failing.status_code == 422 and "only grows" in failing.json()["error"]
    assert requests.post(f"{base}/actions", data="nope", timeout=10).status_code == 400
    assert requests.get(f"{base}/data", params={"selector": "{}"},
                        timeout=10).status_code == 400
    missing = requests.get(f"{base}/data", timeout=10, params={
        "selector": json.dumps({"name": "peek_plugin_tally.Nothing"})})
    assert missing.status_code == 404 and "no provider" in missing.json()["error"]

    spec = requests.get(f"{base}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.") and set(spec["paths"]) == {
        "/vortex/api/data", "/vortex/api/actions"}


def test_an_htmx_page_updates_live_and_resyncs_after_the_client_restarts(
        services, site_ports, page_in):
    services("server")
    client = services("client")
    base = f"http://127.0.0.1:{site_ports['mobile']}"

    def add(amount):
        body = {"type": "action", "id": str(uuid.uuid4()), "tuple": tally("page", amount)}
        assert requests.post(f"{base}/vortex/api/actions", json=body, timeout=10).ok

    page = page_in(390, 844)
    page.goto(f"{base}/peek_plugin_tally/")
    page.wait_for_selector("#vortex-status[data-state=connected]")
    page.wait_for_selector(".tally[data-name=page] >> text=page: 0")
    add(2)
    page.wait_for_selector(".tally[data-name=page] >> text=page: 2")

    client.kill()
    page.wait_for_selector("#vortex-status[data-state=reconnecting]")
    client.start().wait_ready()
    add(3)  # while the page is still reconnecting, or just after
    page.wait_for_selector("#vortex-status[data-state=connected]", timeout=30_000)
    page.wait_for_selector(".tally[data-name=page] >> text=page: 5", timeout=30_000)
