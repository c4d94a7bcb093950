"""Install benchmark: a plugin uploaded on the admin site, live on every service.

A real platform on one machine: ``peek server`` (embedded PostgreSQL of a new
PEEK_HOME, a LocalCluster of one worker), ``peek client`` and ``peek agent`` as
separate processes.  A plugin wheel that runs on all four services is uploaded
through the admin site's Plugins page (the endpoint its drag-and-drop uses),
first as a warm-up install, then replaced by newer versions ``REPLACEMENTS``
times.  Meanwhile a load generator requests pages of the admin and mobile
sites in a loop.

- started_all_s: from the upload's first byte until the job reports the new
  version started on the server, the client, the agent and the worker
  (median over the replacements);
- first_install_s: the same for the first install;
- failed_requests: load-generator requests that did not get a 200, over the
  whole run; requests: how many it made.

Prints ``BENCH install started_all_s=.. first_install_s=.. failed_requests=..
requests=..`` or ``BENCH install error="why"``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from vortex_bench import bench_dir, bench_home, report, running

from tests.admin_session import admin_requests  # noqa: E402 (vortex_bench finds the repo)
from tests.test_live_install import MIGRATIONS, Poller, upload, wheel  # noqa: E402

REPLACEMENTS = 5


def timed_upload(platform: dict, path: Path) -> float:
    started = time.perf_counter()
    job = upload(platform, path)
    elapsed = time.perf_counter() - started
    if "Running on every service it needs" not in job:
        raise RuntimeError(f"{path.name} did not start everywhere: {job[-500:]}")
    return elapsed


def measure() -> str:
    with bench_dir() as tmp:
        home, scratch = tmp / "home", tmp / "build"
        scratch.mkdir()
        services = ("server", "client", "agent")
        ports = bench_home(home, services)
        with running(home, ports, services):
            admin = f"http://127.0.0.1:{ports['admin']}"
            mobile = f"http://127.0.0.1:{ports['mobile']}"
            session = admin_requests(admin, f"postgresql://peek@127.0.0.1:{ports['pg']}/peek")
            platform = {"admin": admin, "mobile": mobile, "session": session}
            pages = [f"{admin}/", f"{admin}/plugins", f"{admin}/workers", f"{mobile}/",
                     f"{mobile}/desktop/", f"{mobile}/peek_plugin_noop/"]
            with Poller(pages, session) as poller:
                first = timed_upload(platform, wheel(scratch, "1.0.0", MIGRATIONS))
                replaced = [timed_upload(platform, wheel(scratch, f"1.{i}.0", MIGRATIONS))
                            for i in range(1, REPLACEMENTS + 1)]
        print(f"install: first {first:.2f} s, replacements "
              f"{', '.join(f'{s:.2f}' for s in replaced)} s; failures "
              f"{poller.failures[:5]}", file=sys.stderr)
        return (f"started_all_s={statistics.median(replaced):.2f} "
                f"first_install_s={first:.2f} failed_requests={len(poller.failures)} "
                f"requests={poller.count}")


if __name__ == "__main__":
    sys.exit(report("install", measure))
