"""What the vortex benchmarks share: a platform of real processes and many devices.

``platform()`` starts ``peek server`` (on the embedded PostgreSQL of a new
PEEK_HOME, with one local Dask worker) and ``peek client`` as separate
processes, with the tally test plugin (tests/plugins/peek_plugin_tally)
enabled.  ``AsyncDevice`` is a device websocket client on asyncio (websockets),
so that one benchmark process holds thousands of them without a thread each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from tests.vortex_harness import ServiceRun, install_tally, set_vortex_config  # noqa: E402

TALLY = "peek_plugin_tally.Tally"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(home: Path, service: str, data: dict) -> None:
    path = home / f"peek-{service}.home" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def bench_home(home: Path, services: tuple[str, ...]) -> dict[str, int]:
    """Config files for ``services`` (the server on its own embedded PostgreSQL
    and one local Dask worker) on free ports; returns the ports."""
    ports = {k: free_port() for k in ("admin", "server", "mobile", "agent", "pg", "dash")}
    common = {"server": {"port": ports["server"], "secret": "bench-secret"},
              "logging": {"level": "WARNING"}}
    write_config(home, "server", {**common, "http": {"port": ports["admin"]},
                                  "embeddedPostgres": {"port": ports["pg"]},
                                  "dask": {"localWorkers": 1, "dashboardPort": ports["dash"]}})
    for service in services:
        if service != "server":
            write_config(home, service, {**common, "http": {"port": ports[
                "mobile" if service == "client" else service]}})
    return ports


@contextlib.contextmanager
def running(home: Path, ports: dict[str, int], services: tuple[str, ...]) -> Iterator[None]:
    """The services as separate processes, the server first; their logs'
    tails on stderr if anything fails; all stopped afterwards."""
    port_of = {"server": "admin", "client": "mobile", "agent": "agent"}
    runs = [ServiceRun("server", home, ports["admin"]).start()]
    try:
        runs[0].wait_ready(timeout=180)
        runs += [ServiceRun(s, home, ports[port_of[s]]).start() for s in services
                 if s != "server"]
        for run in runs[1:]:
            run.wait_ready(timeout=60)
        yield
    except BaseException:
        for run in runs:
            sys.stderr.write(f"--- {run.service} log tail ---\n{run.output[-3000:]}\n")
        raise
    finally:
        for run in reversed(runs):
            run.stop()


@contextlib.contextmanager
def platform(client_vortex: dict | None = None) -> Iterator[dict[str, int]]:
    """Server and client processes with the tally plugin; yields their ports."""
    with tempfile.TemporaryDirectory(prefix="peek-bench-") as tmp:
        home = Path(tmp)
        ports = bench_home(home, ("server", "client"))
        install_tally(home)
        set_vortex_config(home, "client", **(client_vortex or {}))
        with running(home, ports, ("server", "client")):
            yield ports


def server_subscribers(ports: dict[str, int], selector_part: str) -> int:
    stats = requests.get(f"http://127.0.0.1:{ports['server']}/vortex", timeout=10,
                         headers={"Authorization": "Bearer bench-secret"}).json()
    return sum(s["subscribers"] for s in stats["subscriptions"]
               if selector_part in s["selector"])


class AsyncDevice:
    """One device websocket; ``on_frame(frame_dict, arrival_time)`` per frame."""

    def __init__(self, port: int, on_frame: Callable[[dict, float], Any]):
        self.port = port
        self.on_frame = on_frame
        self.ws: ClientConnection | None = None
        self.closed = False

    async def connect(self, attempts: int = 20) -> None:
        for attempt in range(attempts):
            try:
                self.ws = await connect(f"ws://127.0.0.1:{self.port}/vortex/ws",
                                        compression=None, max_size=None,
                                        ping_interval=None, open_timeout=30)
                break
            except OSError:
                await asyncio.sleep(0.05 * (attempt + 1))
        else:
            raise ConnectionError("could not connect")
        asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self.on_frame(json.loads(message), time.perf_counter())
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def report(name: str, measure: Callable[[], str]) -> int:
    """Print ``BENCH <name> <figures measure() returns>``, or ``BENCH <name>
    error="why"`` when it cannot run; returns the exit status."""
    try:
        print(f"BENCH {name} {measure()}", flush=True)
        return 0
    except Exception as e:  # the benchmark reports why it could not run
        print(f'BENCH {name} error="{type(e).__name__}: {e}"'.replace("\n", " "), flush=True)
        return 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
