"""Handling only the latest of a stream of frames, off the sender's path.

A live element's renderer and a plugin's watcher get every frame the
observable proxy fans out to them, and do slow work with each (render a
template, call a plugin).  They take the frame at once and handle it on the
vortex executor; frames that arrive meanwhile fold into one more call with
the newest, and calls run one at a time, so a handler never sees older data
after newer.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from typing import Callable


class LatestOnly:
    def __init__(self, executor: Executor, handle: Callable[[str], None]):
        self._executor = executor
        self._handle = handle
        self._latest: str | None = None
        self._queued = False
        self._lock = threading.Lock()
        self._handling = threading.Lock()  # one call at a time, in order

    def send(self, frame: str) -> bool:
        """Take ``frame``; it (or a newer one) is handled soon."""
        with self._lock:
            self._latest = frame
            if self._queued:
                return True  # the queued call takes the latest frame
            self._queued = True
        self._executor.submit(self._run)
        return True

    def _run(self) -> None:
        with self._handling:
            with self._lock:
                frame, self._queued = self._latest, False
            self._handle(frame)
