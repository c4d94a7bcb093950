"""What the vortex benchmarks share: a platform of real processes and many devices.

``platform()`` starts ``peek server`` (on the embedded PostgreSQL of a new
PEEK_HOME, with one local Dask worker unless told otherwise) and ``peek
client`` as separate processes, with the tally test plugin
(tests/plugins/peek_plugin_tally) enabled.  ``AsyncDevice`` is a device websocket client on asyncio (a bare
protocol, no websocket library), so that one benchmark process holds
thousands of them without a thread each, at little cost per message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
import requests  # noqa: E402

try:  # the simulated devices' event loop: uvloop's costs them less CPU per message
    import uvloop
except ImportError:  # pragma: no cover - make bench installs it (the bench extra)
    uvloop = None

from tests.vortex_harness import ServiceRun, install_tally, set_vortex_config  # noqa: E402

TALLY = "peek_plugin_tally.Tally"


@contextlib.contextmanager
def bench_dir(prefix: str = "peek-bench-") -> Iterator[Path]:
    """A temporary directory every user may enter: run as root, the embedded
    PostgreSQL's user reaches its data inside, which then goes with it (in
    a private one it would live under embeddedPostgres.rootDir and stay)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(home: Path, service: str, data: dict) -> None:
    path = home / f"peek-{service}.home" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def bench_home(home: Path, services: tuple[str, ...],
               local_workers: int = 1) -> dict[str, int]:
    """Config files for ``services`` (the server on its own embedded PostgreSQL
    and ``local_workers`` local Dask workers) on free ports; returns the ports."""
    ports = {k: free_port() for k in ("admin", "server", "mobile", "agent", "pg", "dash")}
    common = {"server": {"port": ports["server"], "secret": "bench-secret"},
              "logging": {"level": "WARNING"}}
    write_config(home, "server", {**common, "http": {"port": ports["admin"]},
                                  "embeddedPostgres": {"port": ports["pg"]},
                                  "dask": {"localWorkers": local_workers,
                                           "dashboardPort": ports["dash"]}})
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
def platform(client_vortex: dict | None = None,
             local_workers: int = 1) -> Iterator[dict[str, int]]:
    """Server and client processes with the tally plugin; yields their ports.
    ``local_workers``: the server's Dask worker processes (0: the scheduler
    only, for a benchmark that runs no tasks)."""
    with bench_dir() as home:
        ports = bench_home(home, ("server", "client"), local_workers)
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
    """One device websocket; ``on_frame(frame_dict, arrival_time)`` per frame.

    RFC 6455 by hand on a bare asyncio protocol (as a device's native
    websocket does it in C), not the websockets library: that costs about
    150 us of Python per message, which for 10,000 devices on the same two
    cores as the service was most of what the fan-out benchmark measured.
    A message is timed when its last bytes arrive."""

    def __init__(self, port: int, on_frame: Callable[[dict, float], Any]):
        self.port = port
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._open: asyncio.Future | None = None

    async def connect(self, attempts: int = 20) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(attempts):
            self._open, self._buffer, self.closed = loop.create_future(), bytearray(), False
            try:
                self.transport, _ = await loop.create_connection(
                    lambda: _DeviceProtocol(self), "127.0.0.1", self.port)
                key = base64.b64encode(os.urandom(16)).decode()
                self.transport.write((
                    f"GET /vortex/ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
                await asyncio.wait_for(self._open, 30)
                return
            except OSError:  # refused, timed out, or not upgraded: try again
                if self.transport is not None:
                    self.transport.close()
                await asyncio.sleep(0.05 * (attempt + 1))
        raise ConnectionError("could not connect")

    def _received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self._buffer
        buffer += data
        if not self._open.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._open.set_exception(ConnectionError(bytes(buffer[:end]).decode()))
                self.transport.close()
                return
            del buffer[:end + 4]
            self._open.set_result(None)
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length >= 126:
                start = 4 if length == 126 else 10
                if len(buffer) < start:
                    return
                length = int.from_bytes(buffer[2:start], "big")
            if len(buffer) < start + length:
                return
            opcode, fin = buffer[0] & 0x0F, buffer[0] & 0x80
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 0x9:  # ping
                self._write(0xA, payload)
            elif opcode == 0x8:  # close
                self.transport.close()
            elif opcode in (0x0, 0x1):  # text (or its continuation)
                self._fragments.append(payload)
                if fin:
                    message, self._fragments = b"".join(self._fragments), []
                    self.on_frame(msgspec.json.decode(message), now)

    def _write(self, opcode: int, payload: bytes) -> None:
        """One frame, masked as a client's must be."""
        n = len(payload)
        header = bytes([0x80 | opcode]) + (
            bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big")
            if n < 65536 else bytes([0xFF]) + n.to_bytes(8, "big"))
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(
            (mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.transport.write(header + mask + masked)

    async def send(self, frame: dict) -> None:
        if self.closed:
            raise ConnectionError("closed")
        self._write(0x1, msgspec.json.encode(frame))

    async def close(self) -> None:
        if self.transport is not None and not self.closed:
            self._write(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


class _DeviceProtocol(asyncio.Protocol):
    def __init__(self, device: AsyncDevice):
        self.device = device

    def data_received(self, data: bytes) -> None:
        self.device._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.device.closed = True
        if not self.device._open.done():
            self.device._open.set_exception(ConnectionError(f"closed: {exc}"))


def run_devices(coroutine: Any) -> Any:
    """Run the simulated devices' coroutine, on uvloop when it is installed:
    they share the cores with the platform, so their own cost counts."""
    if uvloop is None:
        print("uvloop is not installed (pip install -e '.[bench]'): the devices run "
              "on asyncio's own loop, at more CPU per message", file=sys.stderr)
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


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
