"""The websocket reader's bounds, on a real socket pair: a handler that falls
behind stops the reading (the sender is held back by TCP), and a peer that
keeps it so is closed with 1008."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

from peek.vortex.websocket import WebSocketServer
from tests.conftest import wait_for
from tests.raw_websocket import CLOSE, TEXT, client_frame


def accepted(receive_queue_frames: int, flood_timeout_s: float):
    """A server websocket on one end of a socket pair (its handshake done)
    and the other end, as a device."""
    server_end, device = socket.socketpair()
    environ = {"werkzeug.socket": server_end, "REMOTE_ADDR": "127.0.0.9",
               "HTTP_HOST": "peek", "HTTP_UPGRADE": "websocket",
               "HTTP_CONNECTION": "Upgrade", "HTTP_SEC_WEBSOCKET_VERSION": "13",
               "HTTP_SEC_WEBSOCKET_KEY": base64.b64encode(os.urandom(16)).decode()}
    ws = WebSocketServer(environ, receive_queue_frames=receive_queue_frames,
                         flood_timeout_s=flood_timeout_s)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += device.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101")
    return ws, device


def test_a_handler_behind_stops_the_reading_and_a_flood_that_lasts_is_closed_1008():
    ws, device = accepted(receive_queue_frames=5, flood_timeout_s=1.0)
    device.settimeout(10)
    frames = b"".join(client_frame(TEXT, f"message {n}".encode()) for n in range(50))
    device.sendall(frames)
    # Nobody handles the messages: the reader stops at five.
    wait_for(lambda: len(ws.input_buffer) == 5, what="five messages waiting")
    time.sleep(0.3)
    assert len(ws.input_buffer) == 5
    # Handled in time, the reader goes on, in order.
    assert [ws.receive(timeout=5) for _ in range(10)] == [f"message {n}" for n in range(10)]
    wait_for(lambda: len(ws.input_buffer) == 5, what="five messages waiting again")
    # Left unhandled for longer than flood_timeout_s: closed with 1008.
    data = b""
    while True:
        chunk = device.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) >= 4 and data[0] & 0x0F == CLOSE:
            break
    assert data[0] & 0x0F == CLOSE
    assert struct.unpack(">H", data[2:4])[0] == 1008
    assert b"not keeping up" in data[4:]
    wait_for(lambda: not ws.connected, what="the websocket to close")
    device.close()
