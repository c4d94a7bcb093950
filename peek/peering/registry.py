"""The server's list of connected client and agent services."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class Peer:
    service: str
    name: str
    version: str
    address: str
    #: The peer's plugins and their states, as it reported them.
    plugins: list[dict[str, Any]] = field(default_factory=list)
    #: The RPCs it serves.
    rpcs: list[str] = field(default_factory=list)
    #: Its link (a vortex Connection), for frames the server sends it.
    link: Any = field(default=None, repr=False, compare=False)
    #: Set when the server stops: the peer's handler closes its own websocket.
    closing: threading.Event = field(default_factory=threading.Event, repr=False,
                                     compare=False)
    connected_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "name": self.name, "version": self.version,
                "address": self.address,
                "plugins": {p["name"]: p["state"] for p in self.plugins},
                "connected_at": self.connected_at.isoformat(),
                "connected_s": round(time.monotonic() - self.started, 1)}


class PeerRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peers: list[Peer] = []

    def add(self, peer: Peer) -> Peer:
        with self._lock:
            self._peers.append(peer)
        return peer

    def remove(self, peer: Peer) -> None:
        with self._lock:
            if peer in self._peers:
                self._peers.remove(peer)

    def close_all(self, timeout: float = 5) -> None:
        """Ask every peer's handler to close its link (the server is stopping)
        and wait for them; the peers reconnect to the next server."""
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            peer.closing.set()
        deadline = time.monotonic() + timeout
        while self._peers and time.monotonic() < deadline:
            time.sleep(0.05)

    def all(self) -> list[Peer]:
        with self._lock:
            return list(self._peers)

    def by_service(self, service: str) -> list[Peer]:
        with self._lock:
            return [p for p in self._peers if p.service == service]
