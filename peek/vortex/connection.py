"""One websocket with a bounded outgoing queue and a writer thread of its own.

Whoever sends (an observable's fan-out, an action's answer) only puts the
frame in the queue and goes on: a slow or dead peer can never block the
sender, and when its queue is full it is dropped (closed, logged) instead of
growing memory without bound.  The peer reconnects and resyncs.

On greenlets (the client service), a text frame for a device whose queue is
empty is written at once by the sender, without blocking; only what the
socket does not take goes through the queue and the writer, so the rules
above hold as before.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from typing import Any

from peek import greenlets
from peek.vortex.websocket import TEXT, frame_protocol, server_frame

log = logging.getLogger(__name__)

_CLOSE = object()

#: A service link carries every device's traffic: its queue is this many
#: times a device's before the link counts as stuck.
SERVICE_LINK_QUEUE_FACTOR = 100

#: A service link sends the frames waiting in its queue together, one per
#: line of one websocket message, up to this many bytes: under load that is
#: one send and one parse for many frames.  (A frame is compact JSON, so it
#: never holds a raw newline.)
COALESCE_BYTES = 256 * 1024


def split_frames(message: str) -> list[str]:
    """The frames of a service link message."""
    return message.split("\n")


class SharedFrame(str):
    """A frame that goes, as the same text, to many websockets (an update
    fanned out to every device watching a selector).

    A server's websocket frame is not masked, so without compression its
    bytes (header and UTF-8 payload) are the same on every socket: they are
    built once, on first use, and each connection writes them as they are
    instead of framing the text again."""

    @property
    def wire(self) -> bytes:
        wire = self.__dict__.get("_wire")
        if wire is None:  # two writers racing here build the same bytes
            wire = self.__dict__["_wire"] = text_frame(self)
        return wire


def text_frame(text: str) -> bytes:
    """``text`` as a server sends it: one final, unmasked, uncompressed text
    frame (RFC 6455, section 5.2)."""
    return server_frame(TEXT, text.encode())


class _Raw(bytes):
    """Bytes written to the socket as they are: the rest of a frame that the
    socket did not take at once, or a control frame."""


#: A websocket ping (RFC 6455 control frame, no payload): the same bytes
#: whatever extension (compression) the connection negotiated.
PING_FRAME = _Raw(b"\x89\x00")
#: Nothing more to write: the socket writes the rest of a frame it kept.
_FLUSH = _Raw(b"")


def _writes_shared_frames(ws: Any) -> bool:
    """Whether ``ws`` (simple_websocket, over wsproto) is the server side of an
    open connection with no extension (compression) negotiated, so that a
    :class:`SharedFrame`'s bytes are what it would send itself."""
    proto = frame_protocol(ws)
    return (proto is not None and getattr(ws, "is_server", False) and not proto.client
            and not proto.extensions and hasattr(ws, "sock"))


#: Close codes (RFC 6455): browsers' htmx websocket extension reconnects after
#: 1006 (no close frame, as when a peer is cut off), 1011, 1012 and 1013.
GOING_AWAY, PROTOCOL_ERROR, TRY_AGAIN_LATER, SERVICE_RESTART = 1001, 1002, 1013, 1012
#: A binary message: the vortex protocol is JSON text frames only.
UNSUPPORTED_DATA = 1003
#: Ours (4000-4999 are the application's): the sign-in ended; sign in again.
SIGNED_OUT = 4401


class Connection:
    def __init__(self, ws: Any, name: str, max_queue: int, coalesce: bool = False,
                 max_message_bytes: int | None = None):
        """``coalesce``: join waiting frames into one message (a service link),
        never one over ``max_message_bytes`` (what the peer accepts)."""
        self.ws = ws
        self.name = name
        self._max_message_bytes = max_message_bytes or COALESCE_BYTES
        #: The :class:`~peek.device_auth.DeviceUser` signed in on a device's
        #: connection (None: anonymous, or a service link).
        self.user: Any = None
        #: The selectors a device's connection watches (vortex.maxSubscriptionsPerDevice).
        self.watching: set[bytes] = set()
        self._coalesce = coalesce
        self.closed = threading.Event()
        self.close_reason: str | None = None
        self._finishing = False
        self._close_code = GOING_AWAY
        # A deque and an event rather than a Queue: appending is one atomic
        # step, and a fan-out to thousands of connections wakes each writer
        # once, however many frames wait.
        self._frames: deque = deque()
        self._max_queue = max_queue
        self._shared_ok = _writes_shared_frames(ws)
        # On greenlets, ``send`` writes a text frame itself when nothing is
        # waiting (see _write_now); the writer marks when it is mid-send.
        self._direct = self._shared_ok and not coalesce and greenlets.active()
        self._writing = False
        self._wake = threading.Event()
        self._writer = threading.Thread(target=self._write, name=f"send {name}", daemon=True)
        self._writer.start()

    def __repr__(self) -> str:
        return f"<Connection {self.name}>"

    @property
    def user_name(self) -> str | None:
        return self.user.name if self.user is not None else None

    @property
    def pending(self) -> int:
        """Frames queued and not yet sent."""
        return len(self._frames)

    def send(self, frame: str | bytes) -> bool:
        """Queue ``frame`` (on greenlets, maybe write it at once); False (and
        the connection dropped) if the peer is too far behind, or already
        closing."""
        if self._finishing or self.closed.is_set():
            return False
        if self._direct and not self._frames and not self._writing \
                and isinstance(frame, str):
            return self._write_now(frame)
        if len(self._frames) >= self._max_queue:
            self.close(f"too slow: {self._max_queue} frames waiting to be sent", force=True)
            return False
        self._frames.append(frame)
        if not self._wake.is_set():  # the writer clears it before it looks (_next_frames)
            self._wake.set()
        return True

    def _write_now(self, frame: str) -> bool:
        """Write ``frame`` without blocking, from the sender's greenlet: a
        fan-out to 10,000 idle devices is then 10,000 writes in one loop, and
        an action's answer one write, with no switch to (and back from) the
        writer.  What the socket does not take at once goes to the writer,
        ahead of anything sent later."""
        wire = frame.wire if isinstance(frame, SharedFrame) else text_frame(frame)
        try:
            if not self.ws.connected:
                raise ConnectionError("the websocket is closed")
            written = self.ws.sock.try_send(wire)
        except Exception as e:  # the peer went away
            self.close(f"send failed: {type(e).__name__}: {e}", force=True)
            return False
        if not written:  # another write (a pong, say) is under way: queue it
            self._frames.append(frame)
        elif self.ws.sock.tail:  # the writer writes the rest, before anything later
            self._frames.append(_FLUSH)
        else:
            return True
        self._wake.set()
        return True

    def keepalive(self) -> bool:
        """Ping the peer (a websocket ping; a device connection's, not a
        coalescing link's); drop it if it did not answer the last ping.
        False if dropped or closed."""
        if self._finishing or self.closed.is_set():
            return False
        if not getattr(self.ws, "pong_received", True):
            self.close("no answer (pong) to the last websocket ping", force=True)
            return False
        self.ws.pong_received = False
        return self.send(PING_FRAME)

    def finish(self, reason: str | None = None, code: int = GOING_AWAY) -> None:
        """Send what is queued (an error reply, say), then close with ``code``."""
        if self._finishing or self.closed.is_set():
            return
        self._finishing, self._close_code = True, code
        if reason:
            self.close_reason = reason
            log.warning("Closing %s: %s", self.name, reason)
        self._frames.append(_CLOSE)
        self._wake.set()

    def close(self, reason: str | None = None, force: bool = False,
              code: int = GOING_AWAY) -> None:
        """Stop sending and close the websocket, without ever blocking the
        caller; ``force`` cuts the socket first (a peer that stopped reading
        would block even the closing handshake).  Safe from any thread."""
        if self.closed.is_set():
            return
        self.close_reason = reason or self.close_reason
        self._close_code = code
        self.closed.set()
        if reason:
            log.warning("Dropped %s: %s", self.name, reason)
        self._wake.set()  # the writer stops waiting for frames
        if force:
            try:
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):
                pass
        threading.Thread(target=self._close_socket, name=f"close {self.name}",
                         daemon=True).start()

    def _close_socket(self) -> None:
        try:
            self.ws.close(reason=self._close_code)
        except Exception:  # already closing or broken: nothing left to close
            pass

    def _write(self) -> None:
        while True:
            frames = self._next_frames()
            if frames is None:  # closed
                return
            closing = bool(frames) and frames[-1] is _CLOSE
            if closing:
                frames.pop()
            if frames:
                self._writing = True
                try:
                    self._send(frames[0] if len(frames) == 1 else "\n".join(frames))
                except Exception as e:  # the peer went away mid-send
                    self.close(f"send failed: {type(e).__name__}: {e}", force=True)
                    return
                finally:
                    self._writing = False
            if closing:  # the close frame is out before anyone sees this closed
                self._close_socket()
                self.close(code=self._close_code)
                return

    def _send(self, message: str | bytes) -> None:
        raw = message if isinstance(message, _Raw) else (
            message.wire if isinstance(message, SharedFrame) and self._shared_ok else None)
        if raw is None:
            self.ws.send(message)
            return
        if not self.ws.connected:
            raise ConnectionError("the websocket is closed")
        self.ws.sock.sendall(raw)

    def _next_frames(self) -> list | None:
        """The next frame (with ``coalesce``, those waiting behind it too), or
        None once the connection is closed."""
        while not self._frames:
            if self.closed.is_set():
                return None
            self._wake.clear()
            if not self._frames and not self.closed.is_set():
                self._wake.wait()
        if self.closed.is_set():
            return None
        frames = [self._frames.popleft()]
        size = _utf8_length(frames[0])
        while self._coalesce and frames[-1] is not _CLOSE and size < COALESCE_BYTES \
                and self._frames:
            joined = size + 1 + _utf8_length(self._frames[0])
            if joined > self._max_message_bytes:
                break  # it goes in the next message
            frames.append(self._frames.popleft())
            size = joined
        return frames


def _utf8_length(frame: Any) -> int:
    if frame is _CLOSE:
        return 0
    return len(frame) if not isinstance(frame, str) or frame.isascii() else len(frame.encode())
