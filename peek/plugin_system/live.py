"""Plugin changes made on a running platform, carried to every service.

Each change (install or upgrade, enable, disable, uninstall, rollback) is the
same file operation as the CLI's (:mod:`peek.plugin_system.operations`),
then the server applies it at once, hands it to the client and agent services
and the Dask workers, and waits for them to report the plugin's state.  An
upload runs as an :class:`InstallJob` whose stages the admin site shows.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peek.plugin_system import operations
from peek.plugin_system.manager import STARTED
from peek.plugin_system.packages import PluginOperationError
from peek.plugin_system.service_states import instances_of, service_columns

log = logging.getLogger(__name__)

#: Seconds the platform waits for every service to report a changed plugin.
SERVICES_TIMEOUT_S = 30.0
#: States of a plugin that a service reached once it applied a change.
SETTLED = {STARTED, "failed", "not started"}
#: Upload jobs kept for their progress pages.
KEEP_JOBS = 20

STAGES = ("upload", "validate and install", "migrate and start on the server",
          "start on every service", "done")


def wait_for_services(runtime: Any, name: str, version: str | None, running: bool,
                      workers: int = 0,
                      timeout: float = SERVICES_TIMEOUT_S) -> dict[str, dict[str, Any]]:
    """Wait until every service the plugin runs on reports it started in
    ``version`` (``running``) or no longer started; returns the last states.
    ``workers``: how many Dask workers must report (they restart meanwhile)."""
    record = runtime.plugins.records.get(name)
    services = set(record.found.manifest.requires_services) if record and \
        record.found.manifest else set()
    if "worker" not in services:
        workers = 0
    deadline = time.monotonic() + timeout
    while True:
        states = {i: s for i, s in instances_of(service_columns(runtime), name).items()
                  if s["service"] in services}
        if sum(s["service"] == "worker" for s in states.values()) < workers:
            done = False
        elif running:
            done = all(s["state"] in SETTLED and s.get("version") == version
                       for s in states.values())
        else:
            done = all(s["state"] != STARTED for s in states.values())
        if done:
            return states
        if time.monotonic() > deadline:
            missing = workers - sum(s["service"] == "worker" for s in states.values())
            for n in range(missing):  # said, not left out: the job must not say "all"
                states[f"worker {n + 1} of {workers}"] = {
                    "service": "worker", "state": "no answer", "version": None,
                    "error": f"no report within {timeout:g} s"}
            return states
        time.sleep(0.25)  # each look asks every Dask worker


def _home(runtime: Any) -> Path:
    return runtime.config.home.parent


def _version(runtime: Any, name: str) -> str | None:
    record = runtime.plugins.records.get(name)
    return record.found.manifest.version if record and record.found.manifest else None


def enable(runtime: Any, name: str) -> dict[str, dict[str, Any]]:
    operations.enable_plugin(name, _home(runtime))
    workers = runtime.dask.expected_workers()
    runtime.apply_plugins()
    return wait_for_services(runtime, name, _version(runtime, name), True, workers)


def disable(runtime: Any, name: str) -> dict[str, dict[str, Any]]:
    operations.disable_plugin(name, _home(runtime))
    workers = runtime.dask.expected_workers()
    runtime.apply_plugins()
    return wait_for_services(runtime, name, None, False, workers)


def uninstall(runtime: Any, name: str, drop_data: bool) -> None:
    """Stopped everywhere first, then removed (and its schema dropped if asked)."""
    home = _home(runtime)
    if name in operations.enabled_plugins(home):
        disable(runtime, name)
    operations.uninstall_plugin(name, home, drop_data=drop_data)
    runtime.apply_plugins()


def rollback(runtime: Any, name: str) -> tuple[str, str]:
    newer, older = operations.rollback_plugin(name, _home(runtime))
    workers = runtime.dask.expected_workers()
    runtime.apply_plugins()
    if name in operations.enabled_plugins(_home(runtime)):  # a disabled one runs nowhere
        wait_for_services(runtime, name, older, True, workers)
    return newer, older


@dataclass
class InstallJob:
    """One uploaded package on its way to every service."""

    filename: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stage: str = STAGES[1]
    error: str | None = None
    name: str | None = None
    version: str | None = None
    previous: str | None = None
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.stage == STAGES[-1] or self.error is not None

    @property
    def progress(self) -> int:
        """Stages passed, out of ``len(STAGES) - 1``."""
        return STAGES.index(self.stage)

    @property
    def failed_services(self) -> list[str]:
        return [i for i, s in self.states.items() if s["state"] != STARTED]


class InstallJobs:
    """The server's upload jobs: each runs in its own thread, one install at a time."""

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self._jobs: dict[str, InstallJob] = {}
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()

    def get(self, job_id: str) -> InstallJob | None:
        return self._jobs.get(job_id)

    def start(self, filename: str, upload: Any) -> InstallJob:
        """``upload``: a file object with the package; copied before returning."""
        job = InstallJob(_safe_filename(filename))
        scratch = Path(tempfile.mkdtemp(prefix="peek-upload-"))
        path = scratch / job.filename
        with open(path, "wb") as out:
            shutil.copyfileobj(upload, out)
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-KEEP_JOBS]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job, path), name=f"install-{job.id}",
                         daemon=True).start()
        return job

    def _run(self, job: InstallJob, path: Path) -> None:
        try:
            with self._one_at_a_time:
                installed = operations.install_plugin(path, _home(self.runtime))
                job.name, job.version, job.previous = (installed.name, installed.version,
                                                       installed.previous)
                job.stage = STAGES[2]
                workers = self.runtime.dask.expected_workers()
                self.runtime.apply_plugins()
                record = self.runtime.plugins.records.get(installed.name)
                if record is not None and record.state == "failed":
                    raise PluginOperationError(f"{installed.name} {installed.version} was "
                                               f"installed but failed on the server: "
                                               f"{record.error}")
                job.stage = STAGES[3]
                job.states = wait_for_services(self.runtime, installed.name,
                                               installed.version, True, workers)
                job.stage = STAGES[4]
            log.info("Plugin %s %s installed from the admin site in %.1f s: %s",
                     job.name, job.version, time.monotonic() - job.started,
                     {i: s["state"] for i, s in job.states.items()})
        except PluginOperationError as e:
            job.error = str(e)
            log.warning("Upload of %s refused: %s", job.filename, e)
        except Exception as e:  # the job says what happened; the platform goes on
            job.error = f"{type(e).__name__}: {e}"
            log.exception("Installing %s from the admin site failed", job.filename)
        finally:
            job.seconds = round(time.monotonic() - job.started, 1)
            shutil.rmtree(path.parent, ignore_errors=True)


def _safe_filename(name: str) -> str:
    """The uploaded file's own name, without any directory (its suffix tells
    the package kind)."""
    base = Path(name or "").name.strip()
    if not base or base.startswith("."):
        raise PluginOperationError("the upload has no file name; choose a .whl, .tar.gz "
                                   "or .zip file")
    return base
