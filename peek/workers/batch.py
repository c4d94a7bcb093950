"""Batch jobs: many small items processed in blocks on the workers.

A job splits its items into blocks, keeps a window of blocks in flight (so a
block's timeout counts from when it was sent, not from when the job began),
and records each block's results in the items' order.  The Workers page shows
every recent job's progress.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Hashable

from peek.workers.errors import BatchFailed
from peek.workers.runner import pack

if TYPE_CHECKING:
    from peek.workers.pool import Task, WorkerPool

#: Blocks in flight per worker thread of the cluster (at least ``MIN_WINDOW``).
WINDOW_PER_THREAD = 8
MIN_WINDOW = 16


def split(items: list[Any], chunk_size: int,
          key: Callable[[Any], Hashable] | None) -> list[tuple[Hashable | None, list[int]]]:
    """Blocks as (key, item indices): in order, or grouped by key."""
    if key is None:
        return [(None, list(range(i, min(i + chunk_size, len(items)))))
                for i in range(0, len(items), chunk_size)]
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    return [(k, indices[i:i + chunk_size]) for k, indices in groups.items()
            for i in range(0, len(indices), chunk_size)]


class BatchJob:
    """One batch submitted by a plugin: progress while it runs, results at the end."""

    def __init__(self, pool: "WorkerPool", owner: str, ref: str, items: list[Any], *,
                 chunk_size: int, key: Callable[[Any], Hashable] | None, retries: int,
                 timeout: float | None, priority: int, title: str | None):
        self.pool, self.owner, self.ref = pool, owner, ref
        self.title = title or ref.replace(":", ".")
        self.total = len(items)
        self.done = 0
        self.failed = 0
        self.errors: list[tuple[int, BaseException]] = []
        self.started = time.time()
        self.ended: float | None = None
        self._items = items
        self._options = dict(retries=retries, timeout=timeout, priority=priority)
        self._blocks = split(items, chunk_size, key)
        self._pending = deque(range(len(self._blocks)))
        self._results: list[Any] = [None] * len(items)
        self._in_flight = 0
        self._lock = threading.Lock()
        self._finished = threading.Event()

    @property
    def blocks(self) -> int:
        return len(self._blocks)

    @property
    def progress(self) -> float:
        """Share of items processed (done or failed), 0.0 to 1.0."""
        return (self.done + self.failed) / self.total if self.total else 1.0

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "plugin": self.owner, "total": self.total,
                "done": self.done, "failed": self.failed, "blocks": self.blocks,
                "progress": round(self.progress, 4), "finished": self.finished,
                "seconds": round((self.ended or time.time()) - self.started, 1)}

    def start(self) -> None:
        self.pool.add_job(self)
        if not self._blocks:
            self._end()
            return
        window = max(MIN_WINDOW, WINDOW_PER_THREAD * self.pool.connector.total_threads())
        self._send_more(window)

    def _send_more(self, room: int) -> None:
        from peek.workers.pool import Task

        tasks = []
        with self._lock:
            while self._pending and room > 0:
                index = self._pending.popleft()
                chunk, indices = self._blocks[index]
                block = [self._items[i] for i in indices]
                task = Task(self.owner, self.ref, pack((block,), {}), chunk=chunk,
                            on_done=self._block_done, tag=index, **self._options)
                tasks.append(task)
                self._in_flight += 1
                room -= 1
        for task in tasks:
            self.pool.submit(task)

    def _block_done(self, task: "Task") -> None:
        index = task.tag
        _, indices = self._blocks[index]
        error = task.future.exception()
        if error is None:
            results = task.future.result()
            if results is not None and (not isinstance(results, (list, tuple))
                                        or len(results) != len(indices)):
                error = TypeError(f"{self.title} returned {type(results).__name__} for a "
                                  f"block of {len(indices)} items; it must return a list "
                                  "with one result per item, or None")
        with self._lock:
            if error is None:
                if results is not None:
                    for i, result in zip(indices, results):
                        self._results[i] = result
                self.done += len(indices)
            else:
                self.failed += len(indices)
                self.errors.append((index, error))
            self._in_flight -= 1
            ended = not self._pending and self._in_flight == 0
        if ended:
            self._end()
        else:
            self._send_more(1)

    def _end(self) -> None:
        self.ended = time.time()
        self._items = []
        self._finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def result(self, timeout: float | None = None) -> list[Any]:
        """Each item's result in the items' order; raises :class:`BatchFailed`
        if a block failed, or TimeoutError if the job is still running."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"{self.title}: {self.done + self.failed} of {self.total} "
                               f"items processed after {timeout} s")
        if self.errors:
            index, first = sorted(self.errors, key=lambda e: e[0])[0]
            error = BatchFailed(f"{self.title}: {len(self.errors)} of {self.blocks} blocks "
                                f"failed ({self.failed} items); block {index}: "
                                f"{type(first).__name__}: {first}", self.errors)
            raise error from first
        return self._results
