"""The Dask worker plugin that makes any Dask worker a Peek worker.

The server registers it with the scheduler, which hands it to every worker,
present and future (the LocalCluster's, ``peek worker``'s, a real cluster's).
On each worker it loads and starts the enabled plugins' worker hooks with
database access, and stops them when the worker closes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

log = logging.getLogger(__name__)

NAME = "peek"


class PeekWorkerPlugin(WorkerPlugin):
    name = NAME

    def __init__(self, enabled: list[str], database_url: str, home: str):
        self.enabled = enabled
        self.database_url = database_url
        self.home = home
        self.manager = None
        self.engine = None

    def setup(self, worker: Any) -> None:
        import sqlalchemy

        from peek.config import load_config
        from peek.plugin_system.manager import PluginManager

        # The server's enabled list wins: workers run what the server runs.
        config = load_config("worker", Path(self.home), write=False)
        config.set("plugin.enabled", list(self.enabled))
        self.engine = sqlalchemy.create_engine(self.database_url, pool_pre_ping=True)
        self.manager = PluginManager(config, engine=self.engine)
        self.manager.load_all()
        self.manager.start_all()
        log.info("Peek plugins on worker %s: %s", worker.name,
                 {r["name"]: r["state"] for r in self.manager.states()})

    def teardown(self, worker: Any) -> None:
        if self.manager is not None:
            self.manager.stop_all()
        if self.engine is not None:
            self.engine.dispose()


def worker_plugin_states(dask_worker: Any) -> list[dict[str, Any]]:
    """Run on a worker by ``Client.run``: its plugins and their states."""
    plugin = dask_worker.plugins.get(NAME)
    return plugin.manager.states() if plugin is not None and plugin.manager else []
