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
        # A lane's deque stays once made (there is one per plugin and lane
        # number): appending and taking from it need no lock, only claiming
        # the lane (who drains it) does.
        self._waiting: dict[Hashable, deque] = {}
        self._running: set[Hashable] = set()
        self._lock = threading.Lock()

    def put(self, key: Hashable, item: Any) -> None:
        """Queue ``item`` in ``key``'s lane; it is handled after everything
        queued there before it, in a batch with whatever waits beside it."""
        items = self._waiting.get(key)
        if items is None:
            with self._lock:
                items = self._waiting.setdefault(key, deque())
        items.append(item)
        # A lane being drained sees the item; one that stopped after its last
        # look sees it in the look it takes after stopping (see _drain).
        if key not in self._running and self._claim(key):
            self._executor.submit(self._drain, key)

    def _claim(self, key: Hashable) -> bool:
        """Become the lane's one drainer, unless it has one; True if so."""
        with self._lock:
            if key in self._running:
                return False
            self._running.add(key)
        return True

    def _drain(self, key: Hashable) -> None:
        items = self._waiting[key]
        while True:
            while items:  # only the lane's drainer takes from it
                batch = [items.popleft() for _ in range(min(len(items), self._max_batch))]
                try:
                    self._handle(key, batch)
                except Exception:  # the handler answers its own failures; keep going
                    log.exception("Lane %s failed on a batch of %d", key, len(batch))
            with self._lock:
                self._running.discard(key)
            # An item put between the last look and now may have seen the lane
            # still running: take it on, unless its put claimed the lane.
            if not items or not self._claim(key):
                return
