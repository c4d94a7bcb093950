"""Flood benchmark: one device floods the client service; the others are served.

A real ``peek server`` and ``peek client`` with the tally test plugin.  A
flooder process opens a device websocket (frames built by hand on a raw
socket) and sends frames the client handles and answers nothing to, as fast
as loopback takes them, never reading.  Meanwhile another device does vortex
ping round trips one after another, and ``/healthz`` is asked over HTTP.

- flood_mb_per_s: what the flooder got the client to take, per second;
- roundtrip_p50_ms / roundtrip_p99_ms: the other device's ping to its pong;
- healthz_p99_ms: ``GET /healthz`` during the flood (target: both p99 < 200 ms).

Medians over ``RUNS`` runs.  Prints ``BENCH flood ...`` or ``BENCH flood error="why"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests
import simple_websocket

from vortex_bench import REPO, median, percentile, platform, report

SECONDS = 5
RUNS = 3

FLOODER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from tests.raw_websocket import TEXT, RawWebSocket, client_frame
device = RawWebSocket(int(sys.argv[1]))
junk = client_frame(TEXT, json.dumps({"type": "unsubscribe", "selector": {
    "name": "peek_plugin_tally.Tally", "filter": {"name": "nothing"}}}).encode()) * 200
sent, end = 0, time.monotonic() + float(sys.argv[2])
try:
    while time.monotonic() < end:
        device.send(junk)
        sent += len(junk)
except OSError:
    pass
print(sent)
"""


def run(port: int) -> tuple[float, list[float], list[float]]:
    flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(port), str(SECONDS),
                                str(REPO)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # the flood is on
    device = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/vortex/ws")
    device.receive(timeout=5)  # its status frame
    roundtrips, health = [], []
    end = time.monotonic() + SECONDS - 1
    while time.monotonic() < end:
        began = time.perf_counter()
        device.send(json.dumps({"type": "ping"}))
        while json.loads(device.receive(timeout=10))["type"] != "pong":
            pass
        roundtrips.append(time.perf_counter() - began)
        if len(roundtrips) % 10 == 0:
            began = time.perf_counter()
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).raise_for_status()
            health.append(time.perf_counter() - began)
    device.close()
    sent = int(flooder.communicate(timeout=30)[0] or 0)
    return sent / SECONDS / 2**20, roundtrips, health


def measure() -> str:
    with platform(local_workers=0) as ports:
        runs = [run(ports["mobile"]) for _ in range(RUNS)]
    flood = median([r[0] for r in runs])
    p50 = median([percentile(r[1], 0.50) for r in runs]) * 1000
    p99 = median([percentile(r[1], 0.99) for r in runs]) * 1000
    health = median([percentile(r[2], 0.99) for r in runs]) * 1000
    return (f"flood_mb_per_s={flood:.1f} roundtrip_p50_ms={p50:.1f} roundtrip_p99_ms={p99:.1f} "
            f"healthz_p99_ms={health:.1f}")


if __name__ == "__main__":
    sys.exit(report("flood", measure))
