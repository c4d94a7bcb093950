"""Reconnect delays: exponential with jitter, so that hundreds of peers that
lost the server at the same moment do not all come back at the same moment."""

from __future__ import annotations

import random


def reconnect_delay(attempt: int, base: float = 0.5, cap: float = 30.0,
                    rng: random.Random | None = None) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first retry):
    a random value between half and all of ``min(cap, base * 2**attempt)``."""
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(ceiling / 2, ceiling)
