"""The client service's observable proxy: one upstream subscription per
selector, whatever the number of devices watching it; the latest data
cached and fanned out; the upstream subscription dropped a while after
the last device leaves; everything resubscribed after a reconnect, so every
device gets the current data again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from peek.vortex.connection import Connection, SharedFrame
from peek.vortex.frames import frame as make_frame
from peek.vortex.observable import Subscriber
from peek.vortex.selector import TupleSelector

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Cached:
    selector: TupleSelector
    subscribers: set[Subscriber] = field(default_factory=set)
    frame: str | None = None
    subscribed_upstream: bool = False
    idle_since: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _fan_out(subscribers: set[Subscriber], frame: str) -> None:
    """The same frame to every subscriber: websockets get it as a
    :class:`SharedFrame`, framed once for all of them; others (a REST
    request, a live element's renderer) as plain text."""
    shared = SharedFrame(frame)
    for subscriber in subscribers:
        subscriber.send(shared if type(subscriber) is Connection else frame)


class ObservableProxy:
    def __init__(self, send_upstream: Callable[[str], bool], idle_s: float):
        self._send_upstream = send_upstream
        self.idle_s = idle_s
        self.connected = False
        self._cache: dict[bytes, _Cached] = {}
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber, selector: TupleSelector) -> None:
        with self._lock:
            cached = self._cache.get(selector.key)
            if cached is None:
                cached = self._cache[selector.key] = _Cached(selector)
            cached.idle_since = None
            subscribe_upstream = self.connected and not cached.subscribed_upstream
            cached.subscribed_upstream |= subscribe_upstream
        with cached.lock:  # never overtakes a newer frame being fanned out
            cached.subscribers.add(subscriber)
            if cached.frame is not None:
                subscriber.send(cached.frame)
        if subscribe_upstream:
            self._send_upstream(make_frame("subscribe", selector=selector))

    def unsubscribe(self, subscriber: Subscriber, selector: TupleSelector) -> None:
        cached = self._cache.get(selector.key)
        if cached is not None:
            self._leave(cached, subscriber)

    def drop(self, subscriber: Subscriber) -> None:
        for cached in list(self._cache.values()):
            if subscriber in cached.subscribers:
                self._leave(cached, subscriber)

    def _leave(self, cached: _Cached, subscriber: Subscriber) -> None:
        with cached.lock:
            cached.subscribers.discard(subscriber)
            if not cached.subscribers:
                cached.idle_since = time.monotonic()

    # -- from upstream ------------------------------------------------------------------
    def on_data(self, selector: TupleSelector, frame: str) -> None:
        cached = self._cache.get(selector.key)
        if cached is None:
            return  # dropped meanwhile
        with cached.lock:
            cached.frame = frame
            _fan_out(cached.subscribers, frame)

    def on_error(self, selector: TupleSelector, frame: str) -> None:
        cached = self._cache.get(selector.key)
        if cached is not None:
            with cached.lock:
                _fan_out(cached.subscribers, frame)

    def on_connected(self) -> None:
        """Subscribe every selector again: the server answers each with its
        current data, which goes to every device."""
        with self._lock:
            self.connected = True
            selectors = list(self._cache.values())
            for cached in selectors:
                cached.subscribed_upstream = True
        for cached in selectors:
            self._send_upstream(make_frame("subscribe", selector=cached.selector))

    def on_lost(self) -> None:
        with self._lock:
            self.connected = False
            for cached in self._cache.values():
                cached.subscribed_upstream = False

    # -- housekeeping -------------------------------------------------------------------
    def drop_idle(self, now: float | None = None) -> int:
        """Drop the upstream subscriptions nobody has watched for ``idle_s``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [c for c in self._cache.values()
                    if c.idle_since is not None and now - c.idle_since >= self.idle_s
                    and not c.subscribers]
            for cached in idle:
                del self._cache[cached.selector.key]
        for cached in idle:
            if cached.subscribed_upstream and self.connected:
                self._send_upstream(make_frame("unsubscribe", selector=cached.selector))
            log.debug("Dropped idle subscription %s", cached.selector.key.decode())
        return len(idle)

    def stats(self) -> dict[str, Any]:
        return {"subscriptions": [{"selector": c.selector.key.decode(),
                                   "subscribers": len(c.subscribers),
                                   "cached": c.frame is not None}
                                  for c in list(self._cache.values())]}
