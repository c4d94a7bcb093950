"""The platform's websocket reader (peek.vortex.websocket) against real clients
over loopback: what it receives, and how it closes on bad or oversize frames."""

import os
import socket
import threading

import pytest
import simple_websocket
from flask import Flask
from flask_sock import Sock
from werkzeug.serving import make_server
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                            Request, TextMessage)
from wsproto.extensions import PerMessageDeflate

import peek.extensions  # noqa: F401  (has flask-sock build WebSocketServer)
from peek.vortex.websocket import WebSocketServer, unmask
from tests.conftest import free_port, wait_for

LIMIT = 300_000


@pytest.fixture(scope="module")
def echo():
    """A real server whose /echo websocket sends back what it receives, with
    the platform's flask-sock extension; records each server-side socket."""
    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": LIMIT}
    sockets = []

    @Sock(app).route("/echo")
    def echo_route(ws):
        sockets.append(ws)
        while True:
            data = ws.receive()
            if data is None:
                return
            ws.send(data)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port, sockets
    server.shutdown()


class RawClient:
    """A websocket client on wsproto over a plain socket, sending frames as given."""

    def __init__(self, port: int, extensions=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target="/echo",
                                               extensions=extensions or [])))
        self.accepted = self.next(AcceptConnection)

    def send(self, event) -> None:
        self.sock.sendall(self.ws.send(event))

    def next(self, kind):
        """The next event of ``kind``; a message whole, however it was split."""
        parts = []
        while True:
            for event in self.ws.events():
                if not isinstance(event, kind):
                    continue
                if not isinstance(event, (TextMessage, BytesMessage)):
                    return event
                parts.append(event.data)
                if event.message_finished:
                    return kind(data=type(event.data)().join(parts))
            data = self.sock.recv(65536)
            assert data, f"closed before a {kind.__name__}"
            self.ws.receive_data(data)


def masked_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
                 mask: bool = True) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    flag = 0x80 if mask else 0
    if n < 126:
        head += bytes([flag | n])
    elif n < 65536:
        head += bytes([flag | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([flag | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + unmask(payload, key)


def close_code(raw: socket.socket) -> int:
    """The code of the close frame the server sends (then the socket ends)."""
    data = b""
    while len(data) < 4:
        chunk = raw.recv(4096)
        assert chunk, "closed without a close frame"
        data += chunk
    assert data[0] == 0x88, data[:2]
    return int.from_bytes(data[2:4], "big")


def test_messages_of_every_size_come_through_in_order(echo):
    port, sockets = echo
    client = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/echo")
    try:
        messages = ["", "é" * 10, "x" * 125, "y" * 126, "z" * 65_535, "w" * 65_536,
                    "v" * 250_000, b"\x00\x01binary"]
        for message in messages:
            client.send(message)
        assert [client.receive(timeout=10) for _ in messages] == messages
        assert isinstance(sockets[-1], WebSocketServer)
        # Each message leaves at once (no Nagle holding it for the last one's ACK).
        assert sockets[-1].sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        client.close()


def test_fragments_with_a_ping_between_them_make_one_message(echo):
    port, _ = echo
    client = RawClient(port)
    client.sock.sendall(masked_frame(0x1, b"frag", fin=False)
                        + masked_frame(0x9, b"are you there")
                        + masked_frame(0x0, b"ments ", fin=False)
                        + masked_frame(0x0, "and more ✓".encode()))
    assert client.next(Pong).payload == b"are you there"
    assert client.next(TextMessage).data == "fragments and more ✓"
    client.send(Ping(b"again"))
    assert client.next(Pong).payload == b"again"
    client.send(CloseConnection(code=1000))
    assert client.next(CloseConnection).code == 1000  # the code echoed


def test_a_message_over_the_limit_closes_with_1009_before_it_is_buffered(echo):
    port, sockets = echo
    before = len(sockets)
    raw = RawClient(port)
    # Only the header of a frame that says it is over the limit: refused at once.
    raw.sock.sendall(bytes([0x81, 0xFF]) + (LIMIT + 1).to_bytes(8, "big") + os.urandom(4))
    assert close_code(raw.sock) == 1009
    # The server's reader can close it before the route even has the socket.
    wait_for(lambda: len(sockets) > before, what="the route to get its socket")
    wait_for(lambda: not sockets[before].connected, what="the server side closed")
    assert sockets[before].incoming_message_len > LIMIT  # what the platform logs by


@pytest.mark.parametrize("frame, code", [
    (masked_frame(0x1, b"not masked", mask=False), 1002),
    (masked_frame(0x1, b"reserved bit", rsv=0x40), 1002),
    (masked_frame(0x0, b"continuation of nothing"), 1002),
    (masked_frame(0x1, b"\xff\xfe not UTF-8"), 1007),
    (masked_frame(0x9, b"p" * 126), 1002),
    (masked_frame(0x3, b"unknown opcode"), 1002),
], ids=["unmasked", "reserved-bit", "stray-continuation", "not-utf8", "long-ping",
        "unknown-opcode"])
def test_a_frame_that_breaks_the_protocol_closes_only_its_connection(echo, frame, code):
    port, _ = echo
    bystander = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/echo")
    raw = RawClient(port)
    raw.sock.sendall(frame)
    assert close_code(raw.sock) == code
    bystander.send("still here")
    assert bystander.receive(timeout=10) == "still here"
    bystander.close()


def test_a_compressed_connection_keeps_simple_websockets_own_reader(echo):
    port, sockets = echo
    client = RawClient(port, extensions=[PerMessageDeflate()])
    assert client.accepted.extensions  # permessage-deflate was agreed
    client.send(TextMessage(data="squeezed " * 1000))
    assert client.next(TextMessage).data == "squeezed " * 1000
    client.send(BytesMessage(data=b"\x00" * 5000))
    assert client.next(BytesMessage).data == b"\x00" * 5000
