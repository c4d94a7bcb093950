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
    connection: Any = field(default=None, repr=False, compare=False)
    connected_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "name": self.name, "version": self.version,
                "address": self.address, "connected_at": self.connected_at.isoformat(),
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

    def close_all(self, reason: str) -> None:
        """Close every peer's websocket (the server is stopping); they reconnect."""
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            try:
                peer.connection.close(reason=1001, message=reason)
            except Exception:  # already broken: nothing left to close
                pass

    def by_service(self, service: str) -> list[Peer]:
        with self._lock:
            return [p for p in self._peers if p.service == service]
