"""A plugin on a client or agent service watching a server observable.

The watcher subscribes through the service's observable proxy like a
device, so it shares the upstream subscription and its cache, and gets the
current data again after every reconnect.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any, Callable

from peek.vortex import frames, tuples
from peek.vortex.latest import LatestOnly
from peek.vortex.selector import TupleSelector

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, owner: str, selector: TupleSelector,
                 callback: Callable[[list[Any]], Any], executor: Executor):
        self.owner = owner
        self.name = f"{owner} watching {selector.key.decode()}"
        self.selector = selector
        self._callback = callback
        self._frames = LatestOnly(executor, self._handle)

    def send(self, frame: str) -> bool:
        """A frame from the proxy: handled off the fan-out path, latest first."""
        return self._frames.send(frame)

    def _handle(self, frame: str) -> None:
        message = frames.parse(frame)
        if message.type != "data":
            log.warning("%s: %s", self.name, message.error)
            return
        try:
            self._callback(tuples.decode(message.tuples or b"[]"))
        except Exception:  # the plugin's callback; the next update calls it again
            log.exception("%s: the callback failed", self.name)
