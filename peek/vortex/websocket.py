"""The platform's websockets: simple_websocket's server, reading frames without wsproto.

flask-sock gives each websocket route a ``simple_websocket.Server``, whose
reader feeds every chunk it receives to wsproto.  wsproto's frame parser
costs about 30 us of Python per small message, which on the client service
is a large part of what each device action costs.  ``WebSocketServer`` reads
RFC 6455 frames itself (a few us each), compressed ones (permessage-deflate,
as browsers ask for) included, and checks them as the RFC says (close codes
and reasons, lengths, reserved bits).  The handshake, sending and closing
stay simple_websocket's (``ping_interval``, which needs its reader, is not
supported), and what it offers the handler (``receive``, ``connected``, ``close_reason``,
``incoming_message_len``, ``pong_received``) behaves as before.

Every write to a websocket's socket is whole and one at a time
(:class:`WholeWrites`): simple_websocket writes with ``sock.send`` and
ignores how much the socket took, and its reader writes pongs and close
frames from its own thread, which could land inside a frame being written.

The reader is bounded: once ``receive_queue_frames`` messages or
``receive_queue_bytes`` bytes wait for the handler, it stops reading (TCP
holds the sender back) until the handler catches up, and a peer that keeps
the queue full for ``flood_timeout_s`` is closed with 1008.  On greenlets it
yields after every chunk it reads, so one peer sending as fast as it can
never starves the others.

``peek.extensions`` has flask-sock build every websocket with this class.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import zlib
from typing import Any

import simple_websocket

from peek import greenlets

log = logging.getLogger(__name__)

#: Bytes read from the socket at a time (simple_websocket's default is 4,096).
RECEIVE_BYTES = 65536

_CONTINUATION, TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Close codes (RFC 6455, section 7.4.1).
_NO_STATUS, _PROTOCOL_ERROR, _INVALID_DATA, _POLICY, _TOO_BIG = 1005, 1002, 1007, 1008, 1009

#: Defaults of the reader's bounds (config: vortex.receiveQueueFrames, ...).
RECEIVE_QUEUE_FRAMES = 100
FLOOD_TIMEOUT_S = 30.0


def valid_close_code(code: int) -> bool:
    """A close code a peer may send (RFC 6455, section 7.4): the defined ones
    that are not reserved for local use (1005, 1006, 1015), and 3000-4999."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


class WholeWrites:
    """A socket whose writes are each written whole, one at a time.

    ``send`` writes everything it is given (and says so), under a lock, so
    a pong from the reader waits behind a frame being written instead of
    landing inside it.  On greenlets, :meth:`try_send` writes what the
    socket takes at once without waiting and keeps the rest, which goes out
    before any later write (:meth:`flush`, or the next ``send``).  Everything
    else is the socket's own.
    """

    def __init__(self, sock: Any):
        self._sock = sock
        self._lock = threading.RLock()
        self._tail = b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def send(self, data: bytes, *_args: Any) -> int:
        self.sendall(data)
        return len(data)

    def sendall(self, data: bytes, *_args: Any) -> None:
        with self._lock:
            if self._tail:
                self._sock.sendall(self._tail)
                self._tail = b""
            if data:
                self._sock.sendall(data)

    def flush(self) -> None:
        self.sendall(b"")

    def try_send(self, data: bytes) -> bool:
        """Write ``data`` without waiting, keeping what the socket did not take
        for :meth:`flush`; False (nothing written) while another write is
        under way or waiting."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._tail:
                return False
            try:
                sent = self._sock.send(data, 0, 0.0)  # gevent: timeout 0, never wait
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                self._tail = bytes(data[sent:])
            return True
        finally:
            self._lock.release()

    @property
    def tail(self) -> bool:
        """Whether part of a frame waits for :meth:`flush`."""
        return bool(self._tail)


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


class WebSocketClient(simple_websocket.Client):
    """simple_websocket's client with whole writes (the link to the server)."""

    def handshake(self) -> None:
        self.sock = WholeWrites(self.sock)
        super().handshake()


class WebSocketServer(simple_websocket.Server):
    def __init__(self, environ: dict, *, receive_queue_frames: int = RECEIVE_QUEUE_FRAMES,
                 receive_queue_bytes: int | None = None,
                 flood_timeout_s: float = FLOOD_TIMEOUT_S, **kwargs: Any):
        self.receive_queue_frames = receive_queue_frames
        self.receive_queue_bytes = receive_queue_bytes or 2 * (
            kwargs.get("max_message_size") or 4 * 2**20)
        self.flood_timeout_s = flood_timeout_s
        self._queued_bytes = 0
        self._drained = threading.Event()
        super().__init__(environ, **kwargs)

    def handshake(self) -> None:
        no_delay(self.sock)
        self.sock = WholeWrites(self.sock)
        super().handshake()

    def receive(self, timeout: float | None = None) -> Any:
        data = super().receive(timeout)
        if data is not None:
            self._queued_bytes = max(0, self._queued_bytes - len(data))
            self._drained.set()
        return data

    def _queue(self, data: str | bytes) -> None:
        """A message for the handler (who takes it with ``receive``)."""
        self._queued_bytes += len(data)
        self.input_buffer.append(data)
        self.event.set()

    def _wait_for_the_handler(self) -> None:
        """Read no more while the handler is behind (TCP holds the peer back);
        close with 1008 a peer that keeps it behind for ``flood_timeout_s``."""
        deadline = None
        while self.connected and (len(self.input_buffer) >= self.receive_queue_frames
                                  or self._queued_bytes >= self.receive_queue_bytes):
            deadline = deadline or time.monotonic() + self.flood_timeout_s
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("Closed a websocket from %s: %d messages (%d bytes) unhandled "
                            "for %.0f s", self.environ.get("REMOTE_ADDR", "?"),
                            len(self.input_buffer), self._queued_bytes, self.flood_timeout_s)
                self._fail(_POLICY, "too many messages: the server is not keeping up")
            self._drained.clear()
            self._drained.wait(min(left, 1.0))

    def _thread(self) -> None:
        try:
            self._read_frames()
        except (_Closed, OSError):
            pass
        finally:
            self.connected = False
            self.event.set()
            self.sock.close()

    def _inflater(self) -> Any:
        """How this connection's compressed messages are inflated
        (permessage-deflate, RFC 7692), or None without compression."""
        for extension in getattr(frame_protocol(self), "extensions", None) or ():
            if getattr(extension, "name", None) == "permessage-deflate":
                return _Inflater(extension.client_max_window_bits or 15,
                                 bool(extension.client_no_context_takeover))
        return None

    def _read_frames(self) -> None:
        inflater = self._inflater()
        buffer = bytearray()
        message: bytearray | None = None  # the fragments of a message so far
        message_opcode, compressed = TEXT, False
        while self.connected:
            self._wait_for_the_handler()
            data = self.sock.recv(RECEIVE_BYTES)
            if not data:
                return  # the peer went away without a close frame
            if greenlets.active():
                greenlets.yield_now()  # one chunk at a time: the others get their turn
            buffer += data
            at = 0
            while len(buffer) - at >= 2:
                self._wait_for_the_handler()  # a chunk may hold many messages
                first, second = buffer[at], buffer[at + 1]
                fin, rsv1, opcode, length = first & 0x80, first & 0x40, first & 0x0F, \
                    second & 0x7F
                head = 2
                if length == 126:
                    head = 4
                elif length == 127:
                    head = 10
                if len(buffer) - at < head:
                    break
                if head > 2:
                    length = int.from_bytes(buffer[at + 2:at + head], "big")
                    if length >> 63:
                        self._fail(_PROTOCOL_ERROR, "a 64-bit length's top bit is zero")
                if not second & 0x80 or first & 0x30:
                    self._fail(_PROTOCOL_ERROR, "frames from a client are masked and use "
                                                "no reserved bits")
                if rsv1 and (inflater is None or opcode not in (TEXT, _BINARY)):
                    self._fail(_PROTOCOL_ERROR, "RSV1 marks the first frame of a compressed "
                                                "message, on a connection that agreed to it")
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
                        self._deliver(message_opcode, bytes(message), compressed, inflater)
                        message = None
                elif opcode in (TEXT, _BINARY):
                    if message is not None:
                        self._fail(_PROTOCOL_ERROR, "a new message inside a fragmented one")
                    if fin:
                        self._deliver(opcode, payload, bool(rsv1), inflater)
                    else:
                        message, message_opcode = bytearray(payload), opcode
                        compressed = bool(rsv1)
                elif opcode == _PING:
                    self.sock.send(server_frame(_PONG, payload))
                elif opcode == _PONG:
                    self.pong_received = True
                elif opcode == _CLOSE:
                    self._peer_closed(payload)
                else:
                    self._fail(_PROTOCOL_ERROR, f"unknown opcode {opcode}")
            del buffer[:at]

    def _deliver(self, opcode: int, payload: bytes, compressed: bool = False,
                 inflater: "_Inflater | None" = None) -> None:
        if compressed and inflater is not None:
            try:
                payload = inflater.inflate(payload, self.max_message_size)
            except zlib.error:
                self._fail(_INVALID_DATA, "a compressed message that does not inflate")
            if payload is None:
                self._fail(_TOO_BIG, "Message is too big")
        if opcode == TEXT:
            try:
                data: str | bytes = payload.decode()
            except UnicodeDecodeError:
                self._fail(_INVALID_DATA, "a text message that is not UTF-8")
        else:
            data = payload
        self.incoming_message_len = 0
        self._queue(data)

    def _peer_closed(self, payload: bytes) -> None:
        if len(payload) == 1:
            self._fail(_PROTOCOL_ERROR, "a close frame with a 1-byte code")
        code = int.from_bytes(payload[:2], "big") if payload else _NO_STATUS
        if payload and not valid_close_code(code):
            self._fail(_PROTOCOL_ERROR, f"close code {code} is not one a peer may send")
        try:
            reason = payload[2:].decode()
        except UnicodeDecodeError:
            self._fail(_INVALID_DATA, "a close reason that is not UTF-8")
        if self.connected:  # echo the code, unless this end began closing
            self.sock.send(server_frame(_CLOSE, payload[:2]))
        self.close_reason = code
        self.close_message = reason or None
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


class _Inflater:
    """Inflates a client's compressed messages (RFC 7692, section 7.2.2),
    never to more than the message size limit (a small message can inflate
    to gigabytes)."""

    _TAIL = b"\x00\x00\xff\xff"

    def __init__(self, window_bits: int, no_context_takeover: bool):
        self._window_bits = window_bits
        self._fresh_each_message = no_context_takeover
        self._inflate = zlib.decompressobj(-window_bits)

    def inflate(self, payload: bytes, limit: int | None) -> bytes | None:
        """The message, or None when it inflates to more than ``limit`` bytes;
        :class:`zlib.error` when it is not deflate data."""
        if self._fresh_each_message:
            self._inflate = zlib.decompressobj(-self._window_bits)
        data = self._inflate.decompress(payload + self._TAIL, limit + 1 if limit else 0)
        if limit and len(data) > limit:
            return None
        return data
