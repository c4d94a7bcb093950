"""What the RPC examples did, for the admin status panel (kept in memory)."""

import datetime
import threading
from collections import deque


class StatusLog:
    def __init__(self, size: int = 50):
        self._events: deque[dict] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, kind: str, text: str) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            self._events.append({"at": now, "kind": kind, "text": text})

    def events(self) -> list[dict]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._events))
