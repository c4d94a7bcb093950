"""Separate service processes and devices for the vortex tests.

Each service runs as ``python -m peek <service>`` (as an administrator runs
it); devices are real websocket clients on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable

import requests
import simple_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from tests.conftest import REPO, wait_for

TALLY = Path(__file__).parent / "plugins" / "peek_plugin_tally"


def install_tally(home: Path) -> None:
    """Put the tally test plugin in the home's store and active plugins (laid
    out as Peek installs one) and enable it (alone) on every service that has
    a config file in the home (others are skipped)."""
    from peek.plugin_system import packages

    store = home / "peek-plugins" / "store" / "peek_plugin_tally"
    shutil.copytree(TALLY, store / "1.0.0" / "peek_plugin_tally")
    dist = store / "1.0.0" / "peek_plugin_tally.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: peek_plugin_tally\n"
                                   "Version: 1.0.0\n")
    (dist / "entry_points.txt").write_text("[peek.plugins]\n"
                                           "peek_plugin_tally = peek_plugin_tally\n")
    (store / "versions.json").write_text('["1.0.0"]')
    packages.activate(home, "peek_plugin_tally", "1.0.0")
    for service in ("server", "client", "agent"):
        path = home / f"peek-{service}.home" / "config.json"
        if not path.exists():
            continue
        config = json.loads(path.read_text())
        config["plugin"] = {"enabled": ["peek_plugin_tally"]}
        path.write_text(json.dumps(config, indent=2))


def set_vortex_config(home: Path, service: str, **vortex: Any) -> None:
    path = home / f"peek-{service}.home" / "config.json"
    config = json.loads(path.read_text())
    config["vortex"] = {**config.get("vortex", {}), **vortex}
    path.write_text(json.dumps(config, indent=2))


def stalled_device(port: int, first_frame: dict) -> socket.socket:
    """A device that opens the websocket, sends one frame and never reads again."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws = WSConnection(ConnectionType.CLIENT)
    raw.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target="/vortex/ws")))
    while not any(isinstance(e, AcceptConnection) for e in ws.events()):
        ws.receive_data(raw.recv(4096))
    raw.sendall(ws.send(TextMessage(data=json.dumps(first_frame))))
    return raw


class ServiceRun:
    """One service process; its output goes to a log file in the home."""

    def __init__(self, service: str, home: Path, port: int, script: bool = False):
        """``script``: start it with the ``peek`` console script instead of
        ``python -m peek``."""
        self.service, self.home, self.port = service, home, port
        self.command = ([str(Path(sys.executable).with_name("peek"))] if script
                        else [sys.executable, "-m", "peek"]) + [service]
        self.process: subprocess.Popen | None = None
        self.log = home / f"{service}-run.log"

    def start(self) -> "ServiceRun":
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                self.command, cwd=REPO,
                env=dict(os.environ, PEEK_HOME=str(self.home)),
                stdout=out, stderr=subprocess.STDOUT)
        return self

    def health(self) -> dict | None:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()
        except (requests.RequestException, ValueError):
            return None

    def wait_ready(self, timeout: float = 90) -> "ServiceRun":
        def ready():
            assert self.process.poll() is None, f"{self.service} exited:\n{self.output}"
            health = self.health()
            return health and health["status"] == "ok"
        wait_for(ready, timeout=timeout, what=f"the {self.service} service")
        return self

    @property
    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        """Gone without a goodbye, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Device:
    """A native app: JSON frames over the client service's device websocket."""

    def __init__(self, port: int):
        self.ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/vortex/ws")
        #: Frames received but not yet returned by ``next``, oldest first.
        self.unread: list[dict] = []

    def send(self, kind: str, **fields: Any) -> None:
        self.ws.send(json.dumps({"type": kind, **fields}))

    def subscribe(self, tuple_type: str, **filter: Any) -> None:
        self.send("subscribe", selector={"name": tuple_type, "filter": filter})

    def act(self, tuple_: dict, action_id: str | None = None) -> str:
        action_id = action_id or str(uuid.uuid4())
        self.send("action", id=action_id, tuple=tuple_)
        return action_id

    def next(self, match: Callable[[dict], bool], timeout: float = 20) -> dict:
        """The oldest unread frame that ``match``es.  Frames skipped on the way
        stay unread: a data frame that arrived while waiting for an answer is
        still there for ``data``."""
        for frame in self.unread:
            if match(frame):
                self.unread.remove(frame)
                return frame

        def arrived():
            raw = self.ws.receive(timeout=0.2)
            if raw is None:
                return None
            frame = json.loads(raw)
            if match(frame):
                return frame
            self.unread.append(frame)
            return None
        return wait_for(arrived, timeout=timeout, interval=0, what="a matching frame")

    def data(self, timeout: float = 20, where: Callable[[list], bool] = lambda t: True):
        return self.next(lambda f: f["type"] == "data" and where(f["tuples"]),
                         timeout)["tuples"]

    def answer(self, action_id: str, timeout: float = 30) -> dict:
        return self.next(lambda f: f["type"] == "result" and f["id"] == action_id, timeout)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


def tally(name: str, amount: int = 1) -> dict:
    return {"_tt": "peek_plugin_tally.AddToTally", "name": name, "amount": amount}


def count_of(tuples: list, name: str) -> int | None:
    return next((t["count"] for t in tuples if t["name"] == name), None)


def server_subscriptions(ports: dict, secret: str = "test-secret") -> list[dict]:
    return requests.get(f"http://127.0.0.1:{ports['server']}/vortex", timeout=5,
                        headers={"Authorization": f"Bearer {secret}"}).json()["subscriptions"]
