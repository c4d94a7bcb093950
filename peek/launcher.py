"""``peek run``: every service of one machine as child processes, stopped together.

The server starts first (it owns the embedded PostgreSQL and the Dask
LocalCluster); the client and agent follow once it answers.  Ctrl-C stops the
client and agent, then the server.  A child that dies stops the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import click

from peek.config import load_config, peek_home
from peek.logs import log_path
from peek.services import AGENT, CLIENT, SERVER
from peek.sites import site_url

START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60


class LaunchError(Exception):
    pass


@dataclass
class Child:
    service: str
    process: subprocess.Popen
    health_url: str


def fetch_health(url: str, timeout: float = 2) -> dict | None:
    """The JSON of a /healthz URL, or None while nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:  # 503: answering, but degraded
        return json.loads(e.read() or b"null")
    except (OSError, ValueError):
        return None


class Launcher:
    def __init__(self, home: Path | None = None):
        self.home = home or peek_home()
        # The server's config first: the others take its shared secret.
        self.configs = {s: load_config(s, self.home) for s in (SERVER, CLIENT, AGENT)}
        self.children: list[Child] = []
        self.first_admin_password: str | None = None

    def _spawn(self, service: str) -> Child:
        site = {SERVER: "server", CLIENT: "mobile", AGENT: "agent"}[service]
        env = dict(os.environ, PEEK_HOME=str(self.home))
        # A session of its own: Ctrl-C reaches only us, and we stop children in order.
        process = subprocess.Popen([sys.executable, "-m", "peek", service], env=env,
                                   start_new_session=True)
        child = Child(service, process, site_url(self.configs[service], site, "/healthz"))
        self.children.append(child)
        return child

    def _wait_healthy(self, child: Child, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise LaunchError(
                    f"the {child.service} service exited with code {child.process.returncode} "
                    f"while starting; see {log_path(self.configs[child.service])}")
            health = fetch_health(child.health_url)
            if health and health.get("status") == "ok":
                return health
            time.sleep(0.25)
        raise LaunchError(f"the {child.service} service did not become healthy at "
                          f"{child.health_url} within {timeout:.0f} s")

    def start(self) -> dict:
        server = self._spawn(SERVER)
        self._wait_healthy(server, START_TIMEOUT_S)
        peers = [self._spawn(CLIENT), self._spawn(AGENT)]
        for child in peers:
            self._wait_healthy(child, START_TIMEOUT_S)
        self.first_admin_password = self._first_admin()
        return self._wait_for_dask(server, START_TIMEOUT_S)

    def _first_admin(self) -> str | None:
        """The password of the ``admin`` account made now, on a platform that
        had no administrator (the server has migrated its schema by now)."""
        import sqlalchemy
        from sqlalchemy.orm import Session

        from peek.auth.operations import create_first_admin
        from peek.storage.database import database_url

        engine = sqlalchemy.create_engine(database_url(self.configs[SERVER]))
        try:
            with Session(engine) as session:
                return create_first_admin(session)
        finally:
            engine.dispose()

    def _wait_for_dask(self, server: Child, timeout: float) -> dict:
        """The server's health once its Dask cluster is up (or has failed)."""
        deadline = time.monotonic() + timeout
        while True:
            health = self._wait_healthy(server, timeout)
            if health["connections"]["dask"]["state"] != "starting" \
                    or time.monotonic() > deadline:
                return health
            time.sleep(0.25)

    def describe(self, server_health: dict) -> str:
        s, c, a = (self.configs[x] for x in (SERVER, CLIENT, AGENT))
        dashboard = server_health["connections"]["dask"].get("dashboard")
        lines = [
            "Peek is running. Ctrl-C stops every service.",
            f"  Admin site        {site_url(s, 'admin')}",
            *([f"  Admin sign-in     admin / {self.first_admin_password} (shown once; "
               "change it with: peek admin set-password admin)"]
              if self.first_admin_password else []),
            f"  Mobile site       {site_url(c, 'mobile')}",
            f"  Desktop site      {site_url(c, 'mobile', '/desktop/')}",
            f"  Server endpoint   {site_url(s, 'server', '/peer')}",
            f"  Agent health      {site_url(a, 'agent', '/healthz')}",
            f"  Dask              {server_health['connections']['dask']['state']}"
            + (f", dashboard {site_url(s, 'admin', dashboard)}" if dashboard else ""),
            f"  Database          {server_health['connections']['database']['url']}",
            f"  Config and logs   {self.home}/peek-<service>.home/config.json, "
            f"{self.home}/peek-<service>.log",
        ]
        return "\n".join(lines)

    def stop(self) -> None:
        """Client and agent first, then the server; each gets SIGTERM, then SIGKILL."""
        for group in ([c for c in self.children if c.service != SERVER],
                      [c for c in self.children if c.service == SERVER]):
            for child in group:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            for child in group:
                try:
                    child.process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    click.echo(f"The {child.service} service did not stop in "
                               f"{STOP_TIMEOUT_S} s; killing it", err=True)
                    child.process.kill()
                    child.process.wait()

    def supervise(self) -> int:
        """Wait for Ctrl-C/SIGTERM or a child's death; return the exit code."""
        received: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda n, _f: received.append(n))
        while not received:
            for child in self.children:
                if child.process.poll() is not None:
                    click.echo(f"The {child.service} service exited with code "
                               f"{child.process.returncode}; stopping the others. See "
                               f"{log_path(self.configs[child.service])}", err=True)
                    self.stop()
                    return 1
            time.sleep(0.2)
        click.echo("Stopping Peek...")
        self.stop()
        click.echo("Peek stopped.")
        return 0


def run_all(home: Path | None = None) -> int:
    launcher = Launcher(home)
    try:
        started = time.monotonic()
        health = launcher.start()
        click.echo(launcher.describe(health))
        click.echo(f"  Started in        {time.monotonic() - started:.1f} s")
    except (LaunchError, KeyboardInterrupt) as e:
        if isinstance(e, LaunchError):
            click.echo(f"Peek did not start: {e}", err=True)
        launcher.stop()
        return 1
    return launcher.supervise()
