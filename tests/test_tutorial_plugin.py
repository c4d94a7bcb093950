"""The bundled tutorial plugin (docs/tutorial.md) on real services: its
storage, table editor, public API, worker job, observable, actions and RPCs."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import requests

from tests.admin_session import admin_client, admin_requests, csrf_token
from tests.conftest import REPO, enable_plugins, query, wait_for

TUTORIAL = "peek_plugin_tutorial"
PACKAGE = REPO / "peek" / "plugins" / TUTORIAL
ROWS = json.dumps({"name": "peek_plugin_tutorial.StringIntTuple", "filter": {}})


def enable_tutorial(home: Path, *services: str) -> None:
    """Enable the tutorial (and the noop plugin) on each service's config."""
    enable_plugins(home, ["peek_plugin_noop", TUTORIAL], *services)


def insert_rows(database_url: str, *rows: tuple[str, int]) -> None:
    for string1, int1 in rows:
        query(database_url, "INSERT INTO pl_tutorial.string_int (string1, int1) "
                            "VALUES (:s, :i) RETURNING id", s=string1, i=int1)


def test_the_tutorial_is_bundled_but_enabled_only_on_request(configured):
    from peek.plugin_system.discovery import bundled, discover
    from tests.conftest import peek_cli

    found = discover()[TUTORIAL]
    assert found.error is None and found.manifest is not None
    assert TUTORIAL not in bundled() and "peek_plugin_noop" in bundled()

    enabled = peek_cli("plugin", "enable", TUTORIAL, home=configured)
    assert enabled.returncode == 0, enabled.stderr
    for service in ("server", "client", "agent"):
        config = json.loads((configured / f"peek-{service}.home" / "config.json").read_text())
        assert TUTORIAL in config["plugin"]["enabled"], service


# In one process: the server with the tutorial, on the shared Dask cluster ----

@pytest.fixture
def server(configured, start_service):
    enable_tutorial(configured, "server")
    process = start_service("server", listen=False)
    assert process.runtime.plugins.records[TUTORIAL].state == "started", \
        process.runtime.plugins.records[TUTORIAL].traceback
    return process


def test_storage_migrates_both_revisions(server, database_url):
    tables = {r["table_name"] for r in query(
        database_url, "SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = 'pl_tutorial'")}
    assert {"string_int", "job_run", "plugin_setting"} <= tables
    assert query(database_url, "SELECT version_num FROM pl_tutorial.alembic_version") == [
        {"version_num": "0002"}]


def test_the_public_api_is_used_from_another_plugin(server, database_url):
    insert_rows(database_url, ("alpha", 2), ("beta", 5))
    noop = server.runtime.plugins.records["peek_plugin_noop"].platform
    api = noop.get_other_plugin_api(TUTORIAL)
    good = api.do_something_good()
    from peek.plugins.peek_plugin_tutorial.tuples import TutorialTuple
    assert isinstance(good, TutorialTuple)
    assert good.message == "Hello from the tutorial"
    assert good.counts == {"rows": 2, "total": 7} and good.items == ["alpha", "beta"]
    assert good.made is not None and good.made.tzinfo is not None
    from peek.plugin_api import decode, encode
    assert decode(encode(good)) == good   # dict, list and datetime fields travel


def test_the_admin_pages_editor_and_settings(server, database_url):
    client = admin_client(server.apps["admin"])
    page = client.get(f"/{TUTORIAL}/").get_data(as_text=True)
    assert f'href="/tables/{TUTORIAL}/string_int"' in page
    assert f'href="/settings/{TUTORIAL}"' in page
    dashboard = client.get("/").get_data(as_text=True)
    assert f"/{TUTORIAL}/status" in dashboard

    # The table editor adds a row; the settings page edits the manifest's settings.
    editor = client.get(f"/tables/{TUTORIAL}/string_int").get_data(as_text=True)
    assert "Tutorial string ints" in editor
    added = client.post(f"/tables/{TUTORIAL}/string_int/rows",
                        data={"string1": "gamma", "int1": "4",
                              "csrf_token": csrf_token(editor)},
                        headers={"HX-Request": "true"})
    assert added.status_code == 200, added.get_data(as_text=True)
    assert query(database_url, "SELECT string1, int1 FROM pl_tutorial.string_int") == [
        {"string1": "gamma", "int1": 4}]
    settings = client.get(f"/settings/{TUTORIAL}").get_data(as_text=True)
    for title in ("Capitals on insert", "Rows per worker block", "Greeting"):
        assert title in settings


def test_the_worker_job_runs_on_the_cluster_and_stores_its_result(server, database_url):
    assert server.runtime.dask.wait(60), server.runtime.dask.error
    insert_rows(database_url, *[(f"row {i}", i) for i in range(1, 26)])   # total 325
    client = admin_client(server.apps["admin"])
    page = client.get(f"/{TUTORIAL}/").get_data(as_text=True)
    started = client.post(f"/{TUTORIAL}/job/start", headers={
        "HX-Request": "true", "X-CSRFToken": csrf_token(page)})
    assert started.status_code == 200
    assert "tutorial-job-panel" in started.get_data(as_text=True)

    def stored():
        state = client.get(f"/{TUTORIAL}/status.json").get_json()
        return state["last_run"] or (state["error"] and pytest.fail(state["error"]))
    last = wait_for(stored, timeout=120, what="the job's result")
    assert (last["rows"], last["total"]) == (25, 325)
    state = client.get(f"/{TUTORIAL}/status.json").get_json()
    assert state["job"]["finished"] and state["job"]["blocks"] == 3   # 10 rows a block
    assert query(database_url, "SELECT rows, total FROM pl_tutorial.job_run") == [
        {"rows": 25, "total": 325}]
    panel = client.get(f"/{TUTORIAL}/job").get_data(as_text=True)
    assert re.search(r"total <strong>325</strong>", panel)


# Separate processes: server, client and agent, as an administrator runs them --

@pytest.fixture
def platform(configured, site_ports, database_url):
    from tests.vortex_harness import ServiceRun

    enable_tutorial(configured, "server", "client", "agent")
    runs = []
    try:
        for service, port in (("server", "admin"), ("client", "mobile"), ("agent", "agent")):
            runs.append(ServiceRun(service, configured, site_ports[port]).start().wait_ready())
        yield {"server": runs[0], "client": runs[1], "agent": runs[2],
               "admin": f"http://127.0.0.1:{site_ports['admin']}",
               "mobile": f"http://127.0.0.1:{site_ports['mobile']}"}
    finally:
        for run in reversed(runs):
            run.stop()


def test_rpcs_between_the_server_and_the_agent(platform, configured, database_url):
    admin = admin_requests(platform["admin"], database_url)

    def kinds():
        events = admin.get(f"{platform['admin']}/{TUTORIAL}/status.json", timeout=10).json()[
            "events"]
        return {e["kind"]: e["text"] for e in events}

    # The agent called the server (add, insert, status); the server called back.
    events = wait_for(lambda: "subtract_ints" in (k := kinds()) and k, timeout=60,
                      what="the agent's RPCs")
    assert events["add_ints"] == "the agent asked 1 + 2 = 3"
    assert re.fullmatch(r"the agent inserted row \d+: from the agent = 3",
                        events["insert_string_int"])
    assert events["report_status"] == "the agent says: the agent has started"
    assert events["subtract_ints"] == "the agent answered 10 - 3 = 7"
    assert query(database_url, "SELECT string1, int1 FROM pl_tutorial.string_int") == [
        {"string1": "from the agent", "int1": 3}]

    # The admin's button asks the agent again, in the request.
    page = admin.get(f"{platform['admin']}/{TUTORIAL}/", timeout=10).text
    panel = admin.post(f"{platform['admin']}/{TUTORIAL}/subtract", timeout=30,
                       headers={"HX-Request": "true", "X-CSRFToken": csrf_token(page)}).text
    assert "the agent answered 100 - 58 = 42" in panel

    agent_log = (configured / "peek-agent.log").read_text()
    server_log = (configured / "peek-server.log").read_text()
    assert "the server added 1 + 2 = 3" in agent_log
    assert "the server asked to subtract 10 - 3" in agent_log
    assert "the agent answered 10 - 3 = 7" in server_log
    assert "tutorial started on the agent service" in agent_log


def test_string_ints_over_rest_and_the_device_websocket(platform, database_url):
    from tests.vortex_harness import Device

    mobile = platform["mobile"]
    for path in (f"/{TUTORIAL}/", f"/desktop/{TUTORIAL}/"):
        page = requests.get(f"{mobile}{path}", timeout=10)
        assert page.status_code == 200 and "peek_plugin_tutorial.string_ints" in page.text

    def rows():
        reply = requests.get(f"{mobile}/vortex/api/data", params={"selector": ROWS},
                             timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()["tuples"]
    (row,) = wait_for(rows, timeout=60, what="the agent's row")
    assert row["_tt"] == "peek_plugin_tutorial.StringIntTuple"
    assert (row["string1"], row["int1"]) == ("from the agent", 3)

    device = Device(int(mobile.rsplit(":", 1)[1]))
    try:
        device.subscribe("peek_plugin_tutorial.StringIntTuple")
        assert device.data(where=bool)[0]["int1"] == 3

        action = {"type": "action", "id": str(uuid.uuid4()), "tuple": {
            "_tt": "peek_plugin_tutorial.AddIntValueAction", "id": row["id"], "offset": 1}}
        reply = requests.post(f"{mobile}/vortex/api/actions", json=action, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"]["int1"] == 4
        again = requests.post(f"{mobile}/vortex/api/actions", json=action, timeout=30)
        assert again.json()["result"]["int1"] == 4      # the same id applies once
        assert device.data(where=lambda t: t and t[0]["int1"] == 4)[0]["int1"] == 4

        toggle = device.act({"_tt": "peek_plugin_tutorial.StringCapToggleAction",
                             "id": row["id"]})
        assert device.answer(toggle)["result"]["string1"] == "FROM THE AGENT"
        assert device.data(where=lambda t: t and t[0]["string1"] == "FROM THE AGENT")

        down = device.act({"_tt": "peek_plugin_tutorial.AddIntValueAction",
                           "id": row["id"], "offset": -1})
        assert device.answer(down)["result"]["int1"] == 3
        missing = device.act({"_tt": "peek_plugin_tutorial.AddIntValueAction", "id": 999})
        assert device.answer(missing)["error"] == "ValueError: there is no row 999"
    finally:
        device.close()
    # REST data comes from the client's copy, updated just after the answer.
    wait_for(lambda: rows()[0]["int1"] == 3, timeout=30, what="REST data to show 3")


# The docs show the real code ------------------------------------------------

def code_blocks(text: str) -> list[tuple[str, str]]:
    """(file named in the block's first comment line, code) of each python,
    jinja, html or json block in docs/tutorial.md that names one."""
    blocks = []
    for lang, code in re.findall(r"```(\w+)\n(.*?)```", text, re.S):
        first, _, rest = code.partition("\n")
        named = re.match(r"\s*(?:#|\{#|<!--)\s*(peek_plugin_tutorial/\S+)", first)
        if named and lang in ("python", "jinja", "html", "json"):
            blocks.append((named.group(1), rest))
    return blocks


def test_the_tutorials_excerpts_are_the_plugins_code():
    text = (REPO / "docs" / "tutorial.md").read_text()
    blocks = code_blocks(text)
    assert len(blocks) >= 15
    for path, code in blocks:
        source = (PACKAGE.parent / path).read_text()
        normal = lambda s: [line.rstrip() for line in s.splitlines()
                            if line.strip() and line.strip() != "..."]
        lines = normal(source)
        for line in normal(code):
            assert line in lines, f"{path}: {line!r} is not in the plugin's code"
    for step in ("peek plugin new peek_plugin_tutorial --services "
                 "server,client,agent,worker,storage,admin,mobile,desktop",
                 "peek plugin build", "peek plugin release", "peek plugin install"):
        assert step in text, step
