"""Fan-out benchmark: one client service holding 10,000 device websockets on one selector.

A real ``peek server`` (embedded PostgreSQL) and ``peek client`` run as
separate processes with the tally test plugin.  10,000 device websockets
connect to the client service and subscribe to the same selector (one tally).
Then, ``UPDATES`` times, one of them sends an action that changes the tally;
the server applies it, notifies, and the new data goes up the link once and
out to every device.

- devices: websockets connected and subscribed;
- upstream_subscriptions: subscribers the server sees for the selector (the client
  service's link: 1);
- p50_ms / p99_ms / max_ms: time from sending the action to each device
  receiving the new data (medians over the updates);
- failed: devices that closed, failed to connect, or missed an update.

Prints ``BENCH fanout devices=.. upstream_subscriptions=.. p50_ms=.. p99_ms=.. max_ms=..
failed=..`` or ``BENCH fanout error="why"``.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import uuid

from vortex_bench import (TALLY, AsyncDevice, median, percentile, platform, report, run_devices,
                          server_subscribers)

from peek.serve import raise_open_file_limit  # noqa: E402 (vortex_bench finds the repo)

DEVICES = 10_000
UPDATES = 5
CONNECTING_AT_ONCE = 200


def ensure_open_files(needed: int) -> None:
    """The benchmark and the client service (which inherits the limit) each
    hold one socket per device."""
    limit = raise_open_file_limit()
    if limit != resource.RLIM_INFINITY and limit < needed:
        raise RuntimeError(f"the open-file limit is {limit}; {needed} are needed "
                           "(raise it with ulimit -n)")


class Fleet:
    """The devices, and when each saw each count of the tally."""

    def __init__(self, port: int):
        self.devices = [AsyncDevice(port, self._on_frame(i)) for i in range(DEVICES)]
        self.seen: list[dict[int, float]] = [{} for _ in range(DEVICES)]
        self.connect_failures = 0

    def _on_frame(self, index: int):
        def on_frame(frame: dict, now: float) -> None:
            if frame["type"] == "data":
                for tally in frame["tuples"]:
                    self.seen[index].setdefault(tally["count"], now)
        return on_frame

    async def connect(self) -> None:
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
        selector = {"name": TALLY, "filter": {"name": "fanout"}}

        async def join(device: AsyncDevice) -> None:
            async with gate:
                try:
                    await device.connect()
                    await device.send({"type": "subscribe", "selector": selector})
                except Exception as e:
                    self.connect_failures += 1
                    if self.connect_failures == 1:
                        print(f"a device could not connect: {e!r}", file=sys.stderr)
        await asyncio.gather(*(join(d) for d in self.devices))

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(count in seen or device.closed
                   for seen, device in zip(self.seen, self.devices)):
                return
            await asyncio.sleep(0.1)

    def latencies(self, count: int, since: float) -> list[float]:
        return [seen[count] - since for seen in self.seen if count in seen]


async def run(ports: dict[str, int]) -> dict:
    fleet = Fleet(ports["mobile"])
    started = time.perf_counter()
    await fleet.connect()
    await fleet.wait_for(0, timeout=120)
    print(f"{DEVICES} devices connected and subscribed in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    subscribers = server_subscribers(ports, '"fanout"')
    sender = next(d for d in fleet.devices if not d.closed)
    p50s, p99s, maxes, missed = [], [], [], 0
    for count in range(1, UPDATES + 1):
        sent = time.perf_counter()
        await sender.send({"type": "action", "id": str(uuid.uuid4()), "tuple": {
            "_tt": "peek_plugin_tally.AddToTally", "name": "fanout"}})
        await fleet.wait_for(count, timeout=30)
        latencies = fleet.latencies(count, sent)
        missed += DEVICES - len(latencies)
        p50s.append(percentile(latencies, 0.50))
        p99s.append(percentile(latencies, 0.99))
        maxes.append(max(latencies))
        await asyncio.sleep(1)
    closed = sum(d.closed for d in fleet.devices)
    await asyncio.gather(*(d.close() for d in fleet.devices if not d.closed))
    return {"subscribers": subscribers, "p50": median(p50s), "p99": median(p99s),
            "max": median(maxes), "failed": fleet.connect_failures + closed + missed}


def measure() -> str:
    ensure_open_files(DEVICES + 1000)
    with platform() as ports:
        figures = run_devices(run(ports))
    return (f"devices={DEVICES} upstream_subscriptions={figures['subscribers']} "
            f"p50_ms={figures['p50'] * 1000:.1f} p99_ms={figures['p99'] * 1000:.1f} "
            f"max_ms={figures['max'] * 1000:.1f} failed={figures['failed']}")


if __name__ == "__main__":
    sys.exit(report("fanout", measure))
