"""Worker benchmark: plugin tasks through ``platform.workers`` beside a direct
Dask client on the same cluster, in the same run.

The server runs in this process (on the embedded PostgreSQL of a new
PEEK_HOME) with its embedded LocalCluster of 2 single-thread worker processes;
tasks are the bundled noop plugin's (``peek_plugin_noop/_private/worker/tasks.py``).
The direct client connects to the same scheduler and runs the same functions.

- batch_items_per_s: ``workers.batch(double_all, range(100_000))`` with the
  default chunk size (100 items per block).
- tasks_per_s / direct_tasks_per_s: 10,000 single ``add`` tasks, sent with
  ``workers.map`` / ``Client.map``, until every result is back.
- roundtrip_p50_ms / direct_roundtrip_p50_ms: one ``add`` task submitted and
  its result waited for, 300 times in a row.
- speedup_2_vs_1: a CPU-bound job (``spin``, 64 blocks) on 2 worker processes
  against the same job after the cluster is scaled down to 1.

Every figure is the median of 3 runs after a warm-up run.
Prints ``BENCH worker ...`` on stdout; progress goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vortex_bench import bench_dir, free_port, report  # noqa: E402

RUNS = 3
BATCH_ITEMS = 100_000
TASKS = 10_000
ROUNDTRIPS = 300
SPIN_BLOCKS, SPIN_ITEMS, SPIN_ROUNDS = 64, 4, 40_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_of(measure, runs: int = RUNS) -> float:
    measure()  # warm-up
    return statistics.median(measure() for _ in range(runs))


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure() -> str:
    from distributed import Client

    from peek.config import load_config
    from peek.plugins.peek_plugin_noop._private.worker import tasks
    from peek.serve import ServiceProcess

    logging.basicConfig(level=logging.WARNING)
    with bench_dir() as home:
        os.environ["PEEK_HOME"] = str(home)
        config_dir = home / "peek-server.home"
        config_dir.mkdir()
        (config_dir / "config.json").write_text(json.dumps({
            "http": {"port": free_port()}, "server": {"port": free_port()},
            "embeddedPostgres": {"port": free_port()}, "logging": {"level": "WARNING"},
            "dask": {"localWorkers": 2, "threadsPerWorker": 1,
                     "dashboardPort": free_port()}}))
        server = ServiceProcess(load_config("server", home))
        server.start(listen=False)
        try:
            dask = server.runtime.dask
            if not dask.wait(180):
                raise RuntimeError(f"Dask did not start: {dask.error}")
            workers = server.runtime.plugins.records["peek_plugin_noop"].platform.workers
            direct = Client(dask.client.scheduler.address, set_as_default=False)
            try:
                return _figures(dask, workers, direct, tasks)
            finally:
                direct.close()
        finally:
            server.stop()


def _figures(dask, workers, direct, tasks) -> str:
    def batch() -> float:
        job = workers.batch(tasks.double_all, range(BATCH_ITEMS))
        start = time.perf_counter()
        job.result(timeout=600)
        return BATCH_ITEMS / (time.perf_counter() - start)

    def platform_tasks() -> float:
        return TASKS / timed(lambda: [f.result(600) for f in
                                      workers.map(tasks.add, range(TASKS), range(TASKS))])

    def direct_tasks() -> float:
        return TASKS / timed(lambda: direct.gather(
            direct.map(tasks.add, range(TASKS), range(TASKS), pure=False)))

    def platform_roundtrip() -> float:
        return statistics.median(timed(lambda: workers.submit(tasks.add, 1, 1).result(60))
                                 for _ in range(ROUNDTRIPS)) * 1000

    def direct_roundtrip() -> float:
        return statistics.median(
            timed(lambda: direct.submit(tasks.add, 1, 1, pure=False).result(60))
            for _ in range(ROUNDTRIPS)) * 1000

    def spin() -> float:
        items = [SPIN_ROUNDS] * (SPIN_BLOCKS * SPIN_ITEMS)
        return timed(lambda: workers.batch(tasks.spin, items, chunk_size=SPIN_ITEMS)
                     .result(timeout=600))

    figures = {}
    log("batch of 100,000 items ...")
    figures["batch_items_per_s"] = best_of(batch)
    log("10,000 single tasks, platform and direct ...")
    figures["tasks_per_s"] = best_of(platform_tasks)
    figures["direct_tasks_per_s"] = best_of(direct_tasks)
    log("round trips ...")
    figures["roundtrip_p50_ms"] = best_of(platform_roundtrip)
    figures["direct_roundtrip_p50_ms"] = best_of(direct_roundtrip)
    log("CPU-bound job on 2 workers, then 1 ...")
    on_two = best_of(spin)
    dask.cluster.scale(1)
    dask.client.wait_for_workers(1)
    while len(dask.client.scheduler_info(n_workers=-1)["workers"]) > 1:
        time.sleep(0.2)
    on_one = best_of(spin)
    log(f"  {on_two:.2f} s on 2, {on_one:.2f} s on 1")
    figures["speedup_2_vs_1"] = on_one / on_two
    return " ".join(f"{k}={v:.0f}" if k.endswith("_per_s") else f"{k}={v:.2f}"
                    for k, v in figures.items())


if __name__ == "__main__":
    sys.exit(report("worker", measure))
