"""Lanes: work of one key handled in batches, one batch at a time unless one runs long.

The server applies each plugin's actions in a lane of their own.  Normally a
lane runs one batch at a time: whatever waits when a batch ends is the next
batch, so under load one transaction (one commit) covers many actions, and a
plugin's own batches never deadlock each other.  A batch that runs longer
than ``spill_after_s`` (a processor waiting on an agent, say) does not hold
up the rest: another batch starts beside it, up to ``max_parallel`` at once.

Items with the same ``order`` (one device's actions) are handled in the
order they were put, never in two batches at once.  A slow plugin holds up
only its own lane, and lanes borrow threads from a shared executor only while
they have work, so hundreds of plugins cost no threads of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Executor
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)


class _Lane:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: deque[tuple[Hashable, Any]] = deque()  # (order, item)
        self.drainers = 0
        #: When each batch now running began, by a token of its own.
        self.running: dict[object, float] = {}
        #: The orders that a running batch holds.
        self.busy: set[Hashable] = set()

    def stuck(self, now: float, spill_after_s: float) -> bool:
        """Every drainer is inside a batch that has run too long."""
        return (self.drainers == len(self.running)
                and all(now - began > spill_after_s for began in self.running.values()))


class Lanes:
    def __init__(self, executor: Executor, handle: Callable[[Hashable, list[Any]], None],
                 max_batch: int, max_parallel: int = 4, spill_after_s: float = 0.2):
        self._executor = executor
        self._handle = handle
        self._max_batch = max_batch
        self._max_parallel = max_parallel
        self._spill_after_s = spill_after_s
        self._lanes: dict[Hashable, _Lane] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    def put(self, key: Hashable, item: Any, order: Hashable) -> None:
        """Queue ``item`` in ``key``'s lane, after the items of its ``order``
        already there; it is handled in a batch with whatever waits beside it.
        (A batch beside a long one is started by the lanes' watch.)"""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lane(key)
        with lane.lock:
            lane.waiting.append((order, item))
            start = lane.drainers == 0
            if start:
                lane.drainers = 1
        if start:
            self._start(key, lane)

    def stop(self) -> None:
        self._stop.set()

    def _lane(self, key: Hashable) -> _Lane:
        with self._lock:
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="lanes-watchdog",
                                                  daemon=True)
                self._watchdog.start()
            return self._lanes.setdefault(key, _Lane())

    def _should_start(self, lane: _Lane, now: float) -> bool:
        """Whether another drainer should start beside long batches (under
        the lane's lock; counts it)."""
        if not (lane.waiting and lane.drainers < self._max_parallel
                and lane.stuck(now, self._spill_after_s)):
            return False
        lane.drainers += 1
        return True

    def _start(self, key: Hashable, lane: _Lane) -> None:
        try:
            self._executor.submit(self._drain, key, lane)
        except RuntimeError:  # the executor shut down: the service is stopping
            with lane.lock:
                lane.drainers -= 1

    def _take(self, lane: _Lane) -> tuple[list[Any], set[Hashable]]:
        """The next batch and its orders (under the lane's lock): the waiting
        items in the order they came, but for those of an order a running
        batch holds, which stay, with everything of their order behind them.
        It looks at no more than a few batches' worth of items, however many
        wait."""
        batch: list[Any] = []
        orders: set[Hashable] = set()
        waiting, busy = lane.waiting, lane.busy
        kept: list[tuple[Hashable, Any]] = []
        looked = 0
        while waiting and len(batch) < self._max_batch and looked < 4 * self._max_batch:
            order, item = entry = waiting.popleft()
            looked += 1
            if order in busy:
                kept.append(entry)
            else:
                batch.append(item)
                orders.add(order)
        waiting.extendleft(reversed(kept))
        return batch, orders

    def _drain(self, key: Hashable, lane: _Lane) -> None:
        while True:
            with lane.lock:
                batch, orders = self._take(lane)
                if not batch:
                    lane.drainers -= 1
                    return
                token = object()
                lane.running[token] = time.monotonic()
                lane.busy |= orders
            try:
                self._handle(key, batch)
            except Exception:  # the handler answers its own failures; keep going
                log.exception("Lane %s failed on a batch of %d", key, len(batch))
            finally:
                with lane.lock:
                    del lane.running[token]
                    lane.busy -= orders

    def _watch(self) -> None:
        """Start a drainer beside batches that run long, when items wait."""
        while not self._stop.wait(self._spill_after_s / 2):
            now = time.monotonic()
            for key, lane in list(self._lanes.items()):
                with lane.lock:
                    start = lane.drainers > 0 and self._should_start(lane, now)
                if start:
                    self._start(key, lane)
