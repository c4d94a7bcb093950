"""The server's connection to Dask: an embedded LocalCluster or a real scheduler.

A background thread starts (or joins) the cluster, hands the enabled plugins to
its workers, then watches the connection: when the scheduler goes away, tasks
fail at once with :class:`~peek.workers.errors.WorkersUnavailable` and the
thread reconnects with backoff, handing the plugins over again.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import dask

from peek.config import ServiceConfig
from peek.workers.pool import WorkerPool

log = logging.getLogger(__name__)

#: The path under which the admin site serves the Dask dashboard.
DASHBOARD_PREFIX = "/workers/dashboard"
RECONNECT_MAX_S = 30.0
WATCH_INTERVAL_S = 1.0
#: Seconds a worker once listed is still expected back (see expected_workers).
WORKER_MEMORY_S = 60.0
#: Seconds stopping waits for a plugin hand-over to Dask still under way.
HAND_OVER_GRACE_S = 10.0


def _queued_on_scheduler(dask_scheduler: Any) -> int:
    return len(dask_scheduler.queued) + len(dask_scheduler.unrunnable)


class DaskConnector:
    """Starts (or joins) the Dask cluster in the background, so that the sites
    come up at once while worker processes are still starting."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.address: str | None = config.get("dask.schedulerAddress")
        self.state = "starting"
        self.error: str | None = None
        self.cluster = None
        self.client = None
        self._dashboard: str | None = None
        self._seen: dict[str, float] = {}  # worker name -> when last listed
        self.pool = WorkerPool(self)
        self._plugins_lock = threading.RLock()
        self._changes_waiting = self._handing_over = False
        self._stopping = threading.Event()
        self._connected_once = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dask-connect", daemon=True)

    @property
    def embedded(self) -> bool:
        return not self.address

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until connected (or failed to start); True if connected."""
        self._connected_once.wait(timeout)
        return self.state == "connected"

    # -- connecting ------------------------------------------------------------------------
    def _run(self) -> None:
        from distributed import Client, LocalCluster

        # Importing distributed sets its own log level; ours applies.
        logging.getLogger("distributed").setLevel(
            max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
        try:
            if self.embedded:
                # The scheduler runs in the server's process: its event loop
                # checks itself for blocking 10 times a second, not 50.
                with dask.config.set({"distributed.scheduler.allowed-failures":
                                      self.config.get("dask.allowedFailures"),
                                      "distributed.admin.tick.interval": "100ms"}):
                    self.cluster = LocalCluster(
                        n_workers=self.config.get("dask.localWorkers"),
                        threads_per_worker=self.config.get("dask.threadsPerWorker"),
                        processes=True, host="127.0.0.1", scheduler_port=0,
                        dashboard_address=f"127.0.0.1:{self.config.get('dask.dashboardPort')}",
                        scheduler_kwargs={"http_prefix": DASHBOARD_PREFIX},
                        silence_logs=logging.WARNING)
        except Exception as e:  # any failure leaves the platform running without workers
            self._give_up(e)
            return
        delay = 1.0
        while not self._stopping.is_set():
            try:
                client = Client(self.cluster or self.address, timeout="10s",
                                set_as_default=False)
            except Exception as e:  # scheduler not there (yet): try again later
                if self.state == "starting":
                    self._give_up(e, retrying=True)
                self._stopping.wait(delay * (0.5 + random.random()))
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            if self._stopping.is_set():
                client.close()
                return
            self.client = client
            self._hand_over_plugins()
            if self._stopping.is_set():  # stop() closed the client meanwhile
                return
            self._dashboard = self._find_dashboard(client)
            self.state, self.error, delay = "connected", None, 1.0
            self._connected_once.set()
            log.info("Dask %s at %s, dashboard %s",
                     "LocalCluster started" if self.embedded else "scheduler joined",
                     client.scheduler.address, self.dashboard_target or "not installed")
            self._watch(client)

    def _give_up(self, error: Exception, retrying: bool = False) -> None:
        self.state, self.error = ("reconnecting" if retrying else "unavailable"), str(error)
        log.error("Dask is unavailable (%s): %s%s",
                  "LocalCluster" if self.embedded else self.address, error,
                  "; retrying" if retrying else "")
        self._connected_once.set()

    def _watch(self, client: Any) -> None:
        """Follow the client's own reconnecting; return once it gave up."""
        lost = False
        while not self._stopping.wait(WATCH_INTERVAL_S):
            status = client.status
            if status == "running":
                if lost:  # a new scheduler knows none of our plugins
                    self._hand_over_plugins()
                    self._dashboard = self._find_dashboard(client)
                    self.state, self.error, lost = "connected", None, False
                    log.info("Reconnected to the Dask scheduler at %s",
                             client.scheduler.address)
                continue
            if not lost:
                lost = True
                self.state, self.error = "reconnecting", f"connection lost ({status})"
                log.error("Lost the Dask scheduler at %s; tasks fail until it is back",
                          self.address or "the LocalCluster")
            if status in ("closing", "closed"):
                return

    def _hand_over_plugins(self) -> None:
        try:
            self.update_plugins()
        except Exception as e:  # workers run, but without Peek's plugins
            log.error("Could not hand Peek's plugins to the Dask workers: %s", e)

    def plugins_changed(self) -> None:
        """Hand the plugins over again, soon and off the caller's thread; changes
        made meanwhile go over together."""
        with self._plugins_lock:
            self._changes_waiting = True
            if self._handing_over:
                return
            self._handing_over = True
        threading.Thread(target=self._hand_over_changes, name="dask-plugins",
                         daemon=True).start()

    def _hand_over_changes(self) -> None:
        while True:
            with self._plugins_lock:
                if not self._changes_waiting or not self.connected:
                    self._handing_over = False
                    return
                self._changes_waiting = False
            self._hand_over_plugins()

    def update_plugins(self) -> str:
        """Send the enabled plugins to every worker (now and joining later);
        workers running other versions change over in place.  Returns the
        fingerprint."""
        from peek.storage.database import database_url
        from peek.workers.bundle import build_bundle
        from peek.workers.worker_plugin import PeekWorkerPlugin

        with self._plugins_lock:
            bundle = build_bundle(self.config.home.parent,
                                  list(self.config.get("plugin.enabled") or []))
            self.client.register_plugin(PeekWorkerPlugin(bundle, database_url(self.config)))
            log.info("Peek plugins %s handed to the Dask workers", bundle["fingerprint"])
            return bundle["fingerprint"]

    # -- what the admin site shows ---------------------------------------------------------
    def plugin_states(self) -> dict[str, list[dict[str, Any]]]:
        """Each worker's plugins and their states, by worker address."""
        from peek.workers.worker_plugin import worker_plugin_states

        if not self.connected:
            return {}
        try:
            return self.client.run(worker_plugin_states, on_error="return")
        except Exception as e:  # scheduler gone: nothing to report
            log.warning("Could not ask the Dask workers for their plugins: %s", e)
            return {}

    @property
    def connected(self) -> bool:
        return self.state == "connected" and self.client is not None

    @property
    def dashboard_target(self) -> str | None:
        """Where the scheduler serves its dashboard (for the admin site's proxy)."""
        return self._dashboard if self.connected else None

    def _find_dashboard(self, client: Any) -> str | None:
        """Asked once per connection: the dashboard's port does not change."""
        if not importlib.util.find_spec("bokeh"):
            return None
        try:
            port = client.scheduler_info(n_workers=0)["services"].get("dashboard")
        except Exception:  # scheduler gone
            return None
        if not port:
            return None
        return f"http://{urlsplit(client.scheduler.address).hostname}:{port}"

    def total_threads(self) -> int:
        try:
            return sum(self.client.nthreads().values()) if self.connected else 0
        except Exception:  # scheduler gone
            return 0

    def workers(self) -> list[dict[str, Any]]:
        """Each worker: name, address, threads, memory, tasks it runs and holds ready."""
        if not self.connected:
            return []
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except Exception as e:  # scheduler gone: report it, do not raise into a request
            log.warning("Dask scheduler not answering: %s", e)
            return []
        rows = []
        now = time.monotonic()
        for address, w in sorted(info.get("workers", {}).items()):
            self._seen[str(w.get("name"))] = now
            metrics = w.get("metrics", {})
            counts = metrics.get("task_counts", {})
            rows.append({"address": address, "name": str(w.get("name")),
                         "threads": w.get("nthreads"), "memory": metrics.get("memory"),
                         "memory_limit": w.get("memory_limit"),
                         "running": counts.get("executing", 0),
                         "ready": counts.get("ready", 0)})
        return rows

    def expected_workers(self) -> int:
        """Workers seen in the last ``WORKER_MEMORY_S`` seconds: one its nanny
        is restarting is gone from the scheduler for a moment."""
        self.workers()
        since = time.monotonic() - WORKER_MEMORY_S
        self._seen = {name: at for name, at in self._seen.items() if at >= since}
        return len(self._seen)

    def status(self) -> dict[str, Any]:
        """The Workers page's figures: workers, tasks queued, the platform's counts."""
        queued = None
        if self.connected:
            try:
                queued = self.client.run_on_scheduler(_queued_on_scheduler)
            except Exception as e:  # scheduler gone
                log.debug("Asking the scheduler for its queue: %s", e)
        return {**self.as_dict(), "workers": self.workers(), "queued": queued,
                "tasks": self.pool.stats(), "jobs": [j.as_dict() for j in self.pool.jobs]}

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "embedded": self.embedded, "error": self.error,
                "scheduler": self.client.scheduler.address if self.client else self.address,
                "dashboard": DASHBOARD_PREFIX + "/status" if self.dashboard_target else None}

    # -- stopping --------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        # A hand-over under way may finish; one the scheduler keeps waiting
        # (on a worker that is gone) is cut off by closing the client.
        self._thread.join(timeout=HAND_OVER_GRACE_S)
        if self._thread.is_alive() and self.client is not None:
            log.warning("Dask did not finish taking Peek's plugins in %.0f s; closing the "
                        "client anyway", HAND_OVER_GRACE_S)
            try:
                self.client.close(timeout=10)
            except Exception as e:  # shutting down: log, carry on closing
                log.warning("Closing the Dask client: %s", e)
            self._thread.join(timeout=30)
        self.pool.close()
        for part in (self.client, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception as e:  # shutting down: log, carry on closing
                    log.warning("Closing Dask: %s", e)
        self.state = "stopped"
