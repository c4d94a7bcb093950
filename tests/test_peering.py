"""Client and agent services connect up to the server over real websockets."""

import json
import logging
import random
import socket

import requests
import simple_websocket

from peek.config import load_config
from peek.peering.backoff import reconnect_delay
from tests.conftest import wait_for


def server_health(ports):
    return requests.get(f"http://127.0.0.1:{ports['admin']}/healthz", timeout=5).json()


def test_client_and_agent_connect_and_show_on_server_health(configured, site_ports,
                                                           start_service):
    start_service("server")
    client = start_service("client")
    start_service("agent")
    health = wait_for(lambda: (h := server_health(site_ports))["connections"]["agents"] and
                      h["connections"]["clients"] and h, what="both peers on the server")
    (peer,) = health["connections"]["clients"]
    assert peer["service"] == "client" and peer["version"] == health["version"]
    assert health["connections"]["agents"][0]["service"] == "agent"
    for site in ("mobile", "agent"):
        # The server lists a peer on its hello; the peer counts as linked on
        # the server's welcome, a moment later.
        body = wait_for(lambda: (b := requests.get(
            f"http://127.0.0.1:{site_ports[site]}/healthz", timeout=5).json())["status"] == "ok"
            and b, what=f"the {site} service to report its link up")
        assert body["connections"]["server"]["state"] == "connected"

    # The client goes away: the server forgets it.
    client.stop()
    wait_for(lambda: not server_health(site_ports)["connections"]["clients"],
             what="the client to leave the server's list")


def test_a_wrong_secret_is_refused_and_logged(configured, site_ports, start_service, caplog):
    config = load_config("agent")
    config.set("server.secret", "not-the-secret")
    config.save()
    start_service("server")
    caplog.set_level(logging.WARNING)
    agent = start_service("agent")
    wait_for(lambda: agent.runtime.upstream.state == "refused", what="the refusal")
    assert "wrong shared secret" in agent.runtime.upstream.last_error
    assert server_health(site_ports)["connections"]["agents"] == []
    assert any("Refused a service connection" in r.getMessage() and
               "wrong shared secret" in r.getMessage() for r in caplog.records)
    response = requests.get(f"http://127.0.0.1:{site_ports['agent']}/healthz", timeout=5)
    assert response.status_code == 503


def test_a_malformed_hello_gets_an_error_and_the_server_keeps_serving(
        configured, site_ports, start_service):
    start_service("server")
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{site_ports['server']}/peer")
    ws.send("this is not json")
    reply = json.loads(ws.receive(timeout=5))
    assert reply["type"] == "error" and "not JSON" in reply["error"]
    wait_for(lambda: not ws.connected, what="the server to close the refused link")
    assert server_health(site_ports)["status"] == "ok"


def test_the_client_reconnects_when_the_server_comes_back(configured, site_ports,
                                                         start_service):
    server = start_service("server")
    client = start_service("client")
    wait_for(lambda: client.runtime.upstream.connected, what="first connection")
    # The link sends each message at once, without waiting on Nagle's algorithm.
    link_socket = client.runtime.upstream.connection.ws.sock
    assert link_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    server.stop()
    wait_for(lambda: not client.runtime.upstream.connected, what="the client to notice")
    start_service("server")
    wait_for(lambda: server_health(site_ports)["connections"]["clients"], timeout=60,
             what="the client to reconnect")


def test_reconnect_delays_grow_with_jitter_up_to_a_cap():
    rng = random.Random(7)
    delays = [reconnect_delay(attempt, rng=rng) for attempt in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(d <= 30 for d in delays) and delays[-1] >= 15
    # Peers that failed together spread out instead of returning together.
    together = {round(reconnect_delay(5, rng=rng), 3) for _ in range(50)}
    assert len(together) > 40 and min(together) >= 8 and max(together) <= 16


def linked_peer(port, name):
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/peer")
    ws.send(json.dumps({"type": "hello", "service": "client", "name": name,
                        "version": "test", "secret": "test-secret"}))
    assert json.loads(ws.receive(timeout=5))["type"] == "welcome"
    # Then the plugins the server wants every service to run.
    plugins = json.loads(ws.receive(timeout=5))
    assert plugins["type"] == "plugins" and {p["name"] for p in plugins["plugins"]} == {
        "peek_plugin_noop"}
    return ws


def test_an_oversize_message_closes_only_its_link_and_a_malformed_frame_none(
        configured, site_ports, start_service, caplog):
    config = load_config("server")
    config.set("vortex.maxFrameBytes", 1000)
    config.save()
    start_service("server")
    caplog.set_level(logging.WARNING)
    steady = linked_peer(site_ports["server"], "steady")
    big = linked_peer(site_ports["server"], "big")
    garbled = linked_peer(site_ports["server"], "garbled")
    wait_for(lambda: len(server_health(site_ports)["connections"]["clients"]) == 3,
             what="three links")

    big.send("x" * 2000)
    try:
        big.receive(timeout=5)
        closed = None
    except simple_websocket.ConnectionClosed as e:
        closed = e.reason
    assert closed == 1009  # message too big
    # A frame the server cannot read is answered with an error, and the link,
    # which carries every device's traffic, stays up.
    garbled.send('{not json\n{"type": "ping"}')
    replies = []
    while len(replies) < 2:  # a link message may carry several frames, a line each
        replies += [json.loads(line) for line in garbled.receive(timeout=5).split("\n")]
    assert replies[0]["type"] == "error" and "not JSON" in replies[0]["error"]
    assert replies[1]["type"] == "pong"

    names = lambda: sorted(c["name"] for c in server_health(site_ports)["connections"]["clients"])  # noqa: E731
    wait_for(lambda: names() == ["garbled", "steady"], what="only the oversize link to close")
    for link in (steady, garbled):
        link.send(json.dumps({"type": "ping"}))
        assert json.loads(link.receive(timeout=5))["type"] == "pong"
    garbled.close()
    assert any("big sent a frame over vortex.maxFrameBytes (1000 bytes)" in r.getMessage()
               for r in caplog.records)
    steady.close()
