"""The garbage collector's settings in a service process.

A service allocates many short-lived objects per message: frames, tuples,
and the lists and dicts inside them.  CPython's default collects the young
generation every 700 allocations, and the older generations' passes that
follow come often enough to cost a large share of decoding a burst of
tuples, and to lengthen the slowest answers to actions (figures with and
without it in benchmarks/README.md).  A young generation of 50,000 objects
(a few MB at most) is collected that much less often; reference cycles are
still found and freed.
"""

from __future__ import annotations

import gc

#: Objects allocated (less those freed) before a young-generation collection.
YOUNG_OBJECTS = 50_000


def tune() -> None:
    """Apply the services' collector thresholds to this process."""
    gc.set_threshold(YOUNG_OBJECTS, 20, 10)
