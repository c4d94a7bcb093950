"""The platform's websockets: simple_websocket's server, reading frames without wsproto.

flask-sock gives each websocket route a ``simple_websocket.Server``, whose
reader feeds every chunk it receives to wsproto.  wsproto's frame parser
costs about 30 us of Python per small message, which on the client service
is a large part of what each device action costs.  ``WebSocketServer`` reads
RFC 6455 frames itself (a few us each) on connections without extensions;
one that negotiated compression (permessage-deflate, as browsers ask for),
or that pings on a timer (``ping_interval``), keeps simple_websocket's own
reader.  The handshake, sending and closing stay simple_websocket's, and
what it offers the handler (``receive``, ``connected``, ``close_reason``,
``incoming_message_len``, ``pong_received``) behaves as before.

``peek.extensions`` has flask-sock build every websocket with this class.
"""

from __future__ import annotations

import socket
from typing import Any

import simple_websocket

#: Bytes read from the socket at a time (simple_websocket's default is 4,096).
RECEIVE_BYTES = 65536

_CONTINUATION, TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Close codes (RFC 6455, section 7.4.1).
_NO_STATUS, _PROTOCOL_ERROR, _INVALID_DATA, _TOO_BIG = 1005, 1002, 1007, 1009


class _Closed(Exception):
    """The connection ends: the peer closed it, or broke the protocol."""


def unmask(payload: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    """A client's payload XORed with its 4-byte mask (RFC 6455, section 5.3)."""
    n = len(payload)
    key = (bytes(mask) * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        n, "little")


def server_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A final, unmasked, uncompressed frame, as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def frame_protocol(ws: Any) -> Any:
    """wsproto's frame protocol of a simple_websocket connection (what it
    negotiated: extensions, which side it is), or None before the handshake."""
    return getattr(getattr(getattr(ws, "ws", None), "connection", None), "_proto", None)


def no_delay(sock: Any) -> None:
    """Send each write at once: without TCP_NODELAY, Nagle's algorithm holds
    a small message back until the peer acknowledges the one before, which
    on a link carrying actions one way and answers the other cost
    milliseconds per message."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not TCP (a Unix socket, a test's pipe)
        pass


class WebSocketServer(simple_websocket.Server):
    def handshake(self) -> None:
        no_delay(self.sock)
        super().handshake()

    def _thread(self) -> None:
        if self.ping_interval or getattr(frame_protocol(self), "extensions", None):
            return super()._thread()
        try:
            self._read_frames()
        except (_Closed, OSError):
            pass
        finally:
            self.connected = False
            self.event.set()
            self.sock.close()

    def _read_frames(self) -> None:
        buffer = bytearray()
        message: bytearray | None = None  # the fragments of a message so far
        message_opcode = TEXT
        while self.connected:
            data = self.sock.recv(RECEIVE_BYTES)
            if not data:
                return  # the peer went away without a close frame
            buffer += data
            at = 0
            while len(buffer) - at >= 2:
                first, second = buffer[at], buffer[at + 1]
                fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
                head = 2
                if length == 126:
                    head = 4
                elif length == 127:
                    head = 10
                if len(buffer) - at < head:
                    break
                if head > 2:
                    length = int.from_bytes(buffer[at + 2:at + head], "big")
                if not second & 0x80 or first & 0x70:
                    self._fail(_PROTOCOL_ERROR, "frames from a client are masked and use "
                                                "no reserved bits")
                if opcode >= _CLOSE and (not fin or length > 125):
                    self._fail(_PROTOCOL_ERROR, "a control frame is final and at most "
                                                "125 bytes")
                if opcode < _CLOSE:  # refuse an oversize message before buffering it
                    self.incoming_message_len = (len(message) if message else 0) + length
                    if self.max_message_size and \
                            self.incoming_message_len > self.max_message_size:
                        self._fail(_TOO_BIG, "Message is too big")
                start = at + head + 4
                if len(buffer) < start + length:
                    break
                payload = unmask(buffer[start:start + length], buffer[at + head:start])
                at = start + length
                if opcode == _CONTINUATION:
                    if message is None:
                        self._fail(_PROTOCOL_ERROR, "a continuation frame with no message")
                    message += payload
                    if fin:
                        self._deliver(message_opcode, bytes(message))
                        message = None
                elif opcode in (TEXT, _BINARY):
                    if message is not None:
                        self._fail(_PROTOCOL_ERROR, "a new message inside a fragmented one")
                    if fin:
                        self._deliver(opcode, payload)
                    else:
                        message, message_opcode = bytearray(payload), opcode
                elif opcode == _PING:
                    self.sock.send(server_frame(_PONG, payload))
                elif opcode == _PONG:
                    self.pong_received = True
                elif opcode == _CLOSE:
                    self._peer_closed(payload)
                else:
                    self._fail(_PROTOCOL_ERROR, f"unknown opcode {opcode}")
            del buffer[:at]

    def _deliver(self, opcode: int, payload: bytes) -> None:
        if opcode == TEXT:
            try:
                data: str | bytes = payload.decode()
            except UnicodeDecodeError:
                self._fail(_INVALID_DATA, "a text message that is not UTF-8")
        else:
            data = payload
        self.incoming_message_len = 0
        self.input_buffer.append(data)
        self.event.set()

    def _peer_closed(self, payload: bytes) -> None:
        if len(payload) == 1:
            self._fail(_PROTOCOL_ERROR, "a close frame with a 1-byte code")
        code = int.from_bytes(payload[:2], "big") if payload else _NO_STATUS
        if self.connected:  # echo the code, unless this end began closing
            self.sock.send(server_frame(_CLOSE, payload[:2]))
        self.close_reason = code
        self.close_message = payload[2:].decode(errors="replace") or None
        self.connected = False
        raise _Closed()

    def _fail(self, code: int, reason: str) -> None:
        """Close with ``code`` (the peer broke the protocol, or a limit)."""
        if self.connected:
            try:
                self.sock.send(server_frame(_CLOSE, code.to_bytes(2, "big") + reason.encode()))
            except OSError:
                pass
        self.close_reason, self.close_message = code, reason
        self.connected = False
        raise _Closed()
