"""What one running service holds besides its Flask apps: database, links, Dask.

A runtime is started before the service's sites accept requests and stopped
after they close.  The apps reach it as ``current_app.extensions["peek"]``
(:func:`current_runtime`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import sqlalchemy
from flask import current_app

from peek import __version__
from peek.config import ServiceConfig, load_config
from peek.peering.registry import PeerRegistry
from peek.peering.upstream import UpstreamLink
from peek.plugin_system import sync
from peek.plugin_system.live import InstallJobs
from peek.plugin_system.manager import PluginManager
from peek.services import AGENT, CLIENT, SERVER
from peek.storage.database import database_url, embedded_postgres, safe_url, uses_embedded
from peek.storage.embedded import EmbeddedPostgres
from peek.vortex import tuples
from peek.vortex.frames import frame
from peek.vortex.peer_vortex import PeerVortex
from peek.vortex.server_vortex import ServerVortex
from peek.workers.cluster import DaskConnector

log = logging.getLogger(__name__)


class ServiceRuntime:
    service: str = ""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.started_monotonic = time.monotonic()
        self.plugins: PluginManager | None = None
        self.vortex: Any = None
        self.workers: Any = None
        #: Called after the running plugins changed (the service rebuilds its sites).
        self.on_plugins_changed: Callable[[], None] | None = None
        self._applying = threading.Lock()

    @property
    def database_url(self) -> str | None:
        return None

    @property
    def engine(self) -> sqlalchemy.Engine | None:
        """The database engine, for services with database access."""
        return None

    def start(self) -> None:
        """Start what the service needs before its plugins: database, Dask."""

    def start_plugins(self) -> None:
        """Load and start the enabled plugins (the server migrates their schemas)."""
        self.plugins = PluginManager(self.config, engine=self.engine,
                                     migrate=self.service == SERVER, vortex=self.vortex,
                                     workers=self.workers)
        self.plugins.load_all()
        self.plugins.start_all()

    def apply_plugins(self) -> tuple[list[str], list[str]]:
        """Run what is installed and enabled now, without a restart (see
        :meth:`PluginManager.reconcile`); returns (stopped, started)."""
        with self._applying:
            stopped, started = self.plugins.reconcile()
            if (stopped or started) and self.on_plugins_changed is not None:
                self.on_plugins_changed()
            self._plugins_applied()
        return stopped, started

    def _plugins_applied(self) -> None:
        """Tell whoever needs to know that the running plugins may have changed."""

    def connect(self) -> None:
        """Open links to other services, once the plugins have started."""

    def stop(self) -> None:
        """Stop what the start methods started, in reverse order."""
        if self.plugins is not None:
            self.plugins.stop_all()

    def connections(self) -> tuple[dict[str, Any], bool]:
        """What this service is connected to, and whether that is healthy."""
        return {}, True

    def health(self) -> tuple[dict[str, Any], bool]:
        connections, ok = self.connections()
        return {"service": self.service, "version": __version__,
                "status": "ok" if ok else "degraded",
                "uptime_s": round(time.monotonic() - self.started_monotonic, 1),
                "connections": connections,
                "plugins": {p["name"]: p["state"] for p in self.plugin_states()}}, ok

    def slot_items(self, slot: str) -> list[Any]:
        """What the started plugins put in a page's slot (see plugin_system.pages)."""
        return self.plugins.slot_items(slot) if self.plugins else []

    def plugin_states(self) -> list[dict[str, Any]]:
        return self.plugins.states() if self.plugins else []


class ServerRuntime(ServiceRuntime):
    service = SERVER

    def __init__(self, config: ServiceConfig):
        super().__init__(config)
        self.peers = PeerRegistry()
        self.vortex = ServerVortex(config, lambda: self._engine, self.peers)
        self.dask = DaskConnector(config)
        self.workers = self.dask.pool
        self.install_jobs = InstallJobs(self)
        self.embedded: EmbeddedPostgres | None = (
            embedded_postgres(config) if uses_embedded(config) else None)
        self._engine: sqlalchemy.Engine | None = None

    @property
    def database_url(self) -> str:
        return database_url(self.config)

    def start(self) -> None:
        if self.embedded:
            self.embedded.start()
        # Every vortex thread may hold a connection (an action's transaction).
        self._engine = sqlalchemy.create_engine(
            self.database_url, pool_pre_ping=True,
            pool_size=self.config.get("vortex.threads") + 4, max_overflow=10)
        self.dask.start()

    @property
    def engine(self) -> sqlalchemy.Engine | None:
        return self._engine

    def connect(self) -> None:
        self.vortex.start()

    def apply_plugins(self) -> tuple[list[str], list[str]]:
        # The config files are the truth: operations (CLI, admin site) change them.
        self.config.set("plugin.enabled",
                        load_config(SERVER, self.config.home.parent).get("plugin.enabled"))
        return super().apply_plugins()

    def plugins_frame(self) -> str:
        """What every client and agent service should run (see plugin_system.sync)."""
        return sync.plugins_frame(self.config.home.parent,
                                  list(self.config.get("plugin.enabled") or []),
                                  tuples.per_user_types(),
                                  self.vortex.observables.internal(),
                                  *self.vortex.actions.device_access())

    def _plugins_applied(self) -> None:
        message = self.plugins_frame()
        for peer in self.peers.all():
            peer.link.send(message)
        self.dask.plugins_changed()  # workers restart with the new set: not in this request

    def stop(self) -> None:
        self.peers.close_all()
        self.vortex.stop()
        super().stop()
        self.dask.stop()
        if self._engine is not None:
            self._engine.dispose()
        if self.embedded and self.embedded.started_here:
            self.embedded.stop()

    def _database_ok(self) -> tuple[bool, str | None]:
        try:
            assert self._engine is not None, "not started"
            with self._engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
            return True, None
        except Exception as e:  # a health check reports, never raises
            return False, str(e).splitlines()[0]

    def connections(self) -> tuple[dict[str, Any], bool]:
        db_ok, db_error = self._database_ok()
        return {
            "database": {"url": safe_url(self.database_url), "embedded": bool(self.embedded),
                         "ok": db_ok, "error": db_error},
            "clients": [p.as_dict() for p in self.peers.by_service(CLIENT)],
            "agents": [p.as_dict() for p in self.peers.by_service(AGENT)],
            "workers": self.dask.workers(),
            "dask": self.dask.as_dict(),
        }, db_ok


class PeerRuntime(ServiceRuntime):
    """Client and agent: everything goes through the link to the server."""

    def __init__(self, config: ServiceConfig):
        super().__init__(config)
        self.upstream = UpstreamLink(config, self.plugin_states)
        self.vortex = PeerVortex(config, self.upstream.send, lambda: self.upstream.connection)
        self.vortex.on_plugins = self._sync_plugins
        self.upstream.vortex = self.vortex
        # One plugin change at a time, off the link's thread (fetching takes a while).
        self._syncing = ThreadPoolExecutor(1, thread_name_prefix="plugin-sync")
        self._synced: str | None = None

    def connect(self) -> None:
        self.vortex.start()
        self.upstream.start()

    def device_sign_in(self) -> tuple[Any, str | None]:
        """The sign-in devices go through (None: they are anonymous), and,
        when none is registered, why devices must wait: an enabled sign-in
        plugin (``client.deviceSignIn``) that is not running.  Devices are then
        refused, never let in anonymously."""
        sign_in = self.vortex.sign_in
        if sign_in is not None or self.plugins is None:
            return sign_in, None
        enabled = set(self.config.get("plugin.enabled") or [])
        for record in list(self.plugins.records.values()):
            manifest = record.found.manifest
            if record.name in enabled and manifest is not None and manifest.device_sign_in:
                return None, f"{record.name}, which devices sign in through, is {record.state}"
        return None, None

    def _sync_plugins(self, message: Any) -> None:
        tuples.learn_server_per_user(message.per_user or [])  # at once, before any sync
        self.vortex.learn_exposure(message)
        self._syncing.submit(self._sync, message)

    def _sync(self, message: Any) -> None:
        """Run the plugins the server's ``plugins`` frame lists."""
        if message.fingerprint == self._synced:
            return
        try:
            wanted = message.plugins or []
            sync.fetch_missing(self.config, wanted)
            enabled = [str(p["name"]) for p in wanted]
            if enabled != self.config.get("plugin.enabled"):
                self.config.set("plugin.enabled", enabled)
                self.config.save()
            self.apply_plugins()
            self._synced = message.fingerprint
        except Exception:  # keep what runs; the next frame or reconnect tries again
            log.exception("Could not apply the server's plugins on this %s service",
                          self.service)
            self._plugins_applied()

    def _plugins_applied(self) -> None:
        self.upstream.send(frame("plugin_states", plugins=self.plugin_states()))

    def stop(self) -> None:
        self.upstream.stop()
        self._syncing.shutdown(wait=True, cancel_futures=True)
        self.vortex.stop()
        super().stop()

    def connections(self) -> tuple[dict[str, Any], bool]:
        return {"server": self.upstream.as_dict(),
                "devices": len(self.vortex.devices), "pages": len(self.vortex.pages),
                "actions_in_flight": self.vortex.actions.in_flight,
                **self.vortex.proxy.stats()}, self.upstream.connected


class ClientRuntime(PeerRuntime):
    service = CLIENT


class AgentRuntime(PeerRuntime):
    service = AGENT


RUNTIMES: dict[str, type[ServiceRuntime]] = {
    SERVER: ServerRuntime, CLIENT: ClientRuntime, AGENT: AgentRuntime}


def make_runtime(config: ServiceConfig) -> ServiceRuntime:
    return RUNTIMES[config.service](config)


def current_runtime() -> Any:
    return current_app.extensions["peek"]
