"""The client service's observable proxy: one upstream subscription per
selector, whatever the number of devices watching it; the latest data
cached and fanned out; the upstream subscription dropped a while after
the last device leaves; everything resubscribed after a reconnect, so every
device gets the current data again.

An ``error`` answer (no provider for the type, a provider that failed, a
per-user type without a sign-in) is fanned out like data but is not data:
it is kept for :data:`ERROR_ANSWER_S` to answer the next subscribers at
once, after that a new subscriber's request goes upstream again, and a
selector whose last answer was an error is dropped as soon as nobody
watches it.  The server keeps such a selector subscribed and sends its data
when a provider for the type starts, which reaches every device still
watching it.
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
from peek.vortex.selector import USER_KEY, TupleSelector
from peek.vortex.tuples import is_per_user

log = logging.getLogger(__name__)

#: Seconds an error answer is given again to new subscribers without asking upstream.
ERROR_ANSWER_S = 2.0


@dataclass(eq=False)
class _Cached:
    selector: TupleSelector
    subscribers: set[Subscriber] = field(default_factory=set)
    frame: str | None = None
    error: str | None = None  # the last answer, when it was an error
    error_at: float = 0.0
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


def _subscribe_frame(selector: TupleSelector) -> str:
    """Upstream, a per-user selector names its user twice: in its filter
    (set by :func:`~peek.vortex.selector.for_user`) and in the frame, which
    the server checks; the server refuses a per-user selector without it."""
    user = selector.filter.get(USER_KEY) if is_per_user(selector.name) else None
    return make_frame("subscribe", selector=selector, user=user)


class ObservableProxy:
    def __init__(self, send_upstream: Callable[[str], bool], idle_s: float):
        self._send_upstream = send_upstream
        self.idle_s = idle_s
        self.connected = False
        self._cache: dict[bytes, _Cached] = {}
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber, selector: TupleSelector) -> None:
        # Upstream frames are queued under the lock (sending never blocks), so
        # a subscribe is never overtaken by the unsubscribe of a dropped entry.
        with self._lock:
            cached = self._cache.get(selector.key)
            if cached is None:
                cached = self._cache[selector.key] = _Cached(selector)
            cached.idle_since = None
            ask = self.connected and not cached.subscribed_upstream
            with cached.lock:  # never overtakes a newer frame being fanned out
                cached.subscribers.add(subscriber)
                if cached.frame is not None:
                    subscriber.send(cached.frame)
                elif cached.error is not None:
                    if time.monotonic() - cached.error_at < ERROR_ANSWER_S:
                        subscriber.send(cached.error)
                    else:  # ask again: the answer goes to every subscriber
                        cached.error = None
                        ask = self.connected
            cached.subscribed_upstream |= ask
            if ask:
                self._send_upstream(_subscribe_frame(selector))

    def unsubscribe(self, subscriber: Subscriber, selector: TupleSelector) -> None:
        cached = self._cache.get(selector.key)
        if cached is not None:
            self._leave(cached, subscriber)

    def drop(self, subscriber: Subscriber) -> None:
        for cached in list(self._cache.values()):
            if subscriber in cached.subscribers:
                self._leave(cached, subscriber)

    def drop_where(self, which: Callable[[Subscriber, TupleSelector], bool],
                   tell: Callable[[Subscriber, TupleSelector], None]) -> None:
        """Drop the subscribers ``which`` picks, telling each (``tell``) first."""
        for cached in list(self._cache.values()):
            for subscriber in [s for s in list(cached.subscribers)
                               if which(s, cached.selector)]:
                tell(subscriber, cached.selector)
                self._leave(cached, subscriber)

    def _leave(self, cached: _Cached, subscriber: Subscriber) -> None:
        with cached.lock:
            cached.subscribers.discard(subscriber)
            if cached.subscribers:
                return
            cached.idle_since = time.monotonic()
            forget = cached.frame is None and cached.error is not None
        if forget:  # an error nobody watches: not worth a place in the cache
            self._forget([cached], lambda c: c.idle_since is not None and not c.subscribers)

    # -- from upstream ------------------------------------------------------------------
    def on_data(self, selector: TupleSelector, frame: str) -> None:
        cached = self._cache.get(selector.key)
        if cached is None:
            return  # dropped meanwhile
        with cached.lock:
            cached.frame, cached.error = frame, None
            _fan_out(cached.subscribers, frame)

    def on_error(self, selector: TupleSelector, frame: str) -> None:
        cached = self._cache.get(selector.key)
        if cached is None:
            return
        with cached.lock:
            cached.frame, cached.error, cached.error_at = None, frame, time.monotonic()
            _fan_out(cached.subscribers, frame)
            nobody = not cached.subscribers
        if nobody:
            self._forget([cached], lambda c: not c.subscribers)

    def on_connected(self) -> None:
        """Subscribe every selector again: the server answers each with its
        current data, which goes to every device."""
        with self._lock:
            self.connected = True
            for cached in self._cache.values():
                cached.subscribed_upstream = True
                self._send_upstream(_subscribe_frame(cached.selector))

    def on_lost(self) -> None:
        with self._lock:
            self.connected = False
            for cached in self._cache.values():
                cached.subscribed_upstream = False

    # -- housekeeping -------------------------------------------------------------------
    def drop_idle(self, now: float | None = None) -> int:
        """Drop the upstream subscriptions nobody has watched for ``idle_s``."""
        now = time.monotonic() if now is None else now
        return self._forget(list(self._cache.values()),
                            lambda c: c.idle_since is not None
                            and now - c.idle_since >= self.idle_s and not c.subscribers)

    def _forget(self, candidates: list[_Cached], still: Callable[[_Cached], bool]) -> int:
        """Drop the candidates for which ``still`` holds (checked under the
        lock: a device may have subscribed meanwhile), unsubscribing upstream."""
        with self._lock:
            gone = [c for c in candidates
                    if self._cache.get(c.selector.key) is c and still(c)]
            for cached in gone:
                del self._cache[cached.selector.key]
                if cached.subscribed_upstream and self.connected:
                    self._send_upstream(make_frame("unsubscribe", selector=cached.selector))
        for cached in gone:
            log.debug("Dropped subscription %s", cached.selector.key.decode())
        return len(gone)

    def details(self) -> list[dict[str, Any]]:
        """Each selector watched, for an administrator (it may name users)."""
        return [{"selector": c.selector.key.decode(), "subscribers": len(c.subscribers),
                 "cached": c.frame is not None, "error": c.error is not None}
                for c in list(self._cache.values())]

    def stats(self) -> dict[str, Any]:
        """Counts only: what is watched names users (per-user selectors), and
        ``/healthz`` answers anyone."""
        cached = list(self._cache.values())
        return {"subscriptions": len(cached),
                "subscribers": sum(len(c.subscribers) for c in cached),
                "cached": sum(c.frame is not None for c in cached),
                "errors": sum(c.error is not None for c in cached)}
