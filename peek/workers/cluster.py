"""The server's connection to Dask: an embedded LocalCluster or a real scheduler."""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

from peek.config import ServiceConfig

log = logging.getLogger(__name__)


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
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._connect, name="dask-connect",
                                        daemon=True)

    @property
    def embedded(self) -> bool:
        return not self.address

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.state == "connected"

    def _connect(self) -> None:
        from distributed import Client, LocalCluster

        # Importing distributed sets its own log level; ours applies.
        logging.getLogger("distributed").setLevel(
            max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
        try:
            if self.embedded:
                self.cluster = LocalCluster(
                    n_workers=self.config.get("dask.localWorkers"),
                    threads_per_worker=self.config.get("dask.threadsPerWorker"),
                    processes=True, host="127.0.0.1", scheduler_port=0,
                    dashboard_address=f"127.0.0.1:{self.config.get('dask.dashboardPort')}",
                    silence_logs=logging.WARNING)
                self.client = Client(self.cluster, set_as_default=False)
            else:
                self.client = Client(self.address, timeout="30s", set_as_default=False)
        except Exception as e:  # any failure leaves the platform running without workers
            self.state, self.error = "unavailable", str(e)
            log.error("Dask is unavailable (%s): %s",
                      "LocalCluster" if self.embedded else self.address, e)
            return
        if self._stopping.is_set():
            self._close()
            return
        try:
            self._register_worker_plugin()
        except Exception as e:  # workers run, but without Peek's plugins
            log.error("Could not hand Peek's plugins to the Dask workers: %s", e)
        self.state = "connected"
        log.info("Dask %s at %s, dashboard %s",
                 "LocalCluster started" if self.embedded else "scheduler joined",
                 self.client.scheduler.address, self.dashboard_link or "not installed")

    def _register_worker_plugin(self) -> None:
        from peek.storage.database import database_url
        from peek.workers.worker_plugin import PeekWorkerPlugin

        self.client.register_plugin(PeekWorkerPlugin(
            enabled=self.config.get("plugin.enabled"), database_url=database_url(self.config),
            home=str(self.config.home.parent)))

    def plugin_states(self) -> dict[str, list[dict[str, Any]]]:
        """Each worker's plugins and their states, by worker address."""
        from peek.workers.worker_plugin import worker_plugin_states

        if self.client is None or self.state != "connected":
            return {}
        try:
            return self.client.run(worker_plugin_states, on_error="return")
        except Exception as e:  # scheduler gone: nothing to report
            log.warning("Could not ask the Dask workers for their plugins: %s", e)
            return {}

    @property
    def dashboard_link(self) -> str | None:
        if self.client is None:
            return None
        try:
            return self.client.dashboard_link if importlib.util.find_spec("bokeh") else None
        except Exception:
            return None

    def workers(self) -> list[dict[str, Any]]:
        if self.client is None or self.state != "connected":
            return []
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except Exception as e:  # scheduler gone: report it, do not raise into a request
            log.warning("Dask scheduler not answering: %s", e)
            return []
        return [{"address": addr, "name": str(w.get("name")), "threads": w.get("nthreads"),
                 "memory_limit": w.get("memory_limit")}
                for addr, w in sorted(info.get("workers", {}).items())]

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "embedded": self.embedded, "error": self.error,
                "scheduler": self.client.scheduler.address if self.client else self.address,
                "dashboard": self.dashboard_link}

    def _close(self) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception as e:  # shutting down: log, carry on closing
                    log.warning("Closing Dask: %s", e)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=60)
        self._close()
        self.state = "stopped"
