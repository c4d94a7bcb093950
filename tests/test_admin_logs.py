"""The admin site's Logs page: the server's log read back from its files,
filtered, followed live, and linked to from failed plugins."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from peek.config import load_config
from peek.log_reader import CHUNK, LogReader, log_filter, parse_record_id
from peek.logs import setup_logging
from tests.admin_session import admin_client, sign_in_page
from tests.conftest import wait_for, write_config
from tests.plugin_factory import make_plugin

NOOP = "peek_plugin_noop"
PLUGINS = {NOOP: "peek.plugins.peek_plugin_noop"}


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def log_error_with_traceback(logger: str, message: str) -> None:
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger(logger).exception(message)


@pytest.fixture
def server_log(configured):
    """The server's log, as the server's logging setup writes it (in this process)."""
    return setup_logging(load_config("server"), console=False)


@pytest.fixture
def server(server_log, start_service):
    server = start_service("server", listen=False)
    assert server.runtime.dask.wait(60)  # its connecting logged: the log is quiet now
    return server


def messages(tail) -> list[str]:
    return [r.message for r in tail.records]


def configure_server(home: Path, **sections) -> None:
    """Add ``sections`` to the server's config file."""
    path = home / "peek-server.home" / "config.json"
    write_config(home, "server", {**json.loads(path.read_text()), **sections})


def test_reader_parses_levels_loggers_and_tracebacks(server, server_log):
    logging.getLogger(NOOP).warning("noop is unhappy")
    log_error_with_traceback(f"{NOOP}._private.server", "noop broke")
    logging.getLogger("peek.test").info("after the traceback")
    flush_logs()
    reader = LogReader(server_log)

    everything = reader.latest()
    assert everything.cursor == everything.records[-1].id
    mine = [r for r in everything.records if r.logger.startswith((NOOP, "peek.test"))]
    assert [r.message for r in mine[-3:]] == ["noop is unhappy", "noop broke",
                                               "after the traceback"]
    warning, error, info = mine[-3:]
    assert (warning.level, warning.logger, warning.thread) == ("WARNING", NOOP, "MainThread")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", warning.time)
    assert error.detail.startswith("Traceback (most recent call last):")
    assert error.detail_summary == "ZeroDivisionError: division by zero"
    assert info.detail == ""
    # The id is where the record starts in its file.
    inode, offset = parse_record_id(warning.id)
    assert inode == server_log.stat().st_ino
    assert server_log.read_bytes()[offset:].startswith(warning.time.encode())

    problems = reader.latest(log_filter("WARNING"))
    assert {r.level for r in problems.records} <= {"WARNING", "ERROR", "CRITICAL"}
    assert messages(problems)[-2:] == ["noop is unhappy", "noop broke"]
    assert messages(reader.latest(log_filter("ERROR")))[-1] == "noop broke"

    # A plugin's records: its loggers' and the platform's naming it (its start).
    noop = reader.latest(log_filter(plugin=NOOP, plugins=PLUGINS)).records
    assert {r.logger for r in noop} >= {NOOP, f"{NOOP}._private.server"}
    assert "noop started on the server service" in [r.message for r in noop]
    assert all(r.logger.startswith(NOOP) or NOOP in r.text for r in noop)
    platform = reader.latest(log_filter(platform_only=True, plugins=PLUGINS)).records
    assert platform and all(r.logger.startswith("peek.") for r in platform)
    (first,) = reader.latest(log_filter(platform_only=True, plugins=PLUGINS,
                                        text="starting the peek")).records
    assert first.id.endswith("-0") and first.message.startswith("Starting the Peek server")
    assert messages(reader.latest(log_filter(text="DIVISION BY"))) == ["noop broke"]


def test_tail_after_an_id_and_across_rotation(configured, start_service):
    configure_server(configured, logging={"rotateSizeMb": 1})
    path = setup_logging(load_config("server"), console=False)
    start_service("server", listen=False)
    reader = LogReader(path)
    logging.getLogger("peek.test").warning("the marker")
    flush_logs()
    (marker,) = reader.latest(log_filter(text="the marker")).records
    fillers = log_filter(text="filler-line")
    assert reader.latest(fillers, after=marker.id).records == []

    line = "x" * 1000
    for i in range(1500):  # 1.5 MB: the file rotates once
        logging.getLogger("peek.test").info("filler-line %d %s", i, line)
    flush_logs()
    assert Path(f"{path}.1").exists()
    # The marker keeps its id in the rotated file; tailing from it misses nothing.
    tail = reader.latest(fillers, limit=5000, after=marker.id)
    assert [m.split()[1] for m in messages(tail)] == [str(i) for i in range(1500)]
    assert parse_record_id(tail.records[0].id)[0] == Path(f"{path}.1").stat().st_ino
    assert parse_record_id(tail.cursor)[0] == path.stat().st_ino
    found = reader.latest(log_filter(text="the marker")).records
    assert [r.id for r in found] == [marker.id]


class CountingFile(io.RawIOBase):
    """A file that counts the bytes read from it."""

    read_bytes = 0

    def __init__(self, path: Path):
        self.file = open(path, "rb")

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        CountingFile.read_bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()


def test_a_large_log_is_read_from_the_end_within_bounds(server_log, monkeypatch):
    logging.getLogger(NOOP).error("the oldest error")
    line = "y" * 1000
    for i in range(18000):  # 19 MB, one file (rotation at the default 20 MB)
        logging.getLogger("peek.test").info("filler %d %s", i, line)
    logging.getLogger("peek.test").warning("the newest warning")
    flush_logs()
    assert server_log.stat().st_size > 19_000_000
    monkeypatch.setattr(Path, "open", lambda path, mode="r": CountingFile(path))
    monkeypatch.setattr(CountingFile, "read_bytes", 0)

    reader = LogReader(server_log)
    assert messages(reader.latest(limit=1)) == ["the newest warning"]
    assert CountingFile.read_bytes <= CHUNK
    CountingFile.read_bytes = 0
    assert messages(reader.latest(log_filter("ERROR"))) == []  # out of reach
    assert CountingFile.read_bytes <= reader.scan_bytes
    assert messages(LogReader(server_log, scan_bytes=30_000_000).latest(
        log_filter("ERROR"))) == ["the oldest error"]


def test_page_filters_and_refuses_bad_filters(server):
    logging.getLogger(NOOP).warning("noop warns the page")
    logging.getLogger("peek.test").warning("platform warns the page")
    logging.getLogger("peek.test").info("platform informs the page")
    flush_logs()
    stranger = server.apps["admin"].test_client()
    assert stranger.get("/logs", headers={"Accept": "text/html"}).headers["Location"] == \
        "/sign-in?next=/logs"
    assert stranger.get("/logs/follow", headers={"HX-Request": "true"}).status_code == 401
    site = admin_client(server.apps["admin"])

    page = site.get("/logs?level=WARNING").get_data(as_text=True)
    assert "noop warns the page" in page and "platform warns the page" in page
    assert "platform informs the page" not in page
    assert re.search(r'id="log-\d+-\d+" data-level="WARNING"', page)
    assert '<option value="peek_plugin_noop">' in page
    noop = site.get(f"/logs?plugin={NOOP}").get_data(as_text=True)
    assert "noop warns the page" in noop and "platform warns the page" not in noop
    assert f'<option value="{NOOP}" selected>' in noop
    platform = site.get("/logs?platform=1&q=warns").get_data(as_text=True)
    assert "platform warns the page" in platform and "noop warns the page" not in platform

    for query, message in (
            ("level=LOUD", "level must be one of DEBUG, INFO"),
            ("plugin=peek_plugin_gone", "no plugin &#39;peek_plugin_gone&#39; is installed"),
            ("plugin=../etc", "plugin must be a plugin&#39;s package name"),
            (f"plugin={NOOP}&platform=1", "choose a plugin or the platform only"),
            ("q=" + "z" * 201, "longer than 200 characters")):
        response = site.get(f"/logs?{query}")
        assert response.status_code == 400, query
        html = response.get_data(as_text=True)
        assert message in html and 'id="log-filter"' in html and "Peek Admin" in html
    bad = site.get("/logs/follow?after=somewhere", headers={"HX-Request": "true"})
    assert bad.status_code == 400
    assert bad.get_data(as_text=True) == \
        "not a log record id: 'somewhere' (expected <inode>-<offset>)"


def test_follow_returns_only_what_is_new(server):
    site = admin_client(server.apps["admin"])
    page = site.get(f"/logs?plugin={NOOP}&level=WARNING").get_data(as_text=True)
    poll = re.search(r'id="log-poller" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "plugin=peek_plugin_noop" in poll and "level=WARNING" in poll and "after=" in poll
    assert site.get(poll, headers={"HX-Request": "true"}).status_code == 204

    logging.getLogger("peek.test").warning("not noop's")
    logging.getLogger(NOOP).warning("noop's news")
    flush_logs()
    response = site.get(poll, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'hx-swap-oob="beforeend:#log-records"' in html
    assert "noop&#39;s news" in html and "not noop" not in html
    poll = re.search(r'id="log-poller" hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert site.get(poll, headers={"HX-Request": "true"}).status_code == 204


def test_failed_plugin_links_to_its_log_lines(configured, plugin_root, server_log,
                                              start_service):
    make_plugin(plugin_root, "peek_plugin_tbroken", fail=("start",))
    configure_server(configured, plugin={"enabled": [NOOP, "peek_plugin_tbroken"]})
    site = admin_client(start_service("server", listen=False).apps["admin"])
    flush_logs()

    dashboard = site.get("/").get_data(as_text=True)
    cell = re.search(r'<tr data-plugin="peek_plugin_tbroken">.*?</tr>', dashboard,
                     re.S).group(0)
    link = re.search(r'<a class="peek-state" data-state="failed" href="([^"]+)"',
                     cell).group(1).replace("&amp;", "&")
    path, anchor = link.split("#")
    assert path == "/logs?plugin=peek_plugin_tbroken&level=ERROR"
    assert "start failed: RuntimeError: peek_plugin_tbroken breaks in start" in cell
    page = site.get(path).get_data(as_text=True)
    record = re.search(rf'<div class="peek-log-record" id="{anchor}".*?</div>', page,
                       re.S).group(0)
    assert "Plugin peek_plugin_tbroken failed on the server service" in record
    assert "<pre>Traceback (most recent call last):" in record
    assert "RuntimeError: peek_plugin_tbroken breaks in start" in record
    # The same link from any admin page's template.
    app = site.application
    log_link = app.jinja_env.globals["log_link"]
    with app.test_request_context():
        assert log_link("peek_plugin_tbroken") == link
        assert log_link("peek_plugin_missing") == "/logs?level=ERROR&q=peek_plugin_missing"


def test_new_records_appear_while_following_and_wait_while_paused(
        server_log, site_ports, start_service, page_in, database_url):
    start_service("server")
    base = f"http://127.0.0.1:{site_ports['admin']}"
    page = page_in(1024, 768)  # a tablet
    sign_in_page(page, base, database_url, f"/logs?plugin={NOOP}")
    assert page.title() == "Logs · Peek Admin"
    assert page.locator("#admin-menu a", has_text="Logs").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    records = page.locator("#log-records .peek-log-record")
    records.filter(has_text="noop started on the server service").first.wait_for()

    logging.getLogger("peek.test").warning("someone else's warning")
    logging.getLogger(NOOP).warning("a live noop warning")
    flush_logs()
    live = records.filter(has_text="a live noop warning")
    live.wait_for(timeout=10000)  # no reload: the poller appended it
    assert live.get_attribute("data-level") == "WARNING"
    assert live.locator(".peek-level").evaluate("e => getComputedStyle(e).backgroundColor") \
        == "rgb(253, 230, 138)"
    assert records.filter(has_text="someone else's warning").count() == 0

    page.locator("label", has_text="Follow").click()  # pause
    assert not page.locator("#log-follow").is_checked()
    logging.getLogger(NOOP).warning("written while paused")
    flush_logs()
    page.wait_for_timeout(4500)
    assert records.filter(has_text="written while paused").count() == 0
    page.locator("label", has_text="Follow").click()
    records.filter(has_text="written while paused").wait_for(timeout=10000)
    wait_for(lambda: page.evaluate(
        "(b => b.scrollHeight - b.scrollTop - b.clientHeight < 40)"
        "(document.getElementById('log-records'))"), timeout=5, what="the newest in view")
