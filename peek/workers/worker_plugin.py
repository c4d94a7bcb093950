"""The Dask worker plugin that makes any Dask worker a Peek worker.

The server registers it with the scheduler, which hands it to every worker,
present and future (the LocalCluster's, ``peek worker``'s, a real cluster's).
In each worker process it unpacks the plugins the server sent, then loads and
starts the enabled plugins' worker hooks with database access.

A new hand-over (after an install, an upgrade, an enable) changes the plugins
in place, as the services do (:meth:`PluginManager.reconcile`): the worker
process keeps running and so do its unchanged plugins.  Restarting worker
processes instead left the scheduler broadcasting to workers already gone,
which stalled the next hand-over for the connect timeout.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

log = logging.getLogger(__name__)

NAME = "peek"

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
        previous, _running = _running, self
        home = Path(worker.local_directory) / "peek-home"
        if previous is not None and previous.manager is not None \
                and previous.database_url == self.database_url:
            self._take_over(previous, home, worker.name)
            return
        if previous is not None:  # another platform's database: start afresh
            previous.stop(forget=True)
        self._start(home, worker.name)

    def _start(self, home: Path, worker_name: str) -> None:
        import sqlalchemy

        from peek.config import load_config
        from peek.plugin_system.manager import PluginManager

        active = str(self._unpack(home))
        if active not in sys.path:
            sys.path.insert(0, active)  # before any other Peek home's plugins
        config = load_config("worker", home, write=False)
        config.set("plugin.enabled", list(self.bundle["enabled"]))
        self.engine = sqlalchemy.create_engine(self.database_url, pool_pre_ping=True)
        self.manager = PluginManager(config, engine=self.engine)
        self.manager.load_all()
        self.manager.start_all()
        log.info("Peek plugins on worker %s (%s): %s", worker_name, self.fingerprint,
                 {r["name"]: r["state"] for r in self.manager.states()})

    def _take_over(self, previous: "PeekWorkerPlugin", home: Path, worker_name: str) -> None:
        """Run the plugins ``previous`` ran, changed to this bundle's."""
        self.engine, self.manager = previous.engine, previous.manager
        self._unpack(home)
        self.manager.config.set("plugin.enabled", list(self.bundle["enabled"]))
        stopped, started = self.manager.reconcile()
        log.info("Peek plugins on worker %s changed (%s -> %s): stopped %s, started %s",
                 worker_name, previous.fingerprint, self.fingerprint,
                 stopped or "none", started or "none")

    def _unpack(self, home: Path) -> Path:
        from peek.workers.bundle import unpack_bundle

        return unpack_bundle(self.bundle, home)

    def stop(self, forget: bool = False) -> None:
        """Stop the plugins; ``forget`` also drops the modules of those the
        bundle shipped, so a later start imports the code sent then."""
        from peek.plugin_system.manager import forget_modules

        if self.manager is not None:
            self.manager.stop_all()
            if forget:
                for record in self.manager.records.values():
                    if record.found.name in self.bundle["packages"]:
                        forget_modules(record.found.module)
        if self.engine is not None:
            self.engine.dispose()

    def teardown(self, worker: Any) -> None:
        # A replacement registered by the server takes over in its setup; only
        # a closing worker stops its plugins here.
        global _running
        if _running is self and worker.status.name in ("closing", "closed", "failed",
                                                       "closing_gracefully"):
            self.stop()
            _running = None


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
