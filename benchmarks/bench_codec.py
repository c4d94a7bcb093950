"""Codec benchmark: encode and decode tuples shaped like the original
platform's test tuple (an int, a validated int, a float, a string, two bools,
a mixed list, a dict, one nested tuple, a list of two and a dict of two).

Each tuple is encoded to its own frame and decoded back, as the vortex does
per message.  Prints, for n = 1,000, 10,000 and 100,000:

    BENCH codec n=<n> encode_ms=<median> decode_ms=<median>

The original's codec takes about 3 s for the 10,000; the target is 50 times
faster (encode + decode under 60 ms).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Annotated, Any

import msgspec

from peek import gc_tuning
from peek.vortex.tuples import Tuple, decode, encode

RUNS = 5


class Nested(Tuple, tag=f"{__name__}.Nested"):
    number: int = 0
    text: str = ""


class Shaped(Tuple, tag=f"{__name__}.Shaped"):
    an_int: int
    a_validated_int: Annotated[int, msgspec.Meta(ge=0)]
    a_float: float
    a_string: str
    a_true: bool
    a_false: bool
    a_list: list[Any]
    a_dict: dict[str, Any]
    a_tuple: Nested
    tuples: list[Nested]
    tuples_by_key: dict[str, Nested]


def shaped(i: int) -> Shaped:
    return Shaped(an_int=i, a_validated_int=i * 2, a_float=i / 7, a_string=f"string {i}",
                  a_true=True, a_false=False, a_list=[i, "two", 3.5, None, True],
                  a_dict={"key": i, "other": "value"}, a_tuple=Nested(number=i, text="one"),
                  tuples=[Nested(number=1, text="a"), Nested(number=2, text="b")],
                  tuples_by_key={"x": Nested(number=3), "y": Nested(number=4)})


def measure(n: int) -> tuple[float, float]:
    items = [shaped(i) for i in range(n)]
    encode_ms, decode_ms = [], []
    for run in range(RUNS + 1):  # the first run warms up
        begin = time.perf_counter()
        frames = [encode(item) for item in items]
        middle = time.perf_counter()
        back = [decode(frame) for frame in frames]
        end = time.perf_counter()
        if back != items:
            raise RuntimeError("decoded tuples differ from the encoded ones")
        if run:
            encode_ms.append((middle - begin) * 1000)
            decode_ms.append((end - middle) * 1000)
    return statistics.median(encode_ms), statistics.median(decode_ms)


def main() -> int:
    gc_tuning.tune()  # the collector as every service process runs it
    for n in (1000, 10000, 100000):
        encode_ms, decode_ms = measure(n)
        print(f"BENCH codec n={n} encode_ms={encode_ms:.1f} decode_ms={decode_ms:.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report as benchmarks.md asks, then fail
        print(f'BENCH codec error="{type(e).__name__}: {e}"'.replace("\n", " "))
        sys.exit(1)
