"""How long, in words an administrator reads at a glance."""

from __future__ import annotations

UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def duration(seconds: float | None) -> str:
    """``3 h 25 min``: the largest unit and the next one, ``42 s`` under a minute."""
    if seconds is None:
        return ""
    left = int(seconds)
    for (unit, size), (smaller, smaller_size) in zip(UNITS, UNITS[1:]):
        if left >= size:
            rest = left % size // smaller_size
            return f"{left // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{left} s"
