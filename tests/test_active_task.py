"""peek_plugin_active_task (docs/active_task.md): tasks other plugins give
users.  Its server side in this process (the API, the provider, the action
processors, the auto-delete timer, the admin page, the tutorial's task, a
restart), then its device side on a real client service (each user's
websocket sees only their tasks, the tile's badge)."""

from __future__ import annotations

import datetime
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.admin_session import admin_client, csrf_token
from tests.conftest import (enable_plugins, free_port, new_database, query, wait_for,
                            write_config)

ACTIVE_TASK = "peek_plugin_active_task"
CORE_USER = "peek_core_user"
TUTORIAL = "peek_plugin_tutorial"
TASK_TUPLE = f"{ACTIVE_TASK}.TaskTuple"
PLUGINS = ["peek_plugin_noop", CORE_USER, ACTIVE_TASK, TUTORIAL]
PASSWORDS = {"alice": "alice's long secret", "bob": "bob's long secret"}


def utc(**delta: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)


def execute(database_url: str, sql: str, **params: Any) -> None:
    """Run a statement that returns no rows on the test's database."""
    import sqlalchemy

    from peek.storage.database import sqlalchemy_url

    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(sql), params)
    finally:
        engine.dispose()


def add_users(database_url: str, *names: str) -> None:
    """Users in peek_core_user's table directory (as its admin page adds them)."""
    from werkzeug.security import generate_password_hash

    for name in names:
        execute(database_url, """
            INSERT INTO core_user.user_account
                (name, display_name, enabled, password_hash, created, updated)
            VALUES (:name, :display, true, :hash, now(), now())
            ON CONFLICT DO NOTHING""",
              name=name, display=name.title(),
              hash=generate_password_hash(PASSWORDS.get(name, "a long enough secret")))


# One database, home and in-process server for the module --------------------

@pytest.fixture(scope="module")
def module_db(pg_server):
    with new_database(pg_server) as url:
        yield url


@pytest.fixture(scope="module")
def module_home(tmp_path_factory, module_db, dask_scheduler):
    """A PEEK_HOME with server and client configs, the plugins enabled."""
    import sys

    from tests.plugin_factory import forget_modules

    home = tmp_path_factory.mktemp("active-task") / "peek-home"
    home.mkdir()
    ports = {name: free_port() for name in ("admin", "server", "mobile")}
    common = {"server": {"host": "127.0.0.1", "port": ports["server"], "secret": "test-secret"}}
    write_config(home, "server", {**common, "http": {"port": ports["admin"]},
                                  "sqlalchemy": {"connectUrl": module_db},
                                  "dask": {"schedulerAddress": dask_scheduler}})
    write_config(home, "client", {**common, "http": {"port": ports["mobile"]}})
    enable_plugins(home, PLUGINS, "server", "client")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PEEK_HOME", str(home))
        patch.setattr(sys, "path", list(sys.path))
        yield home, ports
    forget_modules()


@pytest.fixture(scope="module")
def server(module_home):
    """The server, in this process, serving its sites and the peer endpoint."""
    from peek.config import load_config
    from peek.serve import ServiceProcess

    process = ServiceProcess(load_config("server"))
    process.start(listen=True)
    try:
        for name in PLUGINS:
            record = process.runtime.plugins.records[name]
            assert record.state == "started", (name, record.error, record.traceback)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def database(server) -> str:
    url = server.runtime.database_url
    add_users(url, "alice", "bob", "carol")
    return url


@pytest.fixture
def api(server, database):
    """The API as another plugin (noop) gets it; no tasks left from other tests."""
    execute(database, "DELETE FROM pl_active_task.task")
    noop = server.runtime.plugins.records["peek_plugin_noop"].platform
    return noop.get_other_plugin_api(ACTIVE_TASK)


def new_task(**fields: Any):
    from peek.plugins.peek_plugin_active_task.api import NewTask

    return NewTask(**{"plugin_name": "peek_plugin_noop", "key": "k1", "user_name": "alice",
                      "title": "Check pump 7", **fields})


class Watcher:
    """A subscriber of the server's observables, as a client service is."""

    def __init__(self, server, **filter: Any):
        from peek.plugin_api import TupleSelector

        self.frames: list[dict] = []
        self.selector = TupleSelector.of(TASK_TUPLE, **filter)
        self.observables = server.runtime.vortex.observables
        self.observables.subscribe(self, self.selector)

    def send(self, frame: str) -> bool:
        self.frames.append(json.loads(frame))
        return True

    def titles(self) -> list[str] | None:
        data = [f for f in self.frames if f["type"] == "data"]
        return [t["title"] for t in data[-1]["tuples"]] if data else None

    def close(self) -> None:
        self.observables.drop(self)


def act(server, action: dict, user: str | None) -> dict:
    """Apply an action as one from a device signed in as ``user``."""
    actions = server.runtime.vortex.actions
    action_id = str(uuid.uuid4())
    prepared = actions.prepare(action_id, json.dumps(action).encode(), "client", user)
    assert not isinstance(prepared, str), prepared
    (answer,) = actions.apply([prepared])
    return json.loads(answer)


# Bundling -------------------------------------------------------------------------

def test_bundled_but_not_enabled_by_default():
    from peek.plugin_system.discovery import bundled, discover
    from peek.plugin_system.manifest import schema_name

    found = discover()[ACTIVE_TASK]
    assert found.error is None, found.error
    assert found.manifest.requires_plugins == (CORE_USER,)
    assert {"server", "client", "storage", "admin", "mobile", "desktop"} == set(
        found.manifest.requires_services)
    assert ACTIVE_TASK not in bundled() and "peek_plugin_noop" in bundled()
    assert schema_name(ACTIVE_TASK) == "pl_active_task"


def test_storage_is_migrated(server, database):
    tables = {r["table_name"] for r in query(
        database, "SELECT table_name FROM information_schema.tables "
                  "WHERE table_schema = 'pl_active_task'")}
    assert {"task", "alembic_version"} <= tables
    assert query(database, "SELECT version_num FROM pl_active_task.alembic_version") == [
        {"version_num": "0001"}]


# The API ---------------------------------------------------------------------------

def test_add_update_remove_and_tasks_of(api, database):
    from peek.plugins.peek_plugin_active_task.api import (ActiveTaskApi, AutoDelete, NotifyBy,
                                                          TaskNotFound)
    from peek.plugins.peek_plugin_active_task.tuples import TaskTuple

    assert isinstance(api, ActiveTaskApi)
    task = api.add_task(new_task(description="It hums.", route="/peek_plugin_noop/pumps/7",
                                 notify=NotifyBy.BADGE | NotifyBy.SOUND, user_name="ALICE"))
    assert isinstance(task, TaskTuple)
    assert (task.user, task.key, task.title, task.description, task.route) == (
        "alice", "k1", "Check pump 7", "It hums.", "/peek_plugin_noop/pumps/7")
    assert task.notify == ["badge", "sound"] and task.unread and task.created.tzinfo
    assert task.auto_delete is AutoDelete.NEVER

    # The same key again: refused, unless overwriting (which makes it new again).
    with pytest.raises(ValueError, match="already has a task with key 'k1'"):
        api.add_task(new_task(title="again"))
    execute(database, "UPDATE pl_active_task.task SET read_at = now()")
    replaced = api.add_task(new_task(title="Check pump 8", user_name="bob", overwrite=True))
    assert replaced.id == task.id and replaced.user == "bob" and replaced.unread
    assert api.tasks_of("alice") == [] and [t.title for t in api.tasks_of("Bob")] == [
        "Check pump 8"]
    # Another plugin may use the same key.
    api.add_task(new_task(plugin_name=TUTORIAL, user_name="bob", title="Other"))
    assert [t.title for t in api.tasks_of("bob")] == ["Other", "Check pump 8"]

    updated = api.update_task("peek_plugin_noop", "k1", title="Check pump 9",
                              auto_delete=AutoDelete.AT_TIME, auto_delete_at=utc(hours=1),
                              notify=NotifyBy.POPUP)
    assert (updated.title, updated.auto_delete, updated.notify) == (
        "Check pump 9", AutoDelete.AT_TIME, ["popup"])
    assert api.update_task("peek_plugin_noop", "k1", auto_delete="never").auto_delete_at is None
    with pytest.raises(TaskNotFound, match="has no task with key 'nope'"):
        api.update_task("peek_plugin_noop", "nope", title="x")
    with pytest.raises(ValueError, match="cannot change colour"):
        api.update_task("peek_plugin_noop", "k1", colour="red")
    with pytest.raises(ValueError, match="a task needs a title"):
        api.update_task("peek_plugin_noop", "k1", title=" ")

    assert api.remove_task("peek_plugin_noop", "k1") is True
    assert api.remove_task("peek_plugin_noop", "k1") is False
    assert [t.title for t in api.tasks_of("bob")] == ["Other"]
    from peek.plugin_api import decode, encode
    assert decode(encode(updated)) == updated


BAD_TASKS = [
    (dict(user_name="nobody"), "there is no user named 'nobody'"),
    (dict(user_name=""), "a task needs a user name"),
    (dict(title=""), "a task needs a title"),
    (dict(title="x" * 201), "at most 200"),
    (dict(key=""), "a task needs a key"),
    (dict(plugin_name=" "), "a task needs a plugin name"),
    (dict(route="https://evil.example/"), "is not a local path"),
    (dict(route="//evil.example/x"), "is not a local path"),
    (dict(route="peek_plugin_noop/"), "is not a local path"),
    (dict(route="/a b"), "is not a local path"),
    (dict(route="javascript:alert(1)"), "is not a local path"),
    (dict(auto_delete="sometime"), "is not one of never, at_time, when_opened, when_done"),
    (dict(auto_delete="at_time"), "needs auto_delete_at"),
    (dict(auto_delete="at_time", auto_delete_at=datetime.datetime(2030, 1, 1)),
     "needs a time zone"),
    (dict(auto_delete_at=utc(hours=1)), "auto_delete_at is for auto_delete at_time"),
    (dict(notify=8), "is not NotifyBy flags"),
]


@pytest.mark.parametrize("fields, message", BAD_TASKS)
def test_bad_tasks_are_refused_and_nothing_is_stored(api, database, fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        api.add_task(new_task(**fields))
    assert query(database, "SELECT id FROM pl_active_task.task") == []


def test_the_provider_serves_a_users_tasks_and_changes_notify_only_that_user(server, api):
    alice, bob = Watcher(server, user="alice"), Watcher(server, user="bob")
    anonymous = Watcher(server)
    try:
        wait_for(lambda: alice.titles() == [] and bob.titles() == [], what="empty lists")
        assert anonymous.frames[0]["type"] == "error"
        assert "per-user tuple type" in anonymous.frames[0]["error"]
        bob_frames = len(bob.frames)

        api.add_task(new_task(title="For alice"))
        wait_for(lambda: alice.titles() == ["For alice"], what="alice's task")
        api.update_task("peek_plugin_noop", "k1", description="more")
        wait_for(lambda: alice.frames[-1]["tuples"][0]["description"] == "more",
                 what="the change")
        time.sleep(0.3)
        assert len(bob.frames) == bob_frames      # bob was never told

        # Moving the task to bob tells both.
        api.update_task("peek_plugin_noop", "k1", user_name="bob")
        wait_for(lambda: alice.titles() == [] and bob.titles() == ["For alice"],
                 what="the task moving to bob")
        api.remove_task("peek_plugin_noop", "k1")
        wait_for(lambda: bob.titles() == [], what="the task removed")
    finally:
        for watcher in (alice, bob, anonymous):
            watcher.close()


# Actions from devices ---------------------------------------------------------------

def test_actions_mark_read_done_and_dismiss_only_the_users_own(server, api, database):
    from peek.plugins.peek_plugin_active_task.api import AutoDelete

    plain = api.add_task(new_task(key="plain"))
    opened = api.add_task(new_task(key="opened", auto_delete=AutoDelete.WHEN_OPENED))
    finished = api.add_task(new_task(key="finished", auto_delete=AutoDelete.WHEN_DONE))
    bobs = api.add_task(new_task(key="bobs", user_name="bob"))
    read, done, dismiss = (f"{ACTIVE_TASK}.Task{kind}Action" for kind in
                           ("Read", "Done", "Dismiss"))
    alice = Watcher(server, user="alice")
    try:
        wait_for(lambda: alice.titles() and len(alice.titles()) == 3, what="alice's tasks")

        # Someone else's task, nobody signed in, no such task: refused alike.
        for action, user in (({"_tt": read, "id": bobs.id}, "alice"),
                             ({"_tt": done, "id": bobs.id}, "alice"),
                             ({"_tt": dismiss, "id": bobs.id}, "alice"),
                             ({"_tt": read, "id": 999999}, "alice")):
            answer = act(server, action, user)
            assert answer["error"] == f"PermissionError: there is no task {action['id']} of yours"
        assert act(server, {"_tt": read, "id": plain.id}, None)["error"].startswith(
            "PermissionError: sign in first")
        assert api.tasks_of("bob")[0].unread

        # Read: the plain one stays, read; the one deleting when opened goes.
        answer = act(server, {"_tt": read, "id": plain.id}, "Alice")   # names ignore case
        assert answer["result"]["read_at"] and answer["result"]["done_at"] is None
        assert act(server, {"_tt": read, "id": opened.id}, "alice")["result"] is None
        # Done: marks it (and read); the one deleting when done goes.
        answer = act(server, {"_tt": done, "id": plain.id}, "alice")
        assert answer["result"]["done_at"] and answer["result"]["read_at"]
        assert act(server, {"_tt": done, "id": finished.id}, "alice")["result"] is None
        rows = query(database, "SELECT task_key, read_at IS NOT NULL AS read, "
                               "done_at IS NOT NULL AS done FROM pl_active_task.task "
                               "WHERE user_name = 'alice'")
        assert rows == [{"task_key": "plain", "read": True, "done": True}]
        wait_for(lambda: alice.titles() == ["Check pump 7"] and
                 alice.frames[-1]["tuples"][0]["done_at"], what="alice's devices told")

        assert act(server, {"_tt": dismiss, "id": plain.id}, "alice")["result"] is None
        assert api.tasks_of("alice") == []
        wait_for(lambda: alice.titles() == [], what="the dismissed task gone")
    finally:
        alice.close()


def test_auto_delete_at_a_time(server, api):
    from peek.plugins.peek_plugin_active_task.api import AutoDelete

    api.add_task(new_task(key="soon", title="Soon gone", auto_delete=AutoDelete.AT_TIME,
                          auto_delete_at=utc(seconds=1.5)))
    api.add_task(new_task(key="later", title="Stays", auto_delete=AutoDelete.AT_TIME,
                          auto_delete_at=utc(hours=1)))
    alice = Watcher(server, user="alice")
    try:
        wait_for(lambda: alice.titles() == ["Stays", "Soon gone"], what="both tasks")
        started = time.monotonic()
        wait_for(lambda: alice.titles() == ["Stays"], timeout=10, what="the timer")
        assert time.monotonic() - started < 5
        assert [t.title for t in api.tasks_of("alice")] == ["Stays"]
    finally:
        alice.close()


# Admin -------------------------------------------------------------------------------

def test_the_admin_page_lists_tasks_per_user_and_removes_one(server, api, database):
    api.add_task(new_task(key="a1", title="Alice first"))
    api.add_task(new_task(key="a2", title="Alice second", description="with words"))
    api.add_task(new_task(key="b1", title="Bob one", user_name="bob"))
    client = admin_client(server.apps["admin"])
    menu = client.get("/").get_data(as_text=True)
    assert f'href="/{ACTIVE_TASK}/"' in menu
    page = client.get(f"/{ACTIVE_TASK}/").get_data(as_text=True)
    assert "3 tasks, 3 not opened yet." in page
    sections = dict(re.findall(r'<section class="task-user" data-user="(\w+)">(.*?)</section>',
                               page, re.S))
    assert set(sections) == {"alice", "bob"}
    assert "Alice first" in sections["alice"] and "with words" in sections["alice"]
    assert "Bob one" in sections["bob"] and "Alice" not in sections["bob"]

    (row,) = query(database, "SELECT id FROM pl_active_task.task WHERE task_key = 'b1'")
    assert client.post(f"/{ACTIVE_TASK}/tasks/{row['id']}/remove").status_code == 400  # CSRF
    removed = client.post(f"/{ACTIVE_TASK}/tasks/{row['id']}/remove",
                          data={"csrf_token": csrf_token(page)})
    assert removed.status_code == 302
    assert api.tasks_of("bob") == []
    assert "Removed the task" in client.get(f"/{ACTIVE_TASK}/").get_data(as_text=True)
    assert client.post(f"/{ACTIVE_TASK}/tasks/{row['id']}/remove",
                       data={"csrf_token": csrf_token(page)}).status_code == 404


# The tutorial sends one -------------------------------------------------------------

def test_the_tutorial_sends_a_task_from_its_admin_page(server, api):
    from peek.plugins.peek_plugin_active_task.api import AutoDelete

    settings = server.runtime.plugins.records[TUTORIAL].platform.settings
    client = admin_client(server.apps["admin"])
    page = client.get(f"/{TUTORIAL}/").get_data(as_text=True)
    assert 'id="tutorial-send-task"' in page

    def send() -> str:
        answer = client.post(f"/{TUTORIAL}/task", headers={
            "HX-Request": "true", "X-CSRFToken": csrf_token(page)})
        assert answer.status_code == 200
        return re.search(r'role="status">(.*?)</p>', answer.get_data(as_text=True)).group(1)

    assert "the task_user setting is empty" in send() and api.tasks_of("alice") == []
    settings.set("task_user", "nobody")
    assert "there is no user named &#39;nobody&#39;" in send()
    settings.set("task_user", "alice")
    try:
        assert send() == "Sent a task to alice."
        assert send() == "Sent a task to alice."       # overwritten, not doubled
        (task,) = api.tasks_of("alice")
        assert (task.plugin_name, task.key, task.title, task.route, task.auto_delete) == (
            TUTORIAL, "tutorial-task", "A task from the tutorial plugin",
            "/peek_plugin_tutorial/", AutoDelete.WHEN_OPENED)
    finally:
        settings.reset("task_user")


# On a real client service, with devices signed in -------------------------------------

@pytest.fixture(scope="module")
def client(module_home, server, database):
    """The client service (a separate process) of the module's server."""
    from tests.vortex_harness import ServiceRun

    home, ports = module_home
    run = ServiceRun("client", home, ports["mobile"]).start()
    try:
        run.wait_ready()
        base = f"http://127.0.0.1:{ports['mobile']}"
        token = access_token(base, "alice")
        wait_for(lambda: requests.get(f"{base}/{ACTIVE_TASK}/", timeout=5, headers={
            "Authorization": f"Bearer {token}"}).status_code == 200, timeout=60,
                 what="active_task on the client service")
        yield base
    finally:
        run.stop()


def access_token(base: str, user: str) -> str:
    """Sign ``user`` in as a native app does."""
    answer = requests.post(f"{base}/peek_core_user/api/token", timeout=30, json={
        "grant_type": "password", "username": user, "password": PASSWORDS[user]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["user"]["name"] == user
    return body["access_token"]


def device(base: str, token: str | None, path: str = "/vortex/ws", **headers: str):
    """A device websocket signed in with ``token`` (in the query, as apps may)."""
    import simple_websocket

    from tests.vortex_harness import Device

    url = base.replace("http://", "ws://") + path + (f"?access_token={token}" if token else "")
    connected = Device.__new__(Device)
    connected.ws = simple_websocket.Client.connect(url, headers=headers or None)
    connected.unread = []
    return connected


def browser_session(base: str, user: str) -> requests.Session:
    """Signed in through the sign-in form, as a browser is."""
    http = requests.Session()
    form = http.get(f"{base}/peek_core_user/sign-in", timeout=10)
    assert form.status_code == 200
    form_token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)
    signed_in = http.post(f"{base}/peek_core_user/sign-in", timeout=30, allow_redirects=False,
                          data={"username": user, "password": PASSWORDS[user], "next": "/",
                                "form_token": form_token})
    assert signed_in.status_code == 303, signed_in.text
    return http


def test_a_task_reaches_its_users_devices_live_and_no_one_elses(client, api):
    alice_token, bob_token = access_token(client, "alice"), access_token(client, "bob")
    alice, bob = device(client, alice_token), device(client, bob_token)
    try:
        alice.subscribe(TASK_TUPLE)
        bob.subscribe(TASK_TUPLE, user="alice")        # asking for alice's: gets his own
        assert alice.data() == [] and bob.data() == []

        task = api.add_task(new_task(title="For alice only", route="/peek_plugin_noop/"))
        (seen,) = alice.data(where=bool)
        assert (seen["_tt"], seen["id"], seen["title"], seen["user"]) == (
            TASK_TUPLE, task.id, "For alice only", "alice")
        with pytest.raises(AssertionError, match="timed out"):
            bob.data(timeout=1.5, where=bool)

        # Bob cannot touch it; alice can.
        refused = bob.answer(bob.act({"_tt": f"{ACTIVE_TASK}.TaskDoneAction", "id": task.id}))
        assert refused["error"] == f"PermissionError: there is no task {task.id} of yours"
        read = alice.answer(alice.act({"_tt": f"{ACTIVE_TASK}.TaskReadAction", "id": task.id}))
        assert read["result"]["read_at"]
        assert alice.data(where=lambda t: t and t[0]["read_at"])[0]["id"] == task.id

        # Over REST too: bob's bearer token sees bob's tasks whatever the filter says.
        selector = json.dumps({"name": TASK_TUPLE, "filter": {"user": "alice"}})
        for token, expected in ((bob_token, []), (alice_token, ["For alice only"])):
            answer = requests.get(f"{client}/vortex/api/data", params={"selector": selector},
                                  headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert answer.status_code == 200, answer.text
            assert [t["title"] for t in answer.json()["tuples"]] == expected
    finally:
        alice.close()
        bob.close()
    # Nobody signed in: no websocket at all.
    import simple_websocket
    with pytest.raises(simple_websocket.ConnectionError):
        device(client, None)


def live_html(page, partial: str, selector: dict, where=lambda html: True) -> str:
    page.send("subscribe", selector=selector, partial=partial)

    def arrived():
        raw = page.ws.receive(timeout=0.2)
        return raw if raw and 'hx-swap-oob="innerHTML"' in raw and where(raw) else None
    return wait_for(arrived, timeout=20, interval=0, what=f"{partial} HTML")


def badge_of(html: str) -> tuple[int, bool]:
    found = re.search(r'<span class="peek-badge" id="task-badge" data-count="(\d+)"([^>]*)>',
                      html)
    return int(found.group(1)), " hidden" not in found.group(2)


def test_the_pages_and_the_home_tiles_live_badge(client, api):
    http = browser_session(client, "alice")
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    for home, prefix in (("/", ""), ("/desktop/", "/desktop")):
        page = http.get(f"{client}{home}", timeout=10).text
        page = page[page.index('id="home-tiles"'):]
        tiles = re.findall(rf'<a href="{prefix}/{ACTIVE_TASK}/" data-plugin="{ACTIVE_TASK}">',
                           page)
        assert len(tiles) == 1, home                       # one tile, with the badge in it
        tile = page[page.index(tiles[0]):].split("</li>", 1)[0]
        assert f'data-vortex-partial="{ACTIVE_TASK}.badge"' in tile
        selector = json.loads(re.search(r'data-vortex-selector="([^"]+)"', tile).group(1)
                              .replace("&#34;", '"').replace("&quot;", '"'))
        assert selector == {"filter": {"user": "alice"}, "name": TASK_TUPLE}
    for path in (f"/{ACTIVE_TASK}/", f"/desktop/{ACTIVE_TASK}/"):
        page = http.get(f"{client}{path}", timeout=10)
        assert page.status_code == 200 and f"{ACTIVE_TASK}." in page.text, path

    live = device(client, None, "/vortex/live", Cookie=cookie)
    try:
        assert badge_of(live_html(live, f"{ACTIVE_TASK}.badge", selector)) == (0, False)
        first = api.add_task(new_task(key="b1", title="First", route="/peek_plugin_noop/"))
        assert badge_of(live_html(live, f"{ACTIVE_TASK}.badge", selector,
                                  lambda h: 'data-count="1"' in h)) == (1, True)
        api.add_task(new_task(key="b2", title="Second"))
        html = live_html(live, f"{ACTIVE_TASK}.badge", selector,
                         lambda h: 'data-count="2"' in h)
        assert badge_of(html) == (2, True)

        tasks = live_html(live, f"{ACTIVE_TASK}.tasks", selector, lambda h: "First" in h)
        assert 'href="/peek_plugin_noop/"' in tasks
        assert f'"_tt": "{ACTIVE_TASK}.TaskReadAction", "id": {first.id}' in tasks
        assert f'"_tt": "{ACTIVE_TASK}.TaskDoneAction", "id": {first.id}' in tasks
        desktop = live_html(live, f"{ACTIVE_TASK}.desktop_tasks", selector,
                            lambda h: "First" in h)
        assert 'href="/desktop/peek_plugin_noop/"' in desktop

        # Opening one (the page's action) takes it off the badge.
        answer = requests.post(f"{client}/vortex/api/actions", timeout=30, headers={
            "Cookie": cookie}, json={"type": "action", "id": str(uuid.uuid4()), "tuple": {
                "_tt": f"{ACTIVE_TASK}.TaskReadAction", "id": first.id}})
        assert answer.status_code == 200 and answer.json()["result"]["read_at"], answer.text
        assert badge_of(live_html(live, f"{ACTIVE_TASK}.badge", selector,
                                  lambda h: 'data-count="1"' in h)) == (1, True)
        api.remove_task("peek_plugin_noop", "b2")
        assert badge_of(live_html(live, f"{ACTIVE_TASK}.badge", selector,
                                  lambda h: 'data-count="0"' in h)) == (0, False)
    finally:
        live.close()


# Each with a server of its own (after the module's, which they would disturb) ----

def test_the_model_matches_the_migration_which_downgrades(configured, engine, tmp_path):
    """Autogenerate finds nothing new, and the revision goes back down."""
    import sqlalchemy

    from peek.plugin_system.operations import generate_migration
    from peek.plugin_system.storage import downgrade_plugin_schema
    from peek.plugins import peek_plugin_active_task

    written = generate_migration(ACTIVE_TASK, "nothing new", configured)
    if written is not None:
        text = written.read_text()
        written.unlink()
        pytest.fail(f"the model differs from the migration:\n{text}")
    assert "task" in sqlalchemy.inspect(engine).get_table_names(schema="pl_active_task")
    empty = tmp_path / "no-versions"
    empty.mkdir()
    assert downgrade_plugin_schema(engine, "pl_active_task",
                                   Path(peek_plugin_active_task.__file__).parent, empty)
    assert "task" not in sqlalchemy.inspect(engine).get_table_names(schema="pl_active_task")


def test_tasks_survive_a_restart_and_the_tutorial_sends_one_at_start(
        configured, start_service, database_url):
    enable_plugins(configured, PLUGINS, "server")
    first = start_service("server", listen=False)
    add_users(database_url, "alice")
    platform = first.runtime.plugins.records["peek_plugin_noop"].platform
    platform.get_other_plugin_api(ACTIVE_TASK).add_task(new_task(title="Kept"))
    first.runtime.plugins.records[TUTORIAL].platform.settings.set("task_user", "alice")
    first.stop()

    second = start_service("server", listen=False)
    api = second.runtime.plugins.records["peek_plugin_noop"].platform.get_other_plugin_api(
        ACTIVE_TASK)
    assert sorted(t.title for t in api.tasks_of("alice")) == [
        "A task from the tutorial plugin", "Kept"]


def test_without_peek_core_user_it_does_not_start_and_says_why(configured, start_service):
    enable_plugins(configured, ["peek_plugin_noop", ACTIVE_TASK, TUTORIAL], "server")
    process = start_service("server", listen=False)
    record = process.runtime.plugins.records[ACTIVE_TASK]
    assert record.state == "not started"
    assert record.error == f"requires {CORE_USER}, which is not installed or not enabled"
    # The tutorial does not need it: it runs, and says why it sent nothing.
    tutorial = process.runtime.plugins.records[TUTORIAL]
    assert tutorial.state == "started"
    tutorial.platform.settings.set("task_user", "alice")
    assert "No task sent" in tutorial.hook.send_task()
    assert ACTIVE_TASK in tutorial.hook.send_task()

    client = admin_client(process.apps["admin"])
    table = client.get("/plugins/table").get_data(as_text=True)
    row = re.search(rf'<tr id="plugin-{ACTIVE_TASK}".*?</tr>', table, re.S).group(0)
    assert f"requires {CORE_USER}, which is not installed or not enabled" in row
