"""Pages benchmark: the mobile site's home screen and a plugin page of 100 rows.

A real platform of separate processes (``vortex_bench.bench_home`` and
``running``): ``peek server`` on the embedded PostgreSQL of a new PEEK_HOME
and ``peek client``, which serves the mobile site.  Enabled on both: the
bundled noop plugin (a home tile with an icon) and a generated plugin,
``peek_plugin_bench_pages``, installed in the home's plugin store as Peek
installs one.  Its client hook adds a mobile blueprint whose page extends
``mobile/layout.html`` and renders a table of 100 rows: a plain Jinja loop
over 100 of the plugin's tuples (``peek_plugin_bench_pages.Row``: five
fields, a link per row) that the hook built at load.  (``vortex_live`` would
render only a placeholder on the server, the rows arriving later over the
websocket, so it would not measure rendering 100 rows.)

- home_p50_ms: ``GET /`` on the mobile site (the home screen and its tiles);
- plugin_page_p50_ms: ``GET /peek_plugin_bench_pages/`` (100 rows);
  each: sequential requests on one keep-alive loopback HTTP connection
  (``http.client``), a warm-up of ``WARMUP`` requests, then ``RUNS`` runs of
  ``REQUESTS`` timed requests; the median of the runs' p50s.  The time is
  from sending the request until the whole body is read, as the client sees
  it on loopback (the service exposes no server-side timing);
- first_load_kb: the home page's HTML plus every script (``<script src>``)
  and style sheet (``<link rel=stylesheet href>``) it references, as a
  browser fetches them on a first load (sent with a browser's
  ``Accept-Encoding``, counted as received: compressed only if the server
  compresses), in KiB.

Prints ``BENCH pages home_p50_ms=.. plugin_page_p50_ms=.. first_load_kb=..``
or ``BENCH pages error="why"`` and exits 1.  Progress goes to stderr.
``PEEK_BENCH_KEEP=1`` keeps the temporary directory (service logs).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from vortex_bench import bench_home, percentile, report, running

from peek.plugin_system import packages  # noqa: E402 (vortex_bench finds the repo)

NAME = "pages"
PLUGIN = "peek_plugin_bench_pages"
ROWS = 100
WARMUP = 50
REQUESTS = 300
RUNS = 3
TARGET_MS = 20.0
#: What a browser sends on a first load (the server may compress; Werkzeug does not).
BROWSER_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate, br",
                   "User-Agent": "peek-bench-pages"}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bench_pages] {message}", file=sys.stderr, flush=True)


# -- the generated plugin ------------------------------------------------------------------

PLUGIN_FILES = {
    "__init__.py": """
        from peek.plugin_api import PluginHook


        def client_entry_hook() -> type[PluginHook]:
            from ._private.client.hook import ClientHook
            return ClientHook
        """,
    "plugin_package.json": json.dumps({
        "plugin": {"title": "Bench pages", "packageName": PLUGIN, "version": "1.0.0"},
        "requiresServices": ["client", "mobile"],
        "requiresPlugins": [],
        "client": {},
        "mobile": {"title": "Bench pages", "priority": 500},
    }, indent=2),
    "_private/__init__.py": "",
    "_private/client/__init__.py": "",
    "tuples.py": f"""
        import datetime

        from peek.plugin_api import Tuple


        class Row(Tuple, tag="{PLUGIN}.Row"):
            id: int
            name: str
            state: str
            value: float
            changed: datetime.datetime
        """,
    "_private/client/hook.py": f"""
        import datetime

        from flask import Blueprint, render_template

        from peek.plugin_api import PluginHook

        from ...tuples import Row

        STATES = ("ok", "warning", "alarm", "offline")


        class ClientHook(PluginHook):
            def load(self) -> None:
                start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
                self.rows = [Row(id=i, name=f"Asset {{i:03d}}", state=STATES[i % 4],
                                 value=i * 1.25, changed=start + datetime.timedelta(minutes=i))
                             for i in range({ROWS})]
                mobile = Blueprint("mobile", __name__, template_folder="../../templates")
                mobile.add_url_rule("/", "index", self._index)
                self.platform.add_blueprint(mobile, "mobile")

            def _index(self) -> str:
                return render_template("{PLUGIN}/rows.html", rows=self.rows)
        """,
    f"templates/{PLUGIN}/rows.html": """
        {% extends "mobile/layout.html" %}
        {% block title %}Bench rows{% endblock %}
        {% block content %}
        <h1>Bench rows</h1>
        <table class="striped" id="bench-rows">
          <thead><tr><th>#</th><th>Name</th><th>State</th><th>Value</th><th>Changed</th></tr></thead>
          <tbody>
          {% for row in rows %}
            <tr class="bench-row" data-id="{{ row.id }}">
              <td>{{ row.id }}</td>
              <td><a href="{{ url_for(request.blueprint + '.index') }}#{{ row.id }}">{{ row.name }}</a></td>
              <td><mark class="state-{{ row.state }}">{{ row.state | title }}</mark></td>
              <td>{{ "%.2f" | format(row.value) }}</td>
              <td><time>{{ row.changed.strftime("%Y-%m-%d %H:%M") }}</time></td>
            </tr>
          {% endfor %}
          </tbody>
        </table>
        {% endblock %}
        """,
}


def install_plugin(home: Path) -> None:
    """Put the plugin in the home's plugin store, laid out as Peek installs
    one, make it the active version, and enable it beside the bundled noop
    plugin on the server and the client."""
    version = "1.0.0"
    store = packages.plugins_dir(home) / "store" / PLUGIN
    package = store / version / PLUGIN
    for path, text in PLUGIN_FILES.items():
        target = package / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip())
    dist = store / version / f"{PLUGIN}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\n"
                                   f"Version: {version}\n")
    (dist / "entry_points.txt").write_text(f"[peek.plugins]\n{PLUGIN} = {PLUGIN}\n")
    (store / "versions.json").write_text(json.dumps([version]))
    packages.activate(home, PLUGIN, version)
    for service in ("server", "client"):
        path = home / f"peek-{service}.home" / "config.json"
        config = json.loads(path.read_text())
        config["plugin"] = {"enabled": ["peek_plugin_noop", PLUGIN]}
        path.write_text(json.dumps(config, indent=2))


# -- HTTP ----------------------------------------------------------------------------------

class Site:
    """One keep-alive HTTP/1.1 connection to a site on loopback."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, headers: dict[str, str] | None = None
            ) -> tuple[int, http.client.HTTPMessage, bytes]:
        self.connection.request("GET", path, headers=headers or {})
        reply = self.connection.getresponse()
        body = reply.read()  # raw bytes: http.client never decompresses
        if reply.will_close:  # the server dropped keep-alive: reconnect for the next one
            self.connection.close()
        return reply.status, reply.headers, body

    def close(self) -> None:
        self.connection.close()


def fetch_ok(site: Site, path: str, headers: dict[str, str] | None = None
             ) -> tuple[http.client.HTTPMessage, bytes]:
    status, reply_headers, body = site.get(path, headers)
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
    return reply_headers, body


def time_page(site: Site, path: str, check) -> tuple[float, list[float]]:
    """Warm up, then ``RUNS`` runs of ``REQUESTS`` sequential requests; returns
    (median of the runs' p50 in ms, every timing in ms)."""
    for _ in range(WARMUP):
        check(fetch_ok(site, path)[1])
    p50s, everything = [], []
    for run in range(RUNS):
        timings = []
        for _ in range(REQUESTS):
            began = time.perf_counter()
            status, _, body = site.get(path)
            timings.append((time.perf_counter() - began) * 1000)
            if status != 200:
                raise BenchError(f"GET {path} answered {status} while timed")
        check(body)
        p50s.append(statistics.median(timings))
        everything += timings
        log(f"GET {path} run {run + 1}/{RUNS}: p50 {p50s[-1]:.2f} ms, "
            f"p90 {percentile(timings, 0.9):.2f} ms, p99 {percentile(timings, 0.99):.2f} ms, "
            f"min {min(timings):.2f} ms ({len(body)} bytes)")
    return statistics.median(p50s), everything


class Assets(HTMLParser):
    """The scripts and style sheets a page references."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or "").split():
            self.urls.append(a["href"])


def first_load(port: int, path: str) -> tuple[int, list[tuple[str, int, str]]]:
    """Bytes received for ``path`` and everything it references, on a new
    connection, as a browser fetches them; and per file (url, bytes, encoding)."""
    site = Site(port)
    try:
        base = f"http://127.0.0.1:{port}{path}"
        headers, html = fetch_ok(site, path, {**BROWSER_HEADERS, "Accept": "text/html"})
        parts = [(path, len(html), headers.get("Content-Encoding", "identity"))]
        parser = Assets()
        parser.feed(html.decode("utf-8", "replace"))
        for url in dict.fromkeys(parser.urls):  # each once, in page order
            absolute = urljoin(base, url)
            split = urlsplit(absolute)
            if split.netloc != f"127.0.0.1:{port}":
                raise BenchError(f"the page references {url} on another host")
            target = split.path + (f"?{split.query}" if split.query else "")
            asset_headers, body = fetch_ok(site, target, BROWSER_HEADERS)
            parts.append((url, len(body), asset_headers.get("Content-Encoding", "identity")))
        if len(parts) == 1:
            raise BenchError(f"{path} references no script or style sheet")
        return sum(size for _, size, _ in parts), parts
    finally:
        site.close()


# -- the benchmark -------------------------------------------------------------------------

def check_home(body: bytes) -> None:
    html = body.decode()
    for plugin in ("peek_plugin_noop", PLUGIN):
        if f'data-plugin="{plugin}"' not in html:
            raise BenchError(f"the mobile home screen shows no tile for {plugin}")


def check_rows(body: bytes) -> None:
    rows = body.decode().count('<tr class="bench-row"')
    if rows != ROWS:
        raise BenchError(f"the plugin page rendered {rows} rows, not {ROWS}")


def measure(home: Path) -> str:
    ports = bench_home(home, ("server", "client"))
    install_plugin(home)
    began = time.perf_counter()
    with running(home, ports, ("server", "client")):
        log(f"server and client ready in {time.perf_counter() - began:.1f} s; "
            f"mobile site on port {ports['mobile']}")
        total, parts = first_load(ports["mobile"], "/")
        for url, size, encoding in parts:
            log(f"first load: {url} {size} bytes ({encoding})")
        log(f"first load: {total} bytes in {len(parts)} files")
        site = Site(ports["mobile"])
        try:
            home_ms, home_all = time_page(site, "/", check_home)
            page_ms, page_all = time_page(site, f"/{PLUGIN}/", check_rows)
        finally:
            site.close()
    for what, ms, timings in (("home", home_ms, home_all), ("plugin page", page_ms, page_all)):
        verdict = "within" if ms < TARGET_MS else "OVER"
        log(f"{what}: p50 {ms:.2f} ms ({verdict} the {TARGET_MS:.0f} ms target), "
            f"p99 over all runs {percentile(timings, 0.99):.2f} ms")
    return (f"home_p50_ms={home_ms:.2f} plugin_page_p50_ms={page_ms:.2f} "
            f"first_load_kb={total / 1024:.1f}")


def run() -> str:
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="peek-bench-pages-"))
    root.chmod(0o755)  # see vortex_bench.bench_dir
    try:
        return measure(root / "home")
    finally:
        if os.environ.get("PEEK_BENCH_KEEP"):
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        log(f"benchmark took {time.perf_counter() - began:.0f} s")


def _terminated(signum, frame):
    raise SystemExit(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)  # stop the services on SIGTERM as on Ctrl-C
    sys.exit(report(NAME, run))
