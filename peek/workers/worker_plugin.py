"""The Dask plugins that make any Dask worker a Peek worker.

The server registers both with the scheduler, which hands them to every
worker and nanny, present and future (the LocalCluster's, ``peek worker``'s,
a real cluster's):

- :class:`PeekWorkerPlugin` (in each worker process) unpacks the plugins the
  server sent, then loads and starts the enabled plugins' worker hooks with
  database access.
- :class:`PeekNannyPlugin` (in each nanny) restarts its worker process when
  the plugins changed since that process imported them, so tasks submitted
  after an install or an update run the new code.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from distributed import NannyPlugin, WorkerPlugin

log = logging.getLogger(__name__)

NAME = "peek"
NANNY_NAME = "peek-restart"

#: The plugins this worker process runs (one Dask worker per process).
_running: "PeekWorkerPlugin | None" = None


class PeekWorkerPlugin(WorkerPlugin):
    name = NAME

    def __init__(self, bundle: dict[str, Any], database_url: str):
        self.bundle = bundle
        self.database_url = database_url
        self.manager = None
        self.engine = None

    @property
    def fingerprint(self) -> str:
        return self.bundle["fingerprint"]

    def setup(self, worker: Any) -> None:
        global _running
        if _running is not None and _running.fingerprint != self.fingerprint:
            # This process imported other versions; its nanny restarts it and the
            # new process loads these.  Until then the old plugins keep serving.
            log.info("Peek plugins changed (%s -> %s); worker %s restarts to load them",
                     _running.fingerprint, self.fingerprint, worker.name)
            return
        if _running is not None:
            _running.stop()
        self._start(worker)
        _running = self

    def _start(self, worker: Any) -> None:
        import sqlalchemy

        from peek.config import load_config
        from peek.plugin_system.manager import PluginManager
        from peek.workers.bundle import unpack_bundle

        home = Path(worker.local_directory) / "peek-home"
        active = str(unpack_bundle(self.bundle, home))
        if active not in sys.path:
            sys.path.insert(0, active)  # before any other Peek home's plugins
        config = load_config("worker", home, write=False)
        config.set("plugin.enabled", list(self.bundle["enabled"]))
        self.engine = sqlalchemy.create_engine(self.database_url, pool_pre_ping=True)
        self.manager = PluginManager(config, engine=self.engine)
        self.manager.load_all()
        self.manager.start_all()
        log.info("Peek plugins on worker %s (%s): %s", worker.name, self.fingerprint,
                 {r["name"]: r["state"] for r in self.manager.states()})

    def stop(self) -> None:
        if self.manager is not None:
            self.manager.stop_all()
        if self.engine is not None:
            self.engine.dispose()

    def teardown(self, worker: Any) -> None:
        # A replacement registered by the server stops this one in its setup;
        # only a closing worker stops its plugins here.
        global _running
        if _running is self and worker.status.name in ("closing", "closed", "failed",
                                                       "closing_gracefully"):
            self.stop()
            _running = None


class PeekNannyPlugin(NannyPlugin):
    name = NANNY_NAME

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint
        self.restart = False

    def setup(self, nanny: Any) -> None:
        previous = getattr(nanny, "peek_fingerprint", None)
        nanny.peek_fingerprint = self.fingerprint
        self.restart = previous is not None and previous != self.fingerprint


class WorkerPluginError(RuntimeError):
    """A task's plugin is not running on the worker that got the task."""


def check_owner(owner: str) -> None:
    """Refuse a task whose plugin is not started on this worker, saying why."""
    from peek.plugin_system.manager import STARTED

    manager = _running.manager if _running is not None else None
    if manager is None:
        raise WorkerPluginError("this Dask worker runs no Peek plugins: the server has not "
                                "registered its worker plugin here (see docs/workers.md)")
    record = manager.records.get(owner)
    if record is None or record.state != STARTED:
        state = "not installed" if record is None else record.state
        why = f": {record.error}" if record is not None and record.error else ""
        raise WorkerPluginError(f"{owner} is {state} on this worker{why}")


def task_platform() -> Any:
    """The platform handle of the plugin whose task runs in this thread."""
    from peek.workers.runner import current_owner

    owner = current_owner()
    if owner is None or _running is None or _running.manager is None:
        raise WorkerPluginError("task_platform() is for worker tasks a plugin submitted")
    return _running.manager.records[owner].platform


def worker_plugin_states(dask_worker: Any) -> list[dict[str, Any]]:
    """Run on a worker by ``Client.run``: its plugins and their states."""
    return _running.manager.states() if _running is not None and _running.manager else []
