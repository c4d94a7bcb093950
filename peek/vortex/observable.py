"""The server's observables: tuple providers, subscriptions, encode-once fan-out.

A plugin registers one provider per tuple type.  The first subscriber of a
selector makes the provider load it; the encoded ``data`` frame is kept, so
later subscribers get it at once, and ``notify`` reloads it and sends the
new frame, the same bytes, to every subscriber.  Loads of one selector run
one at a time, so a subscriber never sees older data after newer data, and
notifies that arrive while a load runs fold into one more load.

A selector whose tuple type has no provider (its plugin not started yet,
stopping, upgrading) is answered with an ``error`` frame and stays
subscribed: when a provider for the type is added, it is loaded and its
subscribers get the data without asking again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from peek.vortex import tuples
from peek.vortex.frames import data_frame, error_frame
from peek.vortex.selector import USER_KEY, TupleSelector
from peek.vortex.tuples import is_per_user

log = logging.getLogger(__name__)

Provider = Callable[[TupleSelector], Iterable[Any]]


class Subscriber(Protocol):
    name: str

    def send(self, frame: str) -> bool: ...


@dataclass(eq=False)
class _Subscription:
    selector: TupleSelector
    subscribers: set[Subscriber] = field(default_factory=set)
    frame: str | None = None
    queued: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Observables:
    def __init__(self, executor: Executor, max_frame_bytes: int | None = None):
        """``max_frame_bytes``: the largest frame a link carries; data over it
        is answered as an error for its selector (the link would close on it)."""
        self._executor = executor
        self._max_frame_bytes = max_frame_bytes
        self._providers: dict[str, tuple[str, Provider]] = {}
        self._internal: set[str] = set()  # provided, not to devices
        self._subscriptions: dict[bytes, _Subscription] = {}
        self._lock = threading.Lock()

    # -- providers (plugins) ------------------------------------------------------------
    def add_provider(self, tuple_type: str, provider: Provider, owner: str,
                     devices: bool = False) -> None:
        """``devices``: devices may subscribe to it (else only plugins' own code)."""
        with self._lock:
            taken = self._providers.get(tuple_type)
            if taken and taken[0] != owner:
                raise ValueError(f"tuple type {tuple_type} already has a provider, "
                                 f"from {taken[0]}")
            self._providers[tuple_type] = (owner, provider)
            if devices:
                self._internal.discard(tuple_type)
            else:
                self._internal.add(tuple_type)
            waiting = [s for s in self._subscriptions.values()
                       if s.selector.name == tuple_type]
        for subscription in waiting:  # they were answered "no provider" so far
            self._schedule(subscription)

    def remove_providers(self, owner: str) -> None:
        with self._lock:
            for name in [n for n, (o, _) in self._providers.items() if o == owner]:
                del self._providers[name]
                self._internal.discard(name)

    def internal(self) -> list[str]:
        """The provided tuple types devices may not subscribe to."""
        with self._lock:
            return sorted(self._internal)

    # -- subscribers --------------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber, selector: TupleSelector) -> None:
        """Add ``subscriber``; it gets the current data at once (or after the
        first load), then every update."""
        if is_per_user(selector.name) and not isinstance(selector.filter.get(USER_KEY), str):
            subscriber.send(error_frame(f"{selector.name} is a per-user tuple type: sign in "
                                        "to see it", selector=selector))
            return
        with self._lock:
            subscription = self._subscriptions.get(selector.key)
            if subscription is None:
                subscription = self._subscriptions[selector.key] = _Subscription(selector)
            subscription.subscribers.add(subscriber)
            loaded = subscription.frame is not None
            provided = selector.name in self._providers
        if not provided:
            subscriber.send(_no_provider(selector))
        elif loaded:
            self._executor.submit(self._send_current, subscription, subscriber)
        else:
            self._schedule(subscription)

    @staticmethod
    def _send_current(subscription: _Subscription, subscriber: Subscriber) -> None:
        with subscription.lock:  # never overtakes a newer frame being sent
            subscriber.send(subscription.frame)

    def unsubscribe(self, subscriber: Subscriber, selector: TupleSelector) -> None:
        with self._lock:
            self._leave(subscriber, selector.key)

    def drop(self, subscriber: Subscriber) -> None:
        """Forget every subscription of a subscriber that went away."""
        with self._lock:
            for key in [k for k, s in self._subscriptions.items()
                        if subscriber in s.subscribers]:
                self._leave(subscriber, key)

    def _leave(self, subscriber: Subscriber, key: bytes) -> None:
        subscription = self._subscriptions.get(key)
        if subscription is not None:
            subscription.subscribers.discard(subscriber)
            if not subscription.subscribers:
                del self._subscriptions[key]

    # -- updates ------------------------------------------------------------------------
    def notify(self, what: TupleSelector | type | str) -> None:
        """Reload and push: one selector, or every watched selector of a tuple
        type (give the tuple class or its type name)."""
        if isinstance(what, TupleSelector):
            keys = [what.key]
        elif not self._subscriptions:
            return  # nothing is watched
        else:
            name = what if isinstance(what, str) else TupleSelector.of(what).name
            keys = [k for k, s in list(self._subscriptions.items())
                    if s.selector.name == name]
        for key in keys:
            subscription = self._subscriptions.get(key)
            if subscription is not None:
                self._schedule(subscription)

    def _schedule(self, subscription: _Subscription) -> None:
        with self._lock:
            if subscription.queued:
                return  # a load not yet begun will see this change too
            subscription.queued = True
        self._executor.submit(self._load, subscription)

    def _load(self, subscription: _Subscription) -> None:
        with subscription.lock:
            with self._lock:
                subscription.queued = False
            selector = subscription.selector
            entry = self._providers.get(selector.name)
            if entry is None:  # its plugin stopped: the old data is not current
                subscription.frame = None
                frame = _no_provider(selector)
            else:
                try:
                    frame = data_frame(selector, self._encoded(selector, entry[1]))
                except _TooLarge as e:
                    log.error("Loading %s: %s", selector.key.decode(), e)
                    frame = error_frame(str(e), selector=selector)
                except Exception as e:  # a provider's failure reaches its subscribers
                    log.exception("Loading %s failed", selector.key.decode())
                    frame = error_frame(f"loading the data failed: {type(e).__name__}: {e}",
                                        selector=selector)
                else:
                    subscription.frame = frame
            with self._lock:
                targets = list(subscription.subscribers)
            for subscriber in targets:
                subscriber.send(frame)

    def _encoded(self, selector: TupleSelector, provider: Provider) -> bytes:
        encoded = tuples.encode(list(provider(selector)))
        limit = self._max_frame_bytes
        if limit and len(encoded) + len(selector.key) + 40 > limit:
            raise _TooLarge(f"the data of this selector is {len(encoded)} bytes, over what a "
                            f"link carries (vortex.maxFrameBytes, {limit} bytes): select less")
        return encoded

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"providers": sorted(self._providers),
                    "subscriptions": [{"selector": s.selector.key.decode(),
                                       "subscribers": len(s.subscribers)}
                                      for s in self._subscriptions.values()]}


class _TooLarge(Exception):
    """A selector's data too large for one frame."""


def _no_provider(selector: TupleSelector) -> str:
    return error_frame(f"no provider for tuple type {selector.name!r} (is its plugin "
                       "enabled and started?)", selector=selector)
