"""Plugin tasks on a real Dask LocalCluster of worker processes, submitted from
the server through ``platform.workers``."""

from __future__ import annotations

import traceback

import dask
import pytest
from distributed import LocalCluster

from peek.plugin_api import BatchFailed, TaskKilledWorker, TaskTimeout
from peek.plugins.peek_plugin_noop._private.worker import tasks
from peek.workers.cluster import DASHBOARD_PREFIX
from tests.admin_session import admin_client, sign_in_page
from tests.conftest import wait_for, write_config

NOOP = "peek_plugin_noop"


@pytest.fixture(scope="module")
def two_workers():
    """Two single-thread worker processes; a task may kill one worker only once;
    each worker is given one task at a time (so two tasks run on two workers)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               scheduler_kwargs={"http_prefix": DASHBOARD_PREFIX})
    yield cluster
    cluster.close()


def _start_server(home, site_ports, database_url, cluster, start_service, listen):
    write_config(home, "server", {
        "http": {"port": site_ports["admin"]}, "server": {"port": site_ports["server"]},
        "sqlalchemy": {"connectUrl": database_url},
        "dask": {"schedulerAddress": cluster.scheduler_address}})
    process = start_service("server", listen=listen)
    assert process.runtime.dask.wait(60), process.runtime.dask.error
    return process


@pytest.fixture
def server(home, site_ports, database_url, two_workers, start_service):
    return _start_server(home, site_ports, database_url, two_workers, start_service, False)


@pytest.fixture
def server_listening(home, site_ports, database_url, two_workers, start_service):
    return _start_server(home, site_ports, database_url, two_workers, start_service, True)


@pytest.fixture
def noop(server):
    """The noop plugin's platform handle on the server."""
    return server.runtime.plugins.records[NOOP].platform


def test_a_task_returns_its_result_and_reads_the_database_on_the_worker(noop):
    assert noop.workers.submit(tasks.add, 2, b=3).result(timeout=60) == 5
    # task_platform() gives the task its plugin's settings, from the database.
    assert noop.workers.submit(tasks.greeting).result(timeout=60) == "Hello from noop"
    futures = noop.workers.map(tasks.add, range(50), range(50))
    assert [f.result(timeout=60) for f in futures] == [2 * i for i in range(50)]


def test_a_task_raising_gives_its_exception_with_the_workers_traceback(noop):
    future = noop.workers.submit(tasks.fail, "no such meter")
    with pytest.raises(ValueError, match="no such meter") as raised:
        future.result(timeout=60)
    frames = traceback.extract_tb(raised.value.__traceback__)
    assert any(f.name == "fail" and f.filename.endswith("worker/tasks.py") for f in frames)
    # Retries rerun a raising task, then give its exception.
    with pytest.raises(ValueError, match="again"):
        noop.workers.submit(tasks.fail, "again", retries=2).result(timeout=60)


def test_tasks_must_be_the_plugins_own_module_level_functions(noop):
    with pytest.raises(ValueError, match="module level"):
        noop.workers.submit(lambda: 1)
    with pytest.raises(ValueError, match="its own package"):
        noop.workers.submit(traceback.format_exc)
    with pytest.raises(ValueError, match="timeout must be a positive"):
        noop.workers.submit(tasks.noop, timeout=0)


def test_a_task_killing_its_worker_is_retried_then_fails_and_workers_go_on(noop, server):
    with pytest.raises(TaskKilledWorker, match="2 different workers"):
        noop.workers.submit(tasks.die).result(timeout=120)
    assert noop.workers.submit(tasks.add, 1, 1).result(timeout=120) == 2
    assert server.runtime.dask.pool.stats()["failed"] >= 1


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _both_workers_idle(server) -> None:
    """An earlier test's killed workers may still be restarting."""
    client = server.runtime.dask.client
    wait_for(lambda: [len(keys) for keys in client.processing().values()] == [0, 0],
             timeout=60, what="two idle workers")


def test_tasks_on_the_same_chunk_never_run_at_once(noop, server):
    _both_workers_idle(server)
    futures = {chunk: [noop.workers.submit(tasks.sleep, 0.3, chunk=chunk) for _ in range(4)]
               for chunk in ("grid-1", "grid-2")}
    spans = {chunk: [f.result(timeout=60) for f in fs] for chunk, fs in futures.items()}
    for chunk, chunk_spans in spans.items():
        ordered = sorted(chunk_spans)
        assert not any(_overlap(a, b) for a, b in zip(ordered, ordered[1:])), chunk
    # Different chunks did run side by side on the two workers.
    assert any(_overlap(a, b) for a in spans["grid-1"] for b in spans["grid-2"])


def test_a_batch_job_runs_in_blocks_and_reports_progress(noop, server):
    job = noop.workers.batch(tasks.double_all, range(1000), chunk_size=64, title="doubling")
    assert job.result(timeout=120) == [2 * i for i in range(1000)]
    assert (job.blocks, job.done, job.failed, job.progress) == (16, 1000, 0, 1.0)
    assert server.runtime.dask.status()["jobs"][0]["title"] == "doubling"


def test_a_failing_block_fails_the_job_and_the_others_complete(noop):
    items = list(range(100)) + [-1] + list(range(100))
    job = noop.workers.batch(tasks.double_all, items, chunk_size=50)
    with pytest.raises(BatchFailed, match="1 of 5 blocks failed") as raised:
        job.result(timeout=120)
    assert isinstance(raised.value.__cause__, ValueError)
    assert (job.done, job.failed) == (151, 50)  # blocks of 50, 50, 50 (failed), 50, 1


def test_blocks_of_the_same_key_never_run_at_once(noop, server):
    _both_workers_idle(server)
    items = [("a", 0.2)] * 6 + [("b", 0.2)] * 6
    job = noop.workers.batch(tasks.sleep_block, items, chunk_size=2, key=lambda item: item[0])
    results = job.result(timeout=120)
    spans = {key: sorted({tuple(results[i]) for i, item in enumerate(items) if item[0] == key})
             for key in ("a", "b")}
    for key, key_spans in spans.items():
        assert len(key_spans) == 3
        assert not any(_overlap(x, y) for x, y in zip(key_spans, key_spans[1:])), key
    assert any(_overlap(x, y) for x in spans["a"] for y in spans["b"])


def test_a_task_over_its_timeout_fails_with_a_clear_error(noop):
    # Last in this module: the task goes on sleeping on its worker (a running
    # Dask task cannot be interrupted), only its result is dropped.
    with pytest.raises(TaskTimeout, match=r"sleep had no result within 0.5 s"):
        noop.workers.submit(tasks.sleep, 2, timeout=0.5).result(timeout=30)


def test_workers_page_lists_the_cluster_and_serves_the_dask_dashboard(server, noop):
    noop.workers.batch(tasks.double_all, range(10), chunk_size=5, title="tiny").result(60)
    admin = admin_client(server.apps["admin"])
    page = admin.get("/workers").get_data(as_text=True)
    assert "Peek Admin" in page and 'href="/workers"' in page  # in the admin menu
    for worker in server.runtime.dask.workers():
        assert worker["address"] in page
    assert 'href="/workers/dashboard/status"' in page
    assert '<progress value="10" max="10">' in page and "tiny" in page
    dashboard = admin.get("/workers/dashboard/status")
    assert dashboard.status_code == 200
    assert "Bokeh" in dashboard.get_data(as_text=True)


def test_workers_page_shows_a_running_batch_live_with_the_dashboard_plots(
        home, site_ports, server_listening, page_in):
    noop = server_listening.runtime.plugins.records[NOOP].platform
    page = page_in()
    # On the page first (signing in takes a while on a busy machine): the batch
    # then appears in the page's next refresh.
    sign_in_page(page, f"http://127.0.0.1:{site_ports['admin']}",
                 server_listening.runtime.database_url, "/workers")
    job = noop.workers.batch(tasks.sleep_block, [("x", 0.25)] * 40, chunk_size=1,
                             title="slow batch")
    bar = page.locator("article.peek-job", has_text="slow batch").locator("progress")
    first = int(bar.get_attribute("value"))
    assert first < 40
    page.wait_for_function(
        f"() => Number(document.querySelector('article.peek-job progress').value) > {first}",
        timeout=30000)
    job.result(timeout=120)
    page.wait_for_selector("article.peek-job[data-finished=true]", timeout=30000)

    link = page.get_attribute("#dask-dashboard", "href")
    # Leaving the page must not abort its 2 s refresh mid-request (a failed
    # request): stop refreshing just after one has finished.
    with page.expect_request_finished(lambda r: "/workers/status" in r.url, timeout=30000):
        pass
    page.evaluate("document.getElementById('workers-status').remove()")
    with page.expect_websocket(lambda ws: "/workers/dashboard/" in ws.url) as opened:
        page.goto(f"http://127.0.0.1:{site_ports['admin']}{link}")
    opened.value.wait_for_event("framereceived", timeout=30000)  # Bokeh's plots, live
    page.wait_for_selector(".bk-Column, .bk-Row, .bk-Figure, .bk-Tabs", state="attached",
                           timeout=30000)
