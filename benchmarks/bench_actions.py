"""Actions benchmark: 100 devices pushing actions through the client service to the server.

A real ``peek server`` (embedded PostgreSQL) and ``peek client`` run as
separate processes with the tally test plugin.  100 device websockets each
send ``peek_plugin_tally.AddToTally`` actions (one tally per device, each a
database transaction with its recorded answer) at an even, open-loop rate, so
latency is measured at a fixed offered load, not hidden by waiting.  After a
warm-up second, each run offers ``RATE`` actions/s for ``SECONDS`` seconds.

- rate_per_s: answers received per second over a run;
- p50_ms / p99_ms: time from sending an action to receiving its answer;
- failed: actions answered with an error, or not answered, over all runs.

Medians over ``RUNS`` runs.  Prints
``BENCH actions devices=100 rate_per_s=.. p50_ms=.. p99_ms=..`` or
``BENCH actions error="why"``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from vortex_bench import AsyncDevice, median, percentile, platform, report, run_devices

DEVICES = 100
RATE = 2100
SECONDS = 5
RUNS = 3


async def offer(port: int, seconds: float, rate: float) -> tuple[float, list[float], int]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    total = int(seconds * rate) // DEVICES * DEVICES

    def on_frame(frame: dict, now: float) -> None:
        if frame["type"] == "result" and frame["id"] in sent:
            if "error" in frame:
                errors.append(frame["error"])
            latencies.append(now - sent.pop(frame["id"]))
            if len(latencies) >= total:
                done.set()
    errors: list[str] = []
    devices = [AsyncDevice(port, on_frame) for _ in range(DEVICES)]
    await asyncio.gather(*(d.connect() for d in devices))
    start = time.perf_counter()
    # The k-th action of the run is due at start + k / rate and goes from
    # device k % DEVICES: each device sends every DEVICES / rate seconds.  One
    # coroutine paces them all (a timer each for 100 would cost the devices'
    # process more CPU than their sockets do).
    for k in range(total):
        delay = start + k / rate - time.perf_counter()
        if delay > 0.0002:
            await asyncio.sleep(delay)
        action_id = os.urandom(16).hex()  # as unique as a UUID4, cheaper to make
        sent[action_id] = time.perf_counter()
        await devices[k % DEVICES].send({"type": "action", "id": action_id, "tuple": {
            "_tt": "peek_plugin_tally.AddToTally", "name": f"bench-{k % DEVICES}"}})
    try:
        await asyncio.wait_for(done.wait(), 60)
    except asyncio.TimeoutError:
        pass
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(device.close() for device in devices))
    if errors:
        print(f"{len(errors)} actions failed, e.g. {errors[0]}", file=sys.stderr)
    failed = len(errors) + total - len(latencies)
    return (len(latencies) - len(errors)) / elapsed, latencies, failed


def measure() -> str:
    # The actions run no Dask tasks: the server's scheduler without workers
    # (each worker process's heartbeats cost the scheduler and itself CPU).
    with platform(local_workers=0) as ports:
        run_devices(offer(ports["mobile"], 1, RATE / 4))  # warm-up
        runs = [run_devices(offer(ports["mobile"], SECONDS, RATE)) for _ in range(RUNS)]
    rate = median([r[0] for r in runs])
    p50 = median([percentile(r[1], 0.50) for r in runs]) * 1000
    p99 = median([percentile(r[1], 0.99) for r in runs]) * 1000
    failed = sum(r[2] for r in runs)
    return (f"devices={DEVICES} rate_per_s={rate:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f} "
            f"failed={failed}")


if __name__ == "__main__":
    sys.exit(report("actions", measure))
