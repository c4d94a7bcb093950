"""Serial lanes: work of one key handled in order, in batches, one batch at a time.

The server applies actions in one lane per plugin: a plugin's actions never
run in two transactions at once (no deadlocks between its own batches, no
reordering), while a slow plugin holds up only its own lane.  Lanes borrow
threads from a shared executor only while they have work, so hundreds of
plugins cost no threads of their own.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Executor
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)


class SerialLanes:
    def __init__(self, executor: Executor, handle: Callable[[Hashable, list[Any]], None],
                 max_batch: int):
        self._executor = executor
        self._handle = handle
        self._max_batch = max_batch
        self._waiting: dict[Hashable, deque] = {}
        self._running: set[Hashable] = set()
        self._lock = threading.Lock()

    def put(self, key: Hashable, item: Any) -> None:
        """Queue ``item`` in ``key``'s lane; it is handled after everything
        queued there before it, in a batch with whatever waits beside it."""
        with self._lock:
            self._waiting.setdefault(key, deque()).append(item)
            if key in self._running:
                return
            self._running.add(key)
        self._executor.submit(self._drain, key)

    def _drain(self, key: Hashable) -> None:
        while True:
            with self._lock:
                items = self._waiting.get(key)
                if not items:
                    self._waiting.pop(key, None)
                    self._running.discard(key)
                    return
                batch = [items.popleft() for _ in range(min(len(items), self._max_batch))]
            try:
                self._handle(key, batch)
            except Exception:  # the handler answers its own failures; keep the lane going
                log.exception("Lane %s failed on a batch of %d", key, len(batch))
