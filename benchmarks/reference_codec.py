"""The original platform's codec, measured on this machine for bench_codec.

Runs in its own virtual environment holding the original's ``vortexpy``
(``make bench`` builds it; it never meets Peek's own packages).  Measures as
the original's own many-tuples benchmark does: one Payload of n of its test
tuples (``RestfulTestTuple``), encoded, then decoded back.  Prints

    n=<n> encode_ms=<median> decode_ms=<median>

medians of ``RUNS`` runs after a warm-up (one run of 10,000 takes the
original seconds).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from vortex.Payload import Payload
from vortex.tuple_test_fixtures import makeRestfulTestTuple

RUNS = 2


def measure(n: int) -> tuple[float, float]:
    tuples = [makeRestfulTestTuple() for _ in range(n)]
    encode_ms, decode_ms = [], []
    for run in range(RUNS + 1):  # the first run warms up
        begin = time.perf_counter()
        encoded = Payload(tuples=tuples).toEncodedPayload()
        middle = time.perf_counter()
        back = Payload().fromEncodedPayload(encoded)
        end = time.perf_counter()
        if len(back.tuples) != n or back.tuples[-1].aSubTuple.subInt != 2048:
            raise RuntimeError("the original's codec lost tuples")
        if run:
            encode_ms.append((middle - begin) * 1000)
            decode_ms.append((end - middle) * 1000)
    return statistics.median(encode_ms), statistics.median(decode_ms)


if __name__ == "__main__":
    count = int(sys.argv[1])
    encode_ms, decode_ms = measure(count)
    print(f"n={count} encode_ms={encode_ms:.1f} decode_ms={decode_ms:.1f}", flush=True)
    # The original's tuples report errors from __del__ once the interpreter
    # tears its modules down: leave without tearing down.
    os._exit(0)
