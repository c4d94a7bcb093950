"""The server's side of plugin tasks: submit to Dask, collect, hold back, time out.

Plugins reach it through ``platform.workers`` (:class:`PluginWorkers`).  Every
task gets a :class:`concurrent.futures.Future` that ends with the task's result,
its exception (with the worker's traceback), or one of :mod:`peek.workers.errors`.
Nothing here blocks the caller: submissions go to the Dask client's own event
loop, which also gathers finished results, many per request; one thread then
settles the futures.

Tasks submitted with the same ``chunk`` never run at once: a task whose chunk is
in progress waits here, on the server, until the one before it has finished.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable

from peek.workers.errors import (TaskCancelled, TaskKilledWorker, TaskTimeout, WorkerError,
                                 WorkersUnavailable)
from peek.workers.runner import function_ref, pack, run_task, unpack

if TYPE_CHECKING:
    from peek.workers.batch import BatchJob
    from peek.workers.cluster import DaskConnector

log = logging.getLogger(__name__)

#: Finished tasks gathered from the workers in one request, at most.
GATHER_BATCH = 2000
#: Batch jobs kept for the Workers page after they finish.
KEEP_JOBS = 20


@dataclass(eq=False)
class Task:
    owner: str
    ref: str
    payload: bytes
    retries: int = 0
    priority: int = 0
    timeout: float | None = None
    chunk: Hashable | None = None
    on_done: Callable[["Task"], None] | None = None
    tag: Any = None
    future: Future = field(default_factory=Future)
    dask: Any = None

    @property
    def name(self) -> str:
        return self.ref.replace(":", ".")


@dataclass
class Counts:
    submitted: int = 0
    held: int = 0
    finished: int = 0
    failed: int = 0


class _Deadlines:
    """One thread that fails tasks still running at their deadline."""

    def __init__(self, expire: Callable[[Task], None]):
        self._expire = expire
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="peek-task-deadlines",
                                        daemon=True)
        self._thread.start()

    def add(self, task: Task) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + task.timeout, next(self._seq), task))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._heap
                                              or self._heap[0][0] > time.monotonic()):
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopping:
                    return
                _, _, task = heapq.heappop(self._heap)
            if not task.future.done():
                self._expire(task)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=5)


class WorkerPool:
    """Submits plugin tasks to the Dask cluster the server is connected to."""

    def __init__(self, connector: "DaskConnector"):
        self.connector = connector
        self.counts = Counts()
        self.jobs: deque["BatchJob"] = deque(maxlen=KEEP_JOBS)
        self._lock = threading.Lock()
        self._chunks: dict[tuple[str, Hashable], deque[Task]] = {}
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: list[Task] = []
        self._gathering = False
        self._trackers: set[asyncio.Future] = set()
        self._deadlines = _Deadlines(self._time_out)
        self._collector = threading.Thread(target=self._collect, name="peek-task-collector",
                                           daemon=True)
        self._collector.start()

    # -- submitting ----------------------------------------------------------------------
    def submit(self, task: Task) -> Future:
        """Send ``task`` to the cluster now, or hold it while its chunk is busy."""
        self._watch_cancel([task])
        with self._lock:
            self.counts.submitted += 1
            if task.chunk is not None:
                key = (task.owner, task.chunk)
                waiting = self._chunks.get(key)
                if waiting is not None:
                    waiting.append(task)
                    self.counts.held += 1
                    return task.future
                self._chunks[key] = deque()
        self._send([task])
        return task.future

    def submit_many(self, tasks: list[Task]) -> list[Future]:
        """Send tasks with the same function and options in one message (no chunks)."""
        self._watch_cancel(tasks)
        with self._lock:
            self.counts.submitted += len(tasks)
        self._send(tasks)
        return [t.future for t in tasks]

    def _watch_cancel(self, tasks: list[Task]) -> None:
        for task in tasks:
            task.future.add_done_callback(lambda f, t=task: self._cancelled_by_caller(f, t))

    def _send(self, tasks: list[Task]) -> None:
        for task in tasks:
            if task.future.cancelled():  # by the plugin while it waited for its chunk
                self._release(task)
        tasks = [t for t in tasks if not t.future.cancelled()]
        if not tasks:
            return
        client = self._client_or_fail(tasks)
        if client is None:
            return
        first = tasks[0]
        try:
            if len(tasks) == 1:
                futures = [client.submit(run_task, first.owner, first.ref, first.payload,
                                         pure=False, retries=first.retries,
                                         priority=first.priority)]
            else:
                futures = client.map(run_task, [t.owner for t in tasks],
                                     [t.ref for t in tasks], [t.payload for t in tasks],
                                     pure=False, retries=first.retries,
                                     priority=first.priority)
        except Exception as e:  # the client closed under us: say so on every task
            for task in tasks:
                self._finish(task, error=self._unavailable(f"{type(e).__name__}: {e}"))
            return
        for task, dask_future in zip(tasks, futures):
            task.dask = dask_future
            if task.timeout is not None:
                self._deadlines.add(task)
        client.loop.add_callback(self._track_all, tasks)

    def _client_or_fail(self, tasks: list[Task]) -> Any:
        client = self.connector.client
        if self.connector.state == "connected" and client is not None \
                and client.status == "running":
            return client
        error = self._unavailable(self.connector.state)
        for task in tasks:
            self._finish(task, error=error)
        return None

    def _unavailable(self, why: str) -> WorkersUnavailable:
        where = self.connector.address or "the embedded LocalCluster"
        return WorkersUnavailable(f"the Dask scheduler ({where}) is not reachable: {why}; "
                                  "the server reconnects when it is back")

    # -- finishing -----------------------------------------------------------------------
    # On the Dask client's event loop: wait for each task, and gather the results
    # of those finished meanwhile in one request while the previous one runs.
    async def _track_all(self, tasks: list[Task]) -> None:
        for task in tasks:
            tracker = asyncio.ensure_future(self._track(task))
            self._trackers.add(tracker)
            tracker.add_done_callback(self._trackers.discard)

    async def _track(self, task: Task) -> None:
        dask_future = task.dask
        if dask_future is None:  # timed out already
            return
        await dask_future._state.wait()  # what distributed's own as_completed awaits
        if dask_future.status != "finished":
            self._done.put(task)
            return
        self._ready.append(task)
        if not self._gathering:
            self._gathering = True
            try:
                await self._gather_ready(dask_future.client)
            finally:
                self._gathering = False

    async def _gather_ready(self, client: Any) -> None:
        while self._ready:
            batch, self._ready = self._ready[:GATHER_BATCH], self._ready[GATHER_BATCH:]
            batch = [t for t in batch if t.dask is not None]
            try:
                results = await client._gather([t.dask for t in batch])
            except Exception:  # a result lost (worker gone): settle them one by one
                for task in batch:
                    self._done.put(task)
                continue
            self._done.put((batch, results))

    def _collect(self) -> None:
        """Settle futures off the event loop (their callbacks are the plugin's)."""
        while True:
            item = self._done.get()
            if item is None:
                return
            try:
                if isinstance(item, tuple):
                    for task, result in zip(*item):
                        self._finish_with(task, result)
                else:
                    self._settle(item)
            except Exception:  # never lose the collector: log, go on
                log.exception("Settling a task's result failed")

    def _settle(self, task: Task) -> None:
        """A task that failed, was cancelled, or whose result must be fetched alone."""
        if task.future.done() or task.dask is None:
            self._release(task)
        elif task.dask.status == "finished":
            try:
                result = task.dask.result()
            except Exception as e:
                self._finish(task, error=self._translate(task, e))
            else:
                self._finish_with(task, result)
        else:
            self._finish(task, error=self._failure(task))

    def _finish_with(self, task: Task, result: bytes) -> None:
        try:
            value = unpack(result)
        except Exception as e:  # e.g. a class the server cannot import
            self._finish(task, error=WorkerError(f"{task.name}: its result cannot be "
                                                 f"unpickled on the server: {e}"))
        else:
            self._finish(task, result=value)

    def _failure(self, task: Task) -> BaseException:
        dask_future = task.dask
        if dask_future.status == "error":
            exception = dask_future.exception()
            return self._translate(task, exception.with_traceback(dask_future.traceback()))
        if dask_future.client.status != "running" or not self.connector.connected:
            return self._unavailable(f"the connection was lost while {task.name} ran")
        try:
            why = str(dask_future.exception(timeout=5))
        except Exception as e:  # a cancelled future raises its reason
            why = str(e)
        return TaskCancelled(f"{task.name} was cancelled: {why}")

    def _translate(self, task: Task, error: BaseException) -> BaseException:
        from distributed.scheduler import KilledWorker

        if isinstance(error, KilledWorker):
            return TaskKilledWorker(f"{task.name}: the worker process running it died each "
                                    f"time, as many times as the scheduler allows ({error})")
        return error

    def _time_out(self, task: Task) -> None:
        error = TaskTimeout(f"{task.name} had no result within {task.timeout:g} s")
        dask_future = task.dask
        # Settled before cancelling: else the cancel, seen on the event loop, can
        # settle it first as cancelled.
        self._finish(task, error=error)
        if dask_future is not None:
            try:
                dask_future.cancel()
            except Exception as e:  # cancelling is best effort
                log.debug("Cancelling %s: %s", task.name, e)

    def _cancelled_by_caller(self, future: Future, task: Task) -> None:
        if not future.cancelled():
            return
        with self._lock:
            self.counts.failed += 1
        if task.dask is not None:
            task.dask.cancel()

    def _finish(self, task: Task, result: Any = None,
                error: BaseException | None = None) -> None:
        """Settle a task's future (once) and let its chunk's next task go."""
        settled = False
        try:
            if error is None:
                task.future.set_result(result)
            else:
                task.future.set_exception(error)
            settled = True
        except InvalidStateError:  # timed out or cancelled first
            pass
        if settled:
            with self._lock:
                if error is None:
                    self.counts.finished += 1
                else:
                    self.counts.failed += 1
            if error is not None and not isinstance(error, WorkersUnavailable):
                log.warning("Task %s of %s failed: %s: %s", task.name, task.owner,
                            type(error).__name__, error)
        self._release(task)
        if settled and task.on_done is not None:
            task.on_done(task)

    def _release(self, task: Task) -> None:
        task.dask = None
        if task.chunk is None:
            return
        with self._lock:
            key = (task.owner, task.chunk)
            waiting = self._chunks.get(key)
            if waiting is None:
                return
            task.chunk = None  # released once
            if not waiting:
                del self._chunks[key]
                return
            following = waiting.popleft()
            self.counts.held -= 1
        self._send([following])

    # -- reporting and stopping --------------------------------------------------------------
    def add_job(self, job: "BatchJob") -> None:
        self.jobs.appendleft(job)

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = self.counts
            in_flight = counts.submitted - counts.finished - counts.failed - counts.held
            return {"submitted": counts.submitted, "waiting_for_chunk": counts.held,
                    "in_flight": in_flight, "finished": counts.finished,
                    "failed": counts.failed}

    def close(self) -> None:
        self._deadlines.stop()
        self._done.put(None)
        self._collector.join(timeout=10)
        with self._lock:
            held = [t for waiting in self._chunks.values() for t in waiting]
            self._chunks.clear()
        for task in held:
            self._finish(task, error=WorkersUnavailable("the server is stopping"))


class PluginWorkers:
    """``platform.workers`` on the server: a plugin's tasks on the Dask workers.

    Task functions are plain functions defined at module level in the plugin's
    own package (by convention ``<plugin>/_private/worker/tasks.py``).
    """

    def __init__(self, pool: WorkerPool, plugin_name: str, module: str):
        self._pool = pool
        self.plugin_name = plugin_name
        self._module = module

    def _ref(self, function: Callable[..., Any]) -> str:
        ref = function_ref(function)
        module = ref.split(":")[0]
        if module != self._module and not module.startswith(self._module + "."):
            raise ValueError(f"{self.plugin_name} can only submit functions of its own "
                             f"package as worker tasks, not {ref.replace(':', '.')}")
        return ref

    def submit(self, function: Callable[..., Any], /, *args: Any, retries: int = 0,
               timeout: float | None = None, priority: int = 0,
               chunk: Hashable | None = None, **kwargs: Any) -> Future:
        """Run ``function(*args, **kwargs)`` on a worker; returns its future.

        ``retries``: reruns after the task raises.  ``timeout``: seconds from
        submission to result, else :class:`TaskTimeout`.  ``priority``: higher
        runs first.  ``chunk``: tasks with the same chunk never run at once.
        """
        _check_options(retries, timeout)
        task = Task(self.plugin_name, self._ref(function), pack(args, kwargs), retries,
                    priority, timeout, chunk)
        return self._pool.submit(task)

    def map(self, function: Callable[..., Any], *iterables: Iterable[Any], retries: int = 0,
            timeout: float | None = None, priority: int = 0) -> list[Future]:
        """``function`` over the items of ``iterables`` (zipped), one task each,
        sent to the cluster in one message; returns the futures in order."""
        _check_options(retries, timeout)
        ref = self._ref(function)
        tasks = [Task(self.plugin_name, ref, pack(args, {}), retries, priority, timeout)
                 for args in zip(*iterables)]
        return self._pool.submit_many(tasks) if tasks else []

    def batch(self, function: Callable[[list[Any]], Any], items: Iterable[Any], *,
              chunk_size: int = 100, key: Callable[[Any], Hashable] | None = None,
              retries: int = 0, timeout: float | None = None, priority: int = 0,
              title: str | None = None) -> "BatchJob":
        """Process ``items`` in blocks of ``chunk_size``: ``function(block)`` runs
        on a worker and returns one result per item (or None).  With ``key``,
        each block holds items of one key and blocks of the same key never run
        at once.  Returns the :class:`BatchJob` (progress, ``result()``)."""
        from peek.workers.batch import BatchJob

        _check_options(retries, timeout)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        job = BatchJob(self._pool, self.plugin_name, self._ref(function), list(items),
                       chunk_size=chunk_size, key=key, retries=retries, timeout=timeout,
                       priority=priority, title=title)
        job.start()
        return job


def _check_options(retries: int, timeout: float | None) -> None:
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
