"""The client service's device websocket under hostile input, spoken to with
frames built by hand on raw sockets: large messages reach a slow reader
whole, with pongs only between frames; close frames are checked as RFC 6455
says; one device flooding leaves the others served."""

from __future__ import annotations

import base64
import json
import random
import struct
import threading
import time

import pytest
import requests

from tests.vortex_harness import Device
from tests.vortex_harness import tally as tally_action
from tests.raw_websocket import (BINARY, CLOSE, PING, PONG, TEXT, RawWebSocket, client_frame,
                                 close_payload)

TALLY = "peek_plugin_tally.Tally"
BIG = 8 * 2**20


def subscribe_frame(name: str, **filter) -> str:
    return json.dumps({"type": "subscribe", "selector": {"name": TALLY,
                                                          "filter": {"name": name, **filter}}})


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "permessage-deflate"])
def test_an_8_mib_data_frame_reaches_a_slow_reader_whole_while_it_pings(
        services, site_ports, deflate):
    services("server", maxFrameBytes=4 * BIG)
    services("client", maxFrameBytes=4 * BIG)
    device = RawWebSocket(site_ports["mobile"], deflate=deflate, receive_buffer=8192)
    assert device.deflate == deflate
    # Letters that do not compress: compressed, the message is as large.
    device.send_text(subscribe_frame("big", padding=BIG, noisy=True))

    sent_pings: list[bytes] = []
    done = threading.Event()

    def ping_every_10_ms():
        n = 0
        while not done.is_set():
            payload = f"ping {n}".encode()
            sent_pings.append(payload)
            device.send(client_frame(PING, payload))
            n += 1
            time.sleep(0.01)

    pinger = threading.Thread(target=ping_every_10_ms, daemon=True)
    pinger.start()
    device.read_pause = 0.002  # a slow network: the server's writes cannot go at once
    pongs, data = [], None
    try:
        while data is None:
            opcode, payload, controls = device.read_message(chunk=16384)
            pongs += [c.payload for c in controls if c.opcode == PONG]
            assert opcode == TEXT, (opcode, payload[:200])
            message = json.loads(payload)  # whole: a pong inside it would break this
            if message["type"] == "data":
                data = message
    finally:
        done.set()
        pinger.join()
    (tally,) = data["tuples"]
    # The tally plugin's noise: base64 of random bytes seeded with the name.
    expected = base64.b64encode(random.Random("big").randbytes(BIG))[:BIG].decode()
    assert tally["name"] == "big" and tally["padding"] == expected
    # Pongs answered pings the device sent, each one whole, and in order.
    assert pongs and pongs == sent_pings[:len(pongs)]
    device.close()


INVALID_CODES = [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 2000, 2999, 5000,
                 65535]
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1011, 3000, 4000, 4999]


def closed_with(port: int, *frames: bytes, deflate: bool = False) -> tuple[int | None, str]:
    device = RawWebSocket(port, deflate=deflate)
    try:
        for frame in frames:
            device.send(frame)
        return device.close_frame()
    finally:
        device.close()


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "permessage-deflate"])
def test_close_frames_and_lengths_are_checked_as_rfc_6455_says(services, site_ports, deflate):
    services("server")
    services("client")
    port = site_ports["mobile"]
    for code in INVALID_CODES:
        assert closed_with(port, client_frame(CLOSE, close_payload(code)),
                           deflate=deflate)[0] == 1002, code
    for code in VALID_CODES:
        assert closed_with(port, client_frame(CLOSE, close_payload(code, b"bye")),
                           deflate=deflate)[0] == code, code
    assert closed_with(port, client_frame(CLOSE, b""), deflate=deflate)[0] is None
    assert closed_with(port, client_frame(CLOSE, close_payload(1000, b"\xff\xfe")),
                       deflate=deflate)[0] == 1007
    assert closed_with(port, client_frame(CLOSE, b"\x03"), deflate=deflate)[0] == 1002
    # A 64-bit length with its top bit set.
    lying = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", 1 << 63) + b"\0\0\0\0"
    assert closed_with(port, lying, deflate=deflate)[0] == 1002


def test_a_binary_message_is_refused_with_1003_and_an_error_frame(services, site_ports):
    services("server")
    services("client")
    device = RawWebSocket(site_ports["mobile"])
    device.send(client_frame(BINARY, b'{"type": "ping"}'))
    errors = []
    while True:
        opcode, payload, _ = device.read_message()
        if opcode == CLOSE:
            assert struct.unpack(">H", payload[:2])[0] == 1003
            break
        message = json.loads(payload)
        if message["type"] == "error":
            errors.append(message["error"])
    assert errors == ["binary messages are not part of the device protocol: send JSON text "
                      "frames"]
    device.close()


def test_a_flooding_device_leaves_the_others_answered(services, site_ports):
    services("server")
    services("client")
    port = site_ports["mobile"]
    flood = RawWebSocket(port)
    # Frames the handler has work with and answers nothing to, as fast as
    # loopback takes them, from a device that never reads.
    junk = client_frame(TEXT, json.dumps({"type": "unsubscribe", "selector": {
        "name": TALLY, "filter": {"name": "nothing"}}}).encode()) * 200
    stop = threading.Event()

    def flood_it():
        try:
            while not stop.is_set():
                flood.send(junk)
        except OSError:
            pass

    flooder = threading.Thread(target=flood_it, daemon=True)
    flooder.start()
    other = RawWebSocket(port)
    other.sock.settimeout(5)
    try:
        time.sleep(0.5)  # the flood is on
        for n in range(20):
            other.send_text(json.dumps({"type": "ping"}))
            while json.loads(other.read_message()[1])["type"] != "pong":
                pass
            other.send(client_frame(PING, f"{n}".encode()))
            while True:
                frame = other.read_frame()
                if frame.opcode == PONG:
                    assert frame.payload == f"{n}".encode()
                    break
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert health.json()["status"] == "ok"
    finally:
        stop.set()
        flooder.join(10)
        flood.close()
        other.close()


def server_link_started(site_ports) -> str:
    """When the server says the client's link began (the same link: the same time)."""
    health = requests.get(f"http://127.0.0.1:{site_ports['admin']}/healthz", timeout=5).json()
    (client,) = health["connections"]["clients"]
    return client["connected_at"]


def test_what_is_too_large_for_the_link_is_refused_to_its_device_alone(services, site_ports):
    limit = 200_000
    services("server", maxFrameBytes=limit)
    services("client", maxFrameBytes=limit)
    link_began = server_link_started(site_ports)
    bystander = Device(site_ports["mobile"])
    bystander.subscribe(TALLY, name="calm")
    assert bystander.data()[0]["name"] == "calm"

    # An action within the device's limit that its envelope on the link takes over it.
    sender = RawWebSocket(site_ports["mobile"])
    action = {"type": "action", "id": "too-big-0001",
              "tuple": {"_tt": "peek_plugin_tally.AddToTally", "name": ""}}
    action["tuple"]["name"] = "n" * (limit - len(json.dumps(action)) - 10)
    sender.send_text(json.dumps(action))
    while (answer := json.loads(sender.read_message()[1]))["type"] != "result":
        pass
    assert answer["id"] == "too-big-0001"
    assert answer["error"].startswith("this action is too large for the link to the server")

    # Data too large for the link: an error for that selector, not a closed link.
    sender.send_text(subscribe_frame("huge", padding=limit))
    while (error := json.loads(sender.read_message()[1]))["type"] != "error":
        pass
    assert error["selector"]["filter"]["name"] == "huge"
    assert "over what a link carries (vortex.maxFrameBytes, 200000 bytes)" in error["error"]

    # The link never closed: the others saw nothing, and it is the same link.
    action_id = bystander.act(tally_action("calm"))
    assert bystander.answer(action_id)["result"]["count"] == 1
    assert not [f for f in bystander.unread if f.get("state") == "reconnecting"]
    assert server_link_started(site_ports) == link_began
    sender.close()
    bystander.close()


def test_each_device_limit_answers_a_clear_error(services, site_ports):
    services("server")
    services("client", maxSubscriptionsPerDevice=3, maxActionsInFlightPerDevice=2,
             restRequestsPerS=5, maxFrameBytes=100_000)
    port = site_ports["mobile"]
    device = Device(port)
    for n in range(3):
        device.subscribe(TALLY, name=f"s{n}")
        device.data()
    device.subscribe(TALLY, name="s3")
    error = device.next(lambda f: f["type"] == "error")
    assert error["error"].startswith("this connection watches 3 selectors, the most one may "
                                     "(vortex.maxSubscriptionsPerDevice)")
    device.send("unsubscribe", selector={"name": TALLY, "filter": {"name": "s0"}})
    device.subscribe(TALLY, name="s3")  # room again
    assert device.data(where=lambda t: t[0]["name"] == "s3")

    # Actions held in flight (WhoAmI pauses), one over the limit refused for now.
    held = [device.act({"_tt": "peek_plugin_tally.WhoAmI", "pause_s": 1.5}) for _ in range(2)]
    over = device.act({"_tt": "peek_plugin_tally.WhoAmI"})
    refused = device.answer(over)
    assert refused["state"] == "retry"
    assert "(vortex.maxActionsInFlightPerDevice)" in refused["error"]
    for action_id in held:
        assert "error" not in device.answer(action_id)
    assert "error" not in device.answer(device.act({"_tt": "peek_plugin_tally.WhoAmI"}))
    device.close()

    base = f"http://127.0.0.1:{port}/vortex/api"
    selector = json.dumps({"name": TALLY, "filter": {"name": "r"}})
    answers = [requests.get(f"{base}/data", params={"selector": selector}, timeout=10)
               for _ in range(15)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and all(a.status_code == 200 for a in answers[:10])
    assert limited[0].json()["error"] == ("more than 5 requests a second "
                                         "(vortex.restRequestsPerS): slow down")
    assert int(limited[0].headers["Retry-After"]) >= 1
    time.sleep(1.5)
    big = requests.post(f"{base}/actions", data=b"x" * 200_000, timeout=10,
                        headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    assert big.json()["error"] == "the request body is over vortex.maxFrameBytes (100000 bytes)"


def test_devices_reach_only_what_a_plugin_offers_them(services, site_ports):
    services("server")
    services("client")
    device = Device(site_ports["mobile"])
    device.subscribe("peek_plugin_tally.Internal")
    error = device.next(lambda f: f["type"] == "error")
    assert error["error"] == "peek_plugin_tally.Internal is not offered to devices by its plugin"
    refused = device.answer(device.act({"_tt": "peek_plugin_tally.InternalAction"}))
    assert refused["error"] == ("actions of peek_plugin_tally.InternalAction are not offered "
                                "to devices by its plugin")
    assert refused["state"] == "no_processor"
    # What is offered works on the same connection.
    device.subscribe(TALLY, name="open")
    assert device.data()[0]["name"] == "open"
    device.close()

    base = f"http://127.0.0.1:{site_ports['mobile']}/vortex/api"
    data = requests.get(f"{base}/data", timeout=10, params={
        "selector": json.dumps({"name": "peek_plugin_tally.Internal"})})
    assert data.status_code == 403 and "not offered to devices" in data.json()["error"]
    action = requests.post(f"{base}/actions", timeout=10, json={
        "type": "action", "id": "internal-0001", "tuple": {"_tt": "peek_plugin_tally.InternalAction"}})
    assert action.status_code == 403 and action.json()["state"] == "no_processor"


def test_the_clients_healthz_counts_and_its_stats_need_the_secret(services, site_ports):
    services("server")
    services("client")
    device = Device(site_ports["mobile"])
    device.subscribe(TALLY, name="counted")
    device.data()
    base = f"http://127.0.0.1:{site_ports['mobile']}"
    health = requests.get(f"{base}/healthz", timeout=5).json()["connections"]
    assert health["subscriptions"] == 1 and health["subscribers"] == 1
    assert "counted" not in json.dumps(health)
    assert requests.get(f"{base}/vortex/stats", timeout=5).status_code == 401
    stats = requests.get(f"{base}/vortex/stats", timeout=5,
                         headers={"Authorization": "Bearer test-secret"}).json()
    (watched,) = stats["subscriptions"]
    assert "counted" in watched["selector"] and watched["subscribers"] == 1
    device.close()
