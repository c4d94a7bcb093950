"""Requests per second per client of the device REST API: token buckets."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Hashable


class RateLimiter:
    """A bucket per key that fills at ``rate`` tokens a second up to twice that
    (a burst); a request takes one token.  At most ``max_keys`` buckets are
    kept: the longest unused is forgotten (it would be full by now anyway)."""

    def __init__(self, rate: float, max_keys: int = 10_000):
        self.rate = rate
        self.burst = 2 * rate
        self._max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, key: Hashable) -> float:
        """Take a token for ``key``: 0 when there was one, otherwise the
        seconds until there will be (nothing is taken then)."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait
