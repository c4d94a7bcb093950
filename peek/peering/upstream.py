"""The client's and agent's link up to the server: hello, heartbeats, reconnects.

Once welcomed, every frame the server sends goes to the service's vortex
(:class:`peek.vortex.peer_vortex.PeerVortex`), and everything the vortex
sends up goes through one bounded :class:`~peek.vortex.connection.Connection`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Callable

import simple_websocket

from peek import __version__
from peek.config import ServiceConfig
from peek.peering import protocol
from peek.peering.backoff import reconnect_delay
from peek.vortex import frames
from peek.vortex.connection import SERVICE_LINK_QUEUE_FACTOR, Connection, split_frames
from peek.vortex.websocket import WebSocketClient, no_delay

log = logging.getLogger(__name__)


class UpstreamLink:
    """Keeps one websocket to the server open for as long as the service runs."""

    def __init__(self, config: ServiceConfig,
                 plugin_states: Callable[[], list[dict[str, Any]]] = list):
        self.config = config
        self.plugin_states = plugin_states
        self.url = (f"ws://{config.get('server.host')}:{config.get('server.port')}"
                    f"{protocol.PATH}")
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.state = "connecting"
        self.last_error: str | None = None
        self.vortex: Any = None  # set by the runtime before start()
        self.connection: Connection | None = None
        self._stop = threading.Event()
        self._ws: simple_websocket.Client | None = None
        self._thread = threading.Thread(target=self._run, name="upstream-link", daemon=True)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ws is not None:
            _close_quietly(self._ws)  # wakes the link thread out of receive()
        self._thread.join(timeout=5)

    def send(self, frame: str) -> bool:
        """Queue a frame to the server; False when not connected."""
        connection = self.connection
        return connection.send(frame) if connection is not None else False

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "state": self.state, "error": self.last_error}

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._session()
                attempt = 0
            except protocol.ProtocolError as e:
                self.last_error = str(e)
                log.error("The server at %s refused this %s service: %s",
                          self.url, self.config.service, e)
                self.state = "refused"
            except (OSError, simple_websocket.ConnectionError,
                    simple_websocket.ConnectionClosed, frames.FrameError) as e:
                self.last_error = str(e) or type(e).__name__
                if self.state == "connected":
                    log.warning("Lost the server at %s: %s", self.url, self.last_error)
                else:
                    log.info("Server at %s not reachable yet: %s", self.url, self.last_error)
                self.state = "connecting"
            finally:
                self._ws = None
            delay = reconnect_delay(attempt)
            attempt += 1
            self._stop.wait(delay)

    def _hello(self, ws: simple_websocket.Client) -> None:
        ws.send(frames.frame("hello", service=self.config.service, name=self.name,
                             version=__version__, secret=self.config.get("server.secret"),
                             plugins=self.plugin_states(),
                             rpcs=self.vortex.rpcs.names() if self.vortex else []))
        try:
            reply = frames.parse(ws.receive(timeout=10))
        except frames.FrameError as e:
            raise protocol.ProtocolError(f"no welcome: {e}") from None
        if reply.type != "welcome":
            raise protocol.ProtocolError(reply.error or f"unexpected {reply.type}")

    def _session(self) -> None:
        self._ws = ws = WebSocketClient.connect(
            self.url, max_message_size=self.config.get("vortex.maxFrameBytes"))
        no_delay(ws.sock)
        connection = None
        try:
            self._hello(ws)
            connection = Connection(ws, "link to the server", SERVICE_LINK_QUEUE_FACTOR
                                    * self.config.get("vortex.sendQueueFrames"), coalesce=True,
                                    max_message_bytes=self.config.get("vortex.maxFrameBytes"))
            self.connection = connection
            self.state, self.last_error = "connected", None
            log.info("Connected to the server at %s", self.url)
            if self.vortex:
                self.vortex.on_connected()
            self._receive(ws, connection)
        finally:
            self.connection = None
            if connection is not None:
                connection.close()
                if self.vortex:
                    self.vortex.on_lost(connection)
            _close_quietly(ws)

    def _receive(self, ws: simple_websocket.Client, connection: Connection) -> None:
        silence_limit = protocol.HEARTBEAT_S * protocol.SILENCE_LIMIT
        last_heard = last_ping = time.monotonic()
        connection.send(frames.frame("ping"))
        while not self._stop.is_set():
            if connection.closed.is_set():
                raise simple_websocket.ConnectionClosed(
                    reason=1001, message=connection.close_reason or "closed")
            raw = ws.receive(timeout=protocol.HEARTBEAT_S / 5)
            now = time.monotonic()
            if raw is not None:
                last_heard = now
                for one in split_frames(raw):
                    self._handle(one)
            elif now - last_heard > silence_limit:
                raise simple_websocket.ConnectionClosed(reason=1001, message="server silent")
            if now - last_ping >= protocol.HEARTBEAT_S:
                connection.send(frames.frame("ping"))
                last_ping = now


    def _handle(self, raw: str) -> None:
        """One frame from the server; one that fails is logged, and the link
        (every device's way to the server) goes on."""
        try:
            message = frames.parse(raw)
            if self.vortex:
                self.vortex.from_upstream(message, raw)
        except frames.FrameError as e:
            log.warning("A frame from the server could not be read: %s", e)
        except Exception:
            log.exception("Handling a frame from the server failed")

def _close_quietly(ws: simple_websocket.Client) -> None:
    """Close from either thread: whichever comes second finds it closing or closed."""
    try:
        ws.close()
    except Exception:  # already closing or broken: nothing left to close
        pass
