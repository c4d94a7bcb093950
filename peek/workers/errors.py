"""What a worker task's future can fail with, besides the task's own exception."""

from __future__ import annotations


class WorkerError(Exception):
    """Base class of the platform's worker errors."""


class WorkersUnavailable(WorkerError):
    """The Dask scheduler is not reachable (not started yet, gone, reconnecting)."""


class TaskTimeout(WorkerError, TimeoutError):
    """A task had no result within its ``timeout``."""


class TaskKilledWorker(WorkerError):
    """A task's worker process died each time it ran it, as many times as allowed."""


class TaskCancelled(WorkerError):
    """A task was cancelled before it finished (by the plugin or the platform)."""


class BatchFailed(WorkerError):
    """Some blocks of a batch job failed; ``errors`` holds (block, exception) pairs
    and the first exception is the ``__cause__``."""

    def __init__(self, message: str, errors: list[tuple[int, BaseException]]):
        super().__init__(message)
        self.errors = errors
