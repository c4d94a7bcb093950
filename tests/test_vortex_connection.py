"""A bounded outgoing queue per websocket: a peer that stops reading is dropped
and never holds up the others."""

import base64
import os
import socket
import threading

import simple_websocket
from flask import Flask
from flask_sock import Sock
from werkzeug.serving import make_server

from peek.vortex.connection import Connection
from tests.conftest import free_port, wait_for

FRAME = "x" * 200_000
FRAMES = 300


def serve_feed():
    """A real websocket server: every connection gets a Connection with a
    queue of 20 frames; returns (port, connections, server)."""
    app = Flask(__name__)
    sock = Sock(app)
    connections = []

    @sock.route("/feed")
    def feed(ws):
        connection = Connection(ws, f"device {len(connections)}", max_queue=20)
        connections.append(connection)
        connection.closed.wait()

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return port, connections, server


def stalled_device(port):
    """Opens the websocket and then never reads a byte."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET /feed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return raw


def test_a_device_that_stops_reading_is_dropped_and_the_others_get_everything():
    port, connections, server = serve_feed()
    received = []
    reader = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/feed")
    wait_for(lambda: len(connections) == 1, what="the reading device connected")
    stalled = stalled_device(port)
    wait_for(lambda: len(connections) == 2, what="the stalled device connected")
    live, dead = connections

    def read_all():
        while len(received) < FRAMES:
            frame = reader.receive(timeout=30)
            if frame is None:
                break
            received.append(len(frame))
    listener = threading.Thread(target=read_all)
    listener.start()

    accepted = {live.name: 0, dead.name: 0}
    for _ in range(FRAMES):  # the sender never waits for either device
        for connection in (live, dead):
            accepted[connection.name] += connection.send(FRAME)
        wait_for(lambda: live.pending < 15, what="the live device to keep up")
    listener.join(timeout=60)

    assert received == [len(FRAME)] * FRAMES
    assert accepted[live.name] == FRAMES
    assert dead.closed.is_set() and "too slow: 20 frames waiting" in dead.close_reason
    assert accepted[dead.name] < FRAMES
    assert not live.closed.is_set()
    reader.close()
    stalled.close()
    server.shutdown()
