"""Plugins installed, upgraded, rolled back, disabled and removed from the admin
site while the platform runs: separate server, client and agent processes (the
client on a machine of its own, with its own PEEK_HOME) and the Dask workers
all follow, and no request to any site fails meanwhile."""

from __future__ import annotations

import json
import re
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy

from tests.admin_session import admin_requests, csrf_token
from tests.conftest import free_port, wait_for, write_config
from tests.plugin_factory import build_wheel, migration
from tests.vortex_harness import ServiceRun

NAME = "peek_plugin_tlive"
MIGRATIONS = {"0001_note.py": migration(
    "0001", None, 'op.create_table("note", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("note")')}
MIGRATIONS_V2 = {**MIGRATIONS, "0002_tag.py": migration(
    "0002", "0001", 'op.create_table("tag", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("tag")')}

INIT = '''
from flask import Blueprint
from peek.plugin_api import PluginHook

VERSION = "{version}"


class Hook(PluginHook):
    def load(self):
        site = {{"server": "admin", "client": "mobile"}}.get(self.platform.service)
        if site:
            bp = Blueprint("pages", __name__)
            bp.add_url_rule("/", "index", lambda: f"tlive {{VERSION}} on {{site}}")
            self.platform.add_blueprint(bp, site)
        self.platform.log.info("tlive %s loaded on %s", VERSION, self.platform.service)


def server_entry_hook():
    return Hook


def client_entry_hook():
    return Hook


def agent_entry_hook():
    return Hook


def worker_entry_hook():
    return Hook
'''


def wheel(tmp_path: Path, version: str, migrations: dict) -> Path:
    source = tmp_path / f"src-{version}" / NAME
    versions = source / "_private" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (source / "__init__.py").write_text(INIT.format(version=version))
    (source / "_private" / "__init__.py").write_text("")
    for filename, code in migrations.items():
        (versions / filename).write_text(textwrap.dedent(code))
    (source / "plugin_package.json").write_text(json.dumps({
        "plugin": {"title": "Live test", "packageName": NAME, "version": version},
        "requiresServices": ["server", "client", "agent", "worker", "storage", "admin",
                             "mobile"],
        "requiresPlugins": []}))
    out = tmp_path / "dist"
    out.mkdir(exist_ok=True)
    return build_wheel(source, version, out)


class Poller:
    """Requests every site's pages in a loop; every failure is kept."""

    def __init__(self, urls: list[str], session: requests.Session):
        self.urls, self.session = urls, session
        self.failures: list[str] = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for url in self.urls:
                try:
                    status = self.session.get(url, timeout=10, allow_redirects=False).status_code
                    if status != 200:
                        self.failures.append(f"{url}: HTTP {status}")
                except requests.RequestException as e:
                    self.failures.append(f"{url}: {e}")
                self.count += 1
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)


def worker_runs_noop(site_ports, secret: str) -> bool:
    states = requests.get(f"http://127.0.0.1:{site_ports['server']}/plugins", timeout=10,
                          headers={"Authorization": f"Bearer {secret}"}).json()
    return any(p["name"] == "peek_plugin_noop" and p["state"] == "started"
               for worker in states["instances"]["worker"] for p in worker["plugins"])


@pytest.fixture
def platform(configured, site_ports, tmp_path, database_url):
    """Server and agent sharing PEEK_HOME; a client with a home of its own; the
    server's own LocalCluster (workers restart here, away from other tests')."""
    client_home = tmp_path / "client-machine"
    server_file = configured / "peek-server.home" / "config.json"
    secret = json.loads(server_file.read_text())
    del secret["dask"]["schedulerAddress"]
    secret["dask"].update(localWorkers=1, dashboardPort=free_port())
    server_file.write_text(json.dumps(secret))
    write_config(client_home, "client", {
        "server": {"port": site_ports["server"], "secret": secret["server"]["secret"]},
        "http": {"port": site_ports["mobile"]}})
    runs = [ServiceRun("server", configured, site_ports["admin"]).start()]
    runs[0].wait_ready()
    runs += [ServiceRun("agent", configured, site_ports["agent"]).start(),
             ServiceRun("client", client_home, site_ports["mobile"]).start()]
    for run in runs[1:]:
        run.wait_ready()
    wait_for(lambda: worker_runs_noop(site_ports, secret["server"]["secret"]), timeout=90,
             what="the Dask worker to run this server's plugins")
    admin = f"http://127.0.0.1:{site_ports['admin']}"
    yield {"admin": admin, "mobile": f"http://127.0.0.1:{site_ports['mobile']}",
           "session": admin_requests(admin, database_url), "client_home": client_home,
           "runs": runs}
    for run in reversed(runs):
        run.stop()


def upload(platform, path: Path) -> str:
    """Upload through the Plugins page's endpoint; returns the finished job's HTML."""
    session, admin = platform["session"], platform["admin"]
    token = csrf_token(session.get(f"{admin}/plugins", timeout=10).text)
    with open(path, "rb") as f:
        response = session.post(f"{admin}/plugins/upload", headers={"X-CSRFToken": token},
                                files={"package": (path.name, f)}, timeout=30)
    assert response.status_code == 202, response.text
    status = response.json()["status"]
    return wait_for(lambda: (lambda html: 'data-finished="true"' in html and html)(
        session.get(f"{admin}{status}", timeout=10).text), timeout=90,
        what="the install job to finish")


def change(platform, action: str, **form) -> str:
    session, admin = platform["session"], platform["admin"]
    token = csrf_token(session.get(f"{admin}/plugins", timeout=10).text)
    response = session.post(f"{admin}/plugins/{NAME}/{action}", data=form, timeout=90,
                            headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 200, response.text
    return response.text


def pages(platform) -> tuple[str, str]:
    admin = platform["session"].get(f"{platform['admin']}/{NAME}/", timeout=10)
    mobile = requests.get(f"{platform['mobile']}/{NAME}/", timeout=10)
    return (admin.text if admin.ok else str(admin.status_code),
            mobile.text if mobile.ok else str(mobile.status_code))


def states(platform) -> dict[str, str]:
    """Each service instance's state of the plugin, from the Plugins page."""
    html = platform["session"].get(f"{platform['admin']}/plugins/table", timeout=10).text
    row = html.split(f'id="plugin-{NAME}"', 1)[1].split("</tr>", 1)[0]
    return {instance.strip(): state for state, instance in re.findall(
        r'data-state="([^"]+)">[^<]*</span> ([^<(]+)', row)}


def services_of(found: dict[str, str]) -> set[str]:
    return {instance.split()[0] for instance in found}


def test_a_plugin_goes_live_on_every_service_and_back_without_a_failed_request(
        platform, tmp_path, engine):
    others = [f"{platform['admin']}/", f"{platform['admin']}/plugins",
              f"{platform['mobile']}/", f"{platform['mobile']}/desktop/",
              f"{platform['mobile']}/healthz"]
    with Poller(others, platform["session"]) as poller:
        job = upload(platform, wheel(tmp_path, "1.0.0", MIGRATIONS))
        assert "Running on every service it needs" in job, job
        assert pages(platform) == ("tlive 1.0.0 on admin", "tlive 1.0.0 on mobile")
        found = states(platform)
        assert services_of(found) == {"server", "client", "agent", "worker"}, found
        assert set(found.values()) == {"started"}, found
        # The client's machine got the package from the server.
        assert (platform["client_home"] / "peek-plugins" / "store" / NAME / "1.0.0").is_dir()

        job = upload(platform, wheel(tmp_path, "2.0.0", MIGRATIONS_V2))
        assert f"{NAME} 2.0.0 replaces 1.0.0" in job and "Running on every service" in job
        assert pages(platform) == ("tlive 2.0.0 on admin", "tlive 2.0.0 on mobile")
        assert "tag" in sqlalchemy.inspect(engine).get_table_names(schema="pl_tlive")

        rolled = change(platform, "rollback")
        assert f"{NAME} rolled back from 2.0.0 to 1.0.0." in rolled
        wait_for(lambda: pages(platform) == ("tlive 1.0.0 on admin", "tlive 1.0.0 on mobile"),
                 timeout=30, what="1.0.0 served again everywhere")
        assert "tag" not in sqlalchemy.inspect(engine).get_table_names(schema="pl_tlive")

        assert f"{NAME} disabled." in change(platform, "disable")
        wait_for(lambda: pages(platform) == ("404", "404"), timeout=30, what="pages gone")
        assert f"{NAME} enabled." in change(platform, "enable")
        wait_for(lambda: pages(platform) == ("tlive 1.0.0 on admin", "tlive 1.0.0 on mobile"),
                 timeout=30, what="pages back")

        assert f"{NAME} uninstalled, its data dropped." in change(platform, "uninstall",
                                                                  drop_data="on")
        wait_for(lambda: pages(platform) == ("404", "404"), timeout=30, what="pages gone")
        assert "pl_tlive" not in sqlalchemy.inspect(engine).get_schema_names()
    assert poller.count > 50 and poller.failures == []
    server_log = platform["runs"][0].output
    assert "Traceback" not in server_log, server_log[-3000:]


def test_a_refused_upload_changes_nothing_and_says_why(platform, tmp_path):
    broken = tmp_path / "broken" / NAME
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('half a plugin')\n")
    (broken / "plugin_package.json").write_text(json.dumps({
        "plugin": {"title": "Broken", "packageName": NAME, "version": "1.0.0"},
        "requiresServices": ["server"], "requiresPlugins": []}))
    before = platform["session"].get(f"{platform['admin']}/plugins/table", timeout=10).text
    job = upload(platform, build_wheel(broken, "1.0.0", tmp_path))
    assert 'data-failed="true"' in job and "half a plugin" in job
    assert platform["session"].get(f"{platform['admin']}/plugins/table", timeout=10).text \
        == before
    not_a_package = tmp_path / "notes.txt"
    not_a_package.write_text("hello")
    job = upload(platform, not_a_package)
    assert 'data-failed="true"' in job and "notes.txt was not installed" in job
    token = csrf_token(platform["session"].get(f"{platform['admin']}/plugins", timeout=10).text)
    empty = platform["session"].post(f"{platform['admin']}/plugins/upload", timeout=10,
                                     headers={"X-CSRFToken": token})
    assert empty.status_code == 400 and "choose a plugin package" in empty.json()["error"]


def test_plugin_commands_apply_on_the_running_platform(platform, configured):
    from tests.conftest import peek_cli

    noop = f"{platform['mobile']}/peek_plugin_noop/"
    assert requests.get(noop, timeout=10).status_code == 200
    disabled = peek_cli("plugin", "disable", "peek_plugin_noop", home=configured)
    assert disabled.returncode == 0, disabled.stderr
    assert "The running services apply it now." in disabled.stdout
    wait_for(lambda: requests.get(noop, timeout=10).status_code == 404, timeout=30,
             what="the client to stop serving noop")
    assert platform["session"].get(f"{platform['admin']}/peek_plugin_noop/",
                                   timeout=10).status_code == 404
    enabled = peek_cli("plugin", "enable", "peek_plugin_noop", home=configured)
    assert enabled.returncode == 0, enabled.stderr
    wait_for(lambda: requests.get(noop, timeout=10).status_code == 200, timeout=30,
             what="the client to serve noop again")
    # The client on its own machine keeps the server's list for its next start.
    client_config = json.loads((platform["client_home"] / "peek-client.home" /
                                "config.json").read_text())
    assert client_config["plugin"]["enabled"] == ["peek_plugin_noop"]
