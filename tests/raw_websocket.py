"""A websocket client built by hand on a raw socket, for tests that speak to
the platform as an outsider would: frames built byte by byte (any opcode,
length, mask, close code), permessage-deflate offered or not, reading as
slowly as a bad network does."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass
class Frame:
    fin: bool
    rsv1: bool
    opcode: int
    payload: bytes


def client_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
                 masked: bool = True, length: int | None = None) -> bytes:
    """One frame as a client sends it; ``length`` overrides the length field
    (to lie about it)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack(">H", code) + reason


class RawWebSocket:
    def __init__(self, port: int, path: str = "/vortex/ws", deflate: bool = False,
                 headers: dict[str, str] | None = None, receive_buffer: int | None = None):
        self.sock = socket.socket()
        if receive_buffer:  # before connecting: the window scale is agreed then
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"no handshake answer: {self._buffer!r}")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        self.response = head.decode()
        assert self.response.startswith("HTTP/1.1 101"), self.response
        self.deflate = "permessage-deflate" in self.response.lower()
        self._inflate = zlib.decompressobj(-15)
        #: Seconds to wait after each read: a device on a slow network.
        self.read_pause = 0.0

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def send_text(self, text: str) -> None:
        self.send(client_frame(TEXT, text.encode()))

    def _read(self, n: int, chunk: int) -> bytes:
        while len(self._buffer) < n:
            data = self.sock.recv(chunk)
            if not data:
                raise ConnectionError("closed by the server")
            self._buffer += data
            if self.read_pause:
                time.sleep(self.read_pause)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def read_frame(self, chunk: int = 65536) -> Frame:
        first, second = self._read(2, chunk)
        assert not second & 0x80, "a server's frames are not masked"
        n = second & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2, chunk))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8, chunk))[0]
        return Frame(bool(first & 0x80), bool(first & 0x40), first & 0x0F,
                     self._read(n, chunk))

    def read_message(self, chunk: int = 65536) -> tuple[int, bytes, list[Frame]]:
        """The next data message (its opcode and payload, inflated), and the
        control frames that came before or between its fragments."""
        controls, parts, opcode, compressed = [], [], None, False
        while True:
            frame = self.read_frame(chunk)
            if frame.opcode == PING:
                self.send(client_frame(PONG, frame.payload))
            if frame.opcode >= CLOSE:
                controls.append(frame)
                if frame.opcode == CLOSE:
                    return CLOSE, frame.payload, controls
                continue
            if opcode is None:
                opcode, compressed = frame.opcode, frame.rsv1
            parts.append(frame.payload)
            if frame.fin:
                payload = b"".join(parts)
                if compressed:
                    payload = self._inflate.decompress(payload + b"\x00\x00\xff\xff")
                return opcode, payload, controls

    def close_frame(self, timeout: float = 10) -> tuple[int | None, str]:
        """Read until the server's close frame: its code and reason."""
        self.sock.settimeout(timeout)
        while True:
            frame = self.read_frame()
            if frame.opcode == CLOSE:
                code = struct.unpack(">H", frame.payload[:2])[0] if frame.payload else None
                return code, frame.payload[2:].decode(errors="replace")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
