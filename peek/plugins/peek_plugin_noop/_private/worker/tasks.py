"""The noop plugin's worker tasks: the smallest examples, used by the tests
and the worker benchmark."""

from __future__ import annotations

import os
import time

from peek.plugin_api import task_platform


def noop() -> None:
    """Nothing at all: measures the platform's cost per task."""


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def sleep(seconds: float) -> tuple[float, float]:
    """Sleep; returns when it started and ended (wall clock, for overlap checks)."""
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def die() -> None:
    """Kill the worker process running the task (the nanny starts a new one)."""
    os._exit(13)


def double_all(block: list[int]) -> list[int]:
    """A batch block: one result per item; a negative item fails the block."""
    if any(item < 0 for item in block):
        raise ValueError(f"negative item in {block[:3]}...")
    return [item * 2 for item in block]


def spin(block: list[int]) -> list[int]:
    """A CPU-bound batch block: ``n`` rounds of integer arithmetic per item."""
    results = []
    for n in block:
        total = 0
        for i in range(n):
            total = (total + i * i) % 1_000_003
        results.append(total)
    return results


def worker_pid() -> int:
    return os.getpid()


def greeting() -> str:
    """Reads the plugin's settings from the database, on the worker."""
    return task_platform().settings.get("greeting")


def sleep_block(block: list[tuple[str, float]]) -> list[tuple[float, float]]:
    """A batch block of (key, seconds) items: sleeps each; every item gets the
    block's start and end (for overlap checks)."""
    start = time.time()
    time.sleep(sum(seconds for _, seconds in block))
    return [(start, time.time())] * len(block)
