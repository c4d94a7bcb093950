"""Device sign-in through peek_core_user (docs/core_user.md): a server and a
client service as separate processes, real HTTP and websockets.  The
services are shared by the module's tests; each test uses users of its own
(the slow-down remembers names) and, where sign-ins fail, a loopback source
address of its own (it remembers addresses too)."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import time
import uuid
from types import SimpleNamespace

import pytest
import requests
import simple_websocket
from requests.adapters import HTTPAdapter

from tests.admin_session import admin_requests, csrf_token
from tests.conftest import (enable_plugins, free_port, new_database, query, wait_for,
                            write_config)
from tests.vortex_harness import Device, ServiceRun, install_tally

CORE_USER = "peek_core_user"
BASE = f"/{CORE_USER}"
PASSWORD = "tall purple giraffe"
MY_TALLY = "peek_plugin_tally.MyTally"
TALLY = json.dumps({"name": "peek_plugin_tally.Tally", "filter": {"name": "x"}})


class FromAddress(HTTPAdapter):
    """Connect from another loopback address (127.0.0.x), as another device."""

    def __init__(self, address: str, **kwargs):
        self._address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def peek(tmp_path_factory, pg_server, dask_scheduler):
    """A server and a client service with peek_core_user and the tally test
    plugin enabled, an administrator signed in to the admin site, and a few
    users."""
    home = tmp_path_factory.mktemp("sign-in") / "peek-home"
    home.mkdir()
    ports = {name: free_port() for name in ("admin", "server", "mobile")}
    with new_database(pg_server) as database_url:
        common = {"server": {"host": "127.0.0.1", "port": ports["server"],
                             "secret": "test-secret"}}
        write_config(home, "server", {**common, "http": {"port": ports["admin"]},
                                      "sqlalchemy": {"connectUrl": database_url},
                                      "dask": {"schedulerAddress": dask_scheduler}})
        write_config(home, "client", {**common, "http": {"port": ports["mobile"]}})
        install_tally(home)
        enable_plugins(home, ["peek_plugin_tally", CORE_USER], "server", "client")
        server = ServiceRun("server", home, ports["admin"]).start().wait_ready()
        client = ServiceRun("client", home, ports["mobile"]).start().wait_ready()
        mobile = f"http://127.0.0.1:{ports['mobile']}"
        admin_base = f"http://127.0.0.1:{ports['admin']}"
        try:
            # The client service guards its routes once peek_core_user started there.
            wait_for(lambda: requests.get(f"{mobile}/", allow_redirects=False, timeout=5,
                                          headers={"Accept": "text/html"}).status_code == 302,
                     what="the client's sign-in guard")
            admin = admin_requests(admin_base, database_url)
            env = SimpleNamespace(home=home, ports=ports, database_url=database_url,
                                  mobile=mobile, admin_base=admin_base, admin=admin,
                                  server=server, client=client)
            for user, groups, enabled in (("alice", "ops, field", True), ("bob", "ops", True),
                                          ("carol", "", False)):
                add_user(env, user, groups=groups, enabled=enabled,
                         display_name=user.capitalize() + " Example")
            yield env
        finally:
            client.stop()
            server.stop()


def add_user(peek, name, groups="", enabled=True, display_name=""):
    form = peek.admin.get(f"{peek.admin_base}{BASE}/add", timeout=10).text
    data = {"name": name, "display_name": display_name, "groups": groups,
            "password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_token(form)}
    if enabled:
        data["enabled"] = "true"
    reply = peek.admin.post(f"{peek.admin_base}{BASE}/add", data=data, timeout=10,
                            allow_redirects=False)
    assert reply.status_code == 302, reply.text


def sign_ins_page(peek) -> tuple[str, str]:
    """The admin Sign-ins page: its live sign-ins, and those revoked lately."""
    page = peek.admin.get(f"{peek.admin_base}{BASE}/sessions", timeout=10).text
    live, revoked = page.split('id="revoked-table"')
    return live, revoked


def admin_post(peek, path, data=None):
    page = peek.admin.get(f"{peek.admin_base}{BASE}/sessions", timeout=10).text
    return peek.admin.post(f"{peek.admin_base}{path}", timeout=10, allow_redirects=False,
                           data={**(data or {}), "csrf_token": csrf_token(page)})


def browser(address: str | None = None) -> requests.Session:
    http = requests.Session()
    http.headers["Accept"] = "text/html,application/xhtml+xml"
    if address:
        http.mount("http://", FromAddress(address))
    return http


def form_token(page: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def sign_in_form(peek, http, name, password=PASSWORD, next_path="/"):
    """Open the sign-in page and send its form, as a browser does."""
    page = http.get(f"{peek.mobile}{BASE}/sign-in", timeout=20).text
    return http.post(f"{peek.mobile}{BASE}/sign-in", timeout=20, allow_redirects=False,
                     data={"username": name, "password": password, "next": next_path,
                           "form_token": form_token(page)})


def message_of(page: str) -> str | None:
    found = re.search(r'<p id="sign-in-error" role="alert">(.*?)</p>', page, re.S)
    return found and found.group(1)


def token(peek, address: str | None = None, **body):
    http = requests.Session()
    if address:
        http.mount("http://", FromAddress(address))
    return http.post(f"{peek.mobile}{BASE}/api/token", json=body, timeout=20)


def password_grant(peek, name, password=PASSWORD, address=None):
    return token(peek, address, grant_type="password", username=name, password=password)


def bearer(access: str) -> dict:
    return {"Authorization": f"Bearer {access}"}


def data(peek, access: str | None, selector: str = TALLY):
    return requests.get(f"{peek.mobile}/vortex/api/data", params={"selector": selector},
                        headers=bearer(access) if access else {}, timeout=20)


def device(peek, access: str, in_query: bool = False) -> Device:
    """A native app's device websocket, signed in by header or query parameter."""
    signed_in = Device.__new__(Device)
    signed_in.unread = []
    url = f"ws://127.0.0.1:{peek.ports['mobile']}/vortex/ws"
    if in_query:
        signed_in.ws = simple_websocket.Client.connect(f"{url}?access_token={access}")
    else:
        signed_in.ws = simple_websocket.Client.connect(url, headers=bearer(access))
    return signed_in


def handshake(peek, path: str, **headers) -> requests.Response:
    return requests.get(f"{peek.mobile}{path}", timeout=10, headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **headers})


def session_rows(peek, user: str) -> list[dict]:
    return query(peek.database_url, "SELECT * FROM core_user.sign_in_session "
                                    "WHERE user_name = :u ORDER BY created", u=user)


def set_setting(peek, name: str, value) -> None:
    """Straight into the plugin's settings table: the server reads it at each
    sign-in.  (A fraction of a minute cannot be typed on the Settings page;
    the tests store one to see tokens expire in seconds.)"""
    query(peek.database_url, "INSERT INTO core_user.plugin_setting (name, value) "
                             "VALUES (:n, CAST(:v AS jsonb)) ON CONFLICT (name) DO UPDATE "
                             "SET value = EXCLUDED.value RETURNING name",
          n=name, v=json.dumps(value))


def reset_setting(peek, name: str) -> None:
    query(peek.database_url, "DELETE FROM core_user.plugin_setting WHERE name = :n "
                             "RETURNING name", n=name)


def closed_with(dev: Device, timeout: float = 5) -> tuple[float, int | None, dict | None]:
    """Wait until the device's websocket closes: (seconds, close code, the
    last status frame seen)."""
    started, status = time.monotonic(), None
    while time.monotonic() - started < timeout:
        try:
            raw = dev.ws.receive(timeout=0.1)
        except simple_websocket.ConnectionClosed:
            return time.monotonic() - started, dev.ws.close_reason, status
        if raw is not None and raw.startswith("{"):
            frame = json.loads(raw)
            if frame.get("type") == "status":
                status = frame
        elif raw is not None and "signed-out" in raw:
            status = {"html": raw}
    raise AssertionError(f"the websocket stayed open for {timeout} s")


# ---------------------------------------------------------------------------

def test_every_device_route_needs_a_signed_in_user(peek):
    http = browser()
    for path in ("/", "/desktop/", "/peek_plugin_tally/", f"{BASE}/"):
        reply = http.get(f"{peek.mobile}{path}", allow_redirects=False, timeout=10)
        assert reply.status_code == 302, path
        assert reply.headers["Location"].endswith(f"{BASE}/sign-in?next={path}"), path
    reply = http.get(f"{peek.mobile}/peek_plugin_tally/?a=1", allow_redirects=False,
                     timeout=10)
    assert reply.headers["Location"].endswith(f"{BASE}/sign-in?next=/peek_plugin_tally/%3Fa%3D1")

    refused = [data(peek, None),
               requests.post(f"{peek.mobile}/vortex/api/actions", timeout=10, json={
                   "type": "action", "id": str(uuid.uuid4()),
                   "tuple": {"_tt": "peek_plugin_tally.AddToTally", "name": "x"}}),
               handshake(peek, "/vortex/ws"), handshake(peek, "/vortex/live"),
               handshake(peek, "/vortex/ws?access_token=forged"),
               data(peek, "forged.token"),
               requests.get(f"{peek.mobile}/", timeout=10, headers={"Accept": "application/json"})]
    for reply in refused:
        assert reply.status_code == 401, (reply.request.url, reply.status_code)
        assert reply.json()["type"] == "error"
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(Exception):
        simple_websocket.Client.connect(f"ws://127.0.0.1:{peek.ports['mobile']}/vortex/ws")

    # Public: health, the OpenAPI document, the sign-in page and the token endpoint.
    assert requests.get(f"{peek.mobile}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{peek.mobile}/vortex/api/openapi.json", timeout=10).status_code == 200
    page = http.get(f"{peek.mobile}{BASE}/sign-in?next=/desktop/", timeout=10)
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert '<button type="submit">Sign in</button>' in page.text
    assert 'value="/desktop/"' in page.text and "ws-connect" not in page.text
    assert token(peek).status_code == 400


def test_signing_in_on_the_site(peek):
    http = browser("127.0.0.2")
    for name, password in (("alice", "not her password"), ("nobody", PASSWORD),
                           ("carol", PASSWORD)):  # carol is disabled
        reply = sign_in_form(peek, http, name, password, "/desktop/")
        assert reply.status_code == 401, name
        assert message_of(reply.text) == "Wrong name or password.", name
        assert password not in reply.text and 'value="/desktop/"' in reply.text
    time.sleep(1.1)  # three failures from this address: the next waits a second
    assert sign_in_form(peek, http, "alice", "").status_code == 400

    reply = sign_in_form(peek, http, "Alice", next_path="/desktop/")
    assert reply.status_code == 303 and reply.headers["Location"] == "/desktop/"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    desktop = http.get(f"{peek.mobile}/desktop/", allow_redirects=False, timeout=10)
    assert desktop.status_code == 200
    assert 'id="signed-in" data-user="alice"' in desktop.text and "Alice Example" in desktop.text
    assert http.get(f"{peek.mobile}/", timeout=10).status_code == 200
    account = http.get(f"{peek.mobile}{BASE}/", timeout=10)
    assert '<dd id="account-name">alice</dd>' in account.text
    assert "field, ops" in account.text
    # The session cookie carries the site's sign-in to the vortex too.
    assert http.get(f"{peek.mobile}/vortex/api/data", params={"selector": TALLY},
                    timeout=10).status_code == 200

    [row] = session_rows(peek, "alice")
    assert row["kind"] == "site" and row["address"] == "127.0.0.2"
    assert row["revoked_at"] is None and len(row["refresh_hash"]) == 64
    assert row["user_agent"].startswith("python-requests")

    # Only a local path is followed after signing in.
    for target in ("https://elsewhere.example/", "//elsewhere.example/", "/\\elsewhere",
                   "javascript:alert(1)"):
        reply = sign_in_form(peek, browser("127.0.0.2"), "bob", next_path=target)
        assert reply.status_code == 303 and reply.headers["Location"] == "/", target
    # A form a browser says another site posted is refused, unchecked.
    victim, sign_ins = browser("127.0.0.2"), len(session_rows(peek, "bob"))
    forged = victim.post(f"{peek.mobile}{BASE}/sign-in", timeout=10, data={
        "username": "bob", "password": PASSWORD}, headers={"Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403
    assert message_of(forged.text) == "This sign-in form was sent from another site."
    # A browser that does not say so: the form lacks the token of the page
    # this browser was given, so it is refused too.
    for sent in ({}, {"form_token": form_token(browser().get(
            f"{peek.mobile}{BASE}/sign-in", timeout=10).text)}):
        forged = victim.post(f"{peek.mobile}{BASE}/sign-in", timeout=10, data={
            "username": "bob", "password": PASSWORD, **sent})
        assert forged.status_code == 400, sent
        assert message_of(forged.text) == ("This sign-in form has expired. Type your name "
                                           "and your password again."), sent
    assert victim.get(f"{peek.mobile}/desktop/", allow_redirects=False,
                      timeout=10).status_code == 302
    assert len(session_rows(peek, "bob")) == sign_ins


def test_repeated_failures_slow_down_per_name_and_per_address(peek):
    add_user(peek, "dave")
    http = browser("127.0.0.3")
    for _ in range(3):
        assert sign_in_form(peek, http, "dave", "wrong guess").status_code == 401
    # The fourth, even with the right password, is refused unchecked for a second.
    slowed = sign_in_form(peek, http, "dave")
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
    assert message_of(slowed.text) == "Too many failed sign-ins; try again in 1 s."
    api = password_grant(peek, "dave", address="127.0.0.3")
    assert api.status_code == 429 and api.headers["Retry-After"] == "1"
    assert api.json()["error"] == "slow_down"
    time.sleep(1.1)
    assert sign_in_form(peek, http, "dave", "wrong again").status_code == 401
    slowed = sign_in_form(peek, http, "dave")  # now two seconds
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "2"
    time.sleep(2.1)
    assert sign_in_form(peek, http, "dave").status_code == 303  # which resets both
    assert sign_in_form(peek, browser("127.0.0.3"), "dave", "wrong").status_code == 401
    assert sign_in_form(peek, browser("127.0.0.3"), "dave").status_code == 303

    # Per address: three names failing from one address slow down the fourth name.
    for name in ("x-one", "x-two", "x-three"):
        assert password_grant(peek, name, address="127.0.0.4").status_code == 401
    assert password_grant(peek, "alice", address="127.0.0.4").status_code == 429
    assert password_grant(peek, "alice", address="127.0.0.14").status_code == 200

    # Per name: failures from three addresses slow the name down everywhere.
    add_user(peek, "erin")
    for address in ("127.0.0.5", "127.0.0.6", "127.0.0.7"):
        assert password_grant(peek, "erin", "wrong", address).status_code == 401
    assert password_grant(peek, "erin", address="127.0.0.8").status_code == 429

    log = (peek.home / "peek-server.log").read_text()
    assert "Failed sign-in of 'dave' from 127.0.0.3" in log
    assert "wrong guess" not in log and PASSWORD not in log


def test_the_token_endpoint(peek):
    reply = password_grant(peek, "bob")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 15 * 60
    assert body["user"] == {"name": "bob", "display_name": "Bob Example", "groups": ["ops"]}
    assert data(peek, body["access_token"]).status_code == 200
    rows = [r for r in session_rows(peek, "bob") if r["kind"] == "app"]
    assert rows and body["refresh_token"] not in json.dumps([str(v) for r in rows
                                                              for v in r.values()])

    for bad, description in (({}, "grant_type"), ({"grant_type": "magic"}, "grant_type"),
                             ({"grant_type": "password", "username": "bob"}, "password"),
                             ({"grant_type": "refresh_token"}, "refresh_token")):
        reply = token(peek, **bad)
        assert reply.status_code == 400, bad
        assert reply.json()["error"] == "invalid_request"
        assert description in reply.json()["error_description"]
    reply = requests.post(f"{peek.mobile}{BASE}/api/token", data="not json", timeout=10)
    assert reply.status_code == 400
    reply = password_grant(peek, "bob", "wrong", address="127.0.0.9")
    assert reply.status_code == 401 and reply.json() == {
        "error": "invalid_grant", "error_description": "wrong name or password"}
    assert token(peek, grant_type="refresh_token", refresh_token="made-up").json()[
        "error"] == "invalid_grant"


def test_tokens_expire_and_refresh_rotates_them(peek):
    add_user(peek, "frank")
    set_setting(peek, "access_token_minutes", 0.05)  # 3 s
    try:
        first = password_grant(peek, "frank").json()
        assert first["expires_in"] == 3
        assert data(peek, first["access_token"]).status_code == 200
        http = browser()
        assert sign_in_form(peek, http, "frank").status_code == 303
        site_hash = session_rows(peek, "frank")[-1]["refresh_hash"]
    finally:
        reset_setting(peek, "access_token_minutes")
    time.sleep(3.2)
    assert data(peek, first["access_token"]).status_code == 401

    # The app refreshes: new tokens (the normal lifetime now), the old refresh token refused.
    second = token(peek, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["expires_in"] == 900
    assert second["user"]["name"] == "frank"
    assert data(peek, second["access_token"]).status_code == 200
    again = token(peek, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 401 and again.json()["error"] == "invalid_grant"

    # The browser's expired access token is refreshed on its next requests, all
    # of them at once with the one cookie.
    old_cookies = http.cookies.copy()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: http.get(f"{peek.mobile}/desktop/",
                                                   allow_redirects=False, timeout=20),
                                range(6)))
    assert [r.status_code for r in replies] == [200] * 6
    site = [r for r in session_rows(peek, "frank") if r["kind"] == "site"][-1]
    assert site["refresh_hash"] != site_hash and site["last_used"] > site["created"]
    # A response to a request that still carried the old cookie (a stylesheet
    # loading meanwhile) does not put the used tokens back into the browser.
    stale = requests.get(f"{peek.mobile}/static/css/peek.css", cookies=old_cookies,
                         timeout=10)
    assert stale.status_code == 200 and "Set-Cookie" not in stale.headers

    # An expired refresh token is refused.
    query(peek.database_url, "UPDATE core_user.sign_in_session SET refresh_expires = now() "
                             "WHERE user_name = 'frank' RETURNING id")
    expired = token(peek, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert expired.status_code == 401


def digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def row_holding(peek, user: str, refresh_token: str) -> dict:
    """The sign-in whose current refresh token this is."""
    [row] = [r for r in session_rows(peek, user) if r["refresh_hash"] == digest(refresh_token)]
    return row


def used_refresh_rows(peek, session_id: str) -> list[dict]:
    return query(peek.database_url, "SELECT * FROM core_user.sign_in_used_refresh "
                                    "WHERE session_id = :s ORDER BY used_at", s=session_id)


def test_a_refresh_token_used_again_later_revokes_its_sign_in(peek):
    add_user(peek, "kate")
    first = password_grant(peek, "kate").json()
    elsewhere = password_grant(peek, "kate").json()  # another device of hers
    second = token(peek, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    app_row = row_holding(peek, "kate", second["refresh_token"])

    # Used again at once (a retry after a lost answer, two requests racing):
    # refused, and the sign-in goes on.
    again = token(peek, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 401 and again.json() == {
        "error": "invalid_grant", "error_description":
            "the refresh token is not valid (unknown, expired, revoked or already used)"}
    third = token(peek, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert third.status_code == 200, third.text
    third = third.json()
    signed_in = device(peek, third["access_token"])
    signed_in.send("ping")
    assert signed_in.next(lambda f: f["type"] == "pong")
    used = used_refresh_rows(peek, app_row["id"])
    assert [u["refresh_hash"] for u in used] == [
        digest(t) for t in (first["refresh_token"], second["refresh_token"])]
    assert all(r["revoked_at"] is None for r in session_rows(peek, "kate"))

    # A minute later the first token, two rotations old, comes back: someone
    # holds a copy.  The sign-in is revoked, cutting off whoever holds the
    # current tokens too; her other device goes on.
    query(peek.database_url, "UPDATE core_user.sign_in_used_refresh "
                             "SET used_at = used_at - interval '2 minutes' "
                             "WHERE session_id = :s RETURNING refresh_hash", s=app_row["id"])
    replay = token(peek, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_grant"
    took, code, status = closed_with(signed_in)
    assert took < 2 and code == 4401 and status == {"type": "status", "state": "signed-out"}
    assert data(peek, third["access_token"]).status_code == 401
    assert token(peek, grant_type="refresh_token",
                 refresh_token=third["refresh_token"]).status_code == 401
    [row] = [r for r in session_rows(peek, "kate") if r["id"] == app_row["id"]]
    assert row["revoked_by"] == "refresh token used again" and row["revoked_at"] is not None
    assert data(peek, elsewhere["access_token"]).status_code == 200
    # The administrator sees why on the Sign-ins page.
    live, revoked = sign_ins_page(peek)
    assert f'data-session="{row["id"]}"' not in live
    [shown] = re.findall(rf'<tr data-session="{row["id"]}" data-user="kate">(.*?)</tr>',
                         revoked, re.S)
    assert "<mark>refresh token used again</mark>" in shown

    # A rotated token older than the refresh lifetime has expired anyway: it
    # is forgotten at the sign-in's next rotation.
    later = token(peek, grant_type="refresh_token", refresh_token=elsewhere["refresh_token"])
    assert later.status_code == 200
    later = later.json()
    elsewhere_id = row_holding(peek, "kate", later["refresh_token"])["id"]
    query(peek.database_url, "UPDATE core_user.sign_in_used_refresh "
                             "SET used_at = used_at - interval '31 days' "
                             "WHERE session_id = :s RETURNING refresh_hash", s=elsewhere_id)
    assert len(used_refresh_rows(peek, elsewhere_id)) == 1
    assert token(peek, grant_type="refresh_token",
                 refresh_token=later["refresh_token"]).status_code == 200
    assert [u["refresh_hash"] for u in used_refresh_rows(peek, elsewhere_id)] == [
        digest(later["refresh_token"])]


def test_revoking_from_the_admin_page_closes_websockets_and_refuses_the_tokens(peek):
    add_user(peek, "gina")
    app = password_grant(peek, "gina").json()
    other = password_grant(peek, "gina").json()
    http = browser()
    assert sign_in_form(peek, http, "gina").status_code == 303
    by_header, by_query = device(peek, app["access_token"]), device(
        peek, other["access_token"], in_query=True)
    by_header.subscribe(MY_TALLY)
    assert by_header.data() == [{"_tt": MY_TALLY, "user": "gina", "note": ""}]
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    page = simple_websocket.Client.connect(
        f"ws://127.0.0.1:{peek.ports['mobile']}/vortex/live", headers={"Cookie": cookie})

    listing, _ = sign_ins_page(peek)
    assert 'id="session-table"' in listing
    rows = re.findall(r'<tr data-session="([^"]+)" data-user="gina">(.*?)</tr>', listing, re.S)
    assert len(rows) == 3 and sum("Sign out everywhere" in r for _, r in rows) == 1
    assert any(">app<" in r for _, r in rows) and any(">site<" in r for _, r in rows)
    users_page = peek.admin.get(f"{peek.admin_base}{BASE}/", timeout=10).text
    assert f'href="{BASE}/sessions"' in users_page
    menu = users_page[users_page.index('id="admin-menu"'):]
    assert f'href="{BASE}/sessions"' in menu and ">Sign-ins<" in menu

    # Revoke the app's sign-in: its websocket closes at once, its tokens stop working.
    app_row = next(r for r in session_rows(peek, "gina") if r["kind"] == "app")
    assert admin_post(peek, f"{BASE}/sessions/{app_row['id']}/revoke").status_code == 302
    took, code, status = closed_with(by_header)
    assert took < 2 and code == 4401 and status == {"type": "status", "state": "signed-out"}
    assert data(peek, app["access_token"]).status_code == 401
    assert token(peek, grant_type="refresh_token",
                 refresh_token=app["refresh_token"]).status_code == 401
    [row] = [r for r in session_rows(peek, "gina") if r["id"] == app_row["id"]]
    assert row["revoked_by"] == "administrator root" and row["revoked_at"] is not None
    # The other sign-ins go on.
    assert data(peek, other["access_token"]).status_code == 200
    by_query.send("ping")
    assert by_query.next(lambda f: f["type"] == "pong")

    # Sign out everywhere: the query-signed websocket and the browser's live page close.
    assert admin_post(peek, f"{BASE}/users/gina/sessions/revoke").status_code == 302
    assert "Signed gina out everywhere (2 sign-ins)." in peek.admin.get(
        f"{peek.admin_base}{BASE}/sessions", timeout=10).text
    took, code, _ = closed_with(by_query)
    assert took < 2 and code == 4401
    page_closed = closed_with(SimpleNamespace(ws=page))
    assert page_closed[1] == 4401 and "signed-out" in page_closed[2]["html"]
    assert http.get(f"{peek.mobile}/desktop/", allow_redirects=False,
                    timeout=10).status_code == 302
    live, revoked = sign_ins_page(peek)
    assert 'data-user="gina"' not in live
    gone = re.findall(r'<tr data-session="[^"]+" data-user="gina">(.*?)</tr>', revoked, re.S)
    assert len(gone) == 3 and sum("<td>administrator root</td>" in r for r in gone) == 3


def test_disabling_a_user_signs_them_out(peek):
    add_user(peek, "henry")
    app = password_grant(peek, "henry").json()
    dev = device(peek, app["access_token"])
    page = peek.admin.get(f"{peek.admin_base}{BASE}/", timeout=10).text
    reply = peek.admin.post(f"{peek.admin_base}{BASE}/users/henry/enabled", timeout=10,
                            data={"enabled": "false", "csrf_token": csrf_token(page)},
                            allow_redirects=False)
    assert reply.status_code == 302
    assert closed_with(dev)[1] == 4401
    assert data(peek, app["access_token"]).status_code == 401
    assert password_grant(peek, "henry").status_code == 401


def test_a_new_password_signs_the_user_out(peek):
    add_user(peek, "irene")
    app = password_grant(peek, "irene").json()
    dev = device(peek, app["access_token"])
    new = "an entirely new secret"
    page = peek.admin.get(f"{peek.admin_base}{BASE}/users/irene/password", timeout=10).text
    reply = peek.admin.post(f"{peek.admin_base}{BASE}/users/irene/password", timeout=10,
                            data={"password": new, "confirm": new,
                                  "csrf_token": csrf_token(page)}, allow_redirects=False)
    assert reply.status_code == 302
    assert closed_with(dev)[1] == 4401
    assert data(peek, app["access_token"]).status_code == 401
    assert token(peek, grant_type="refresh_token",
                 refresh_token=app["refresh_token"]).status_code == 401
    assert password_grant(peek, "irene").status_code == 401
    assert password_grant(peek, "irene", new).status_code == 200


def test_signing_out(peek):
    add_user(peek, "ivy")
    http = browser()
    assert sign_in_form(peek, http, "ivy").status_code == 303
    assert http.get(f"{peek.mobile}/", allow_redirects=False, timeout=10).status_code == 200
    home = http.get(f"{peek.mobile}/", timeout=10).text
    assert 'action="/peek_core_user/sign-out"' in home
    reply = http.post(f"{peek.mobile}{BASE}/sign-out", allow_redirects=False, timeout=10)
    assert reply.status_code == 303 and reply.headers["Location"] == f"{BASE}/sign-in"
    assert reply.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert http.get(f"{peek.mobile}/", allow_redirects=False, timeout=10).status_code == 302
    [row] = session_rows(peek, "ivy")
    assert row["revoked_at"] is not None and row["revoked_by"] == "ivy"

    app = password_grant(peek, "ivy").json()
    signed_out = requests.post(f"{peek.mobile}{BASE}/api/sign-out", timeout=10,
                               headers=bearer(app["access_token"]))
    assert signed_out.status_code == 204
    assert data(peek, app["access_token"]).status_code == 401
    assert token(peek, grant_type="refresh_token",
                 refresh_token=app["refresh_token"]).status_code == 401
    assert requests.post(f"{peek.mobile}{BASE}/api/sign-out", timeout=10,
                         headers=bearer(app["access_token"])).status_code == 401


def test_the_signed_in_user_reaches_the_server(peek):
    """A per-user selector carries the device's user, whatever it asked for,
    and actions carry it as ctx.user."""
    app = password_grant(peek, "alice").json()
    dev = device(peek, app["access_token"])
    dev.subscribe(MY_TALLY, user="bob", note="mine")
    assert dev.data() == [{"_tt": MY_TALLY, "user": "alice", "note": "mine"}]
    action = dev.act({"_tt": "peek_plugin_tally.WhoAmI"})
    assert dev.answer(action)["result"] == {"user": "alice"}
    dev.close()

    bob = password_grant(peek, "bob").json()
    selector = json.dumps({"name": MY_TALLY, "filter": {"user": "alice"}})
    reply = data(peek, bob["access_token"], selector)
    assert reply.status_code == 200 and reply.json()["tuples"][0]["user"] == "bob"
    reply = requests.post(f"{peek.mobile}/vortex/api/actions", timeout=20,
                          headers=bearer(bob["access_token"]), json={
                              "type": "action", "id": str(uuid.uuid4()),
                              "tuple": {"_tt": "peek_plugin_tally.WhoAmI"}})
    assert reply.status_code == 200 and reply.json()["result"] == {"user": "bob"}


def test_a_per_user_type_the_client_does_not_declare_still_shows_only_the_own_user(peek):
    """ServerNote's module is imported on the server only: the client learns
    from the server that the type is per-user."""
    server_note = "peek_plugin_tally.ServerNote"
    bob = password_grant(peek, "bob").json()
    selector = json.dumps({"name": server_note, "filter": {"user": "alice"}})
    reply = data(peek, bob["access_token"], selector)
    assert reply.status_code == 200
    assert reply.json()["tuples"] == [{"_tt": server_note, "user": "bob"}]
    app = password_grant(peek, "alice").json()
    dev = device(peek, app["access_token"])
    dev.subscribe(server_note, user="bob")
    assert dev.data() == [{"_tt": server_note, "user": "alice"}]
    dev.close()


def test_the_server_refuses_a_per_user_selector_for_another_user_than_the_frames(peek):
    """A service link that sends a per-user selector naming one user in a
    frame of another (or of none) gets an error, not that user's data."""
    link = simple_websocket.Client.connect(f"ws://127.0.0.1:{peek.ports['server']}/peer")
    link.send(json.dumps({"type": "hello", "service": "client", "name": "curious",
                          "version": "test", "secret": "test-secret"}))
    assert json.loads(link.receive(timeout=5))["type"] == "welcome"
    for user in ("alice", None):
        link.send(json.dumps({"type": "subscribe", "user": user, "selector": {
            "name": MY_TALLY, "filter": {"user": "bob"}}}))
        replies = []
        while not any(r["type"] in ("data", "error") for r in replies):
            replies += [json.loads(line) for line in link.receive(timeout=5).split("\n")]
        (answer,) = [r for r in replies if r["type"] in ("data", "error")]
        assert answer["type"] == "error"
        assert answer["error"] == (f"{MY_TALLY} is a per-user tuple type: a device sees only "
                                   "its own user's data")
    link.close()


def test_an_action_id_is_answered_again_only_to_the_user_who_sent_it(peek):
    """Bob reusing Alice's action id gets an error, never her answer: while
    her action is in flight, after it was applied, over the websocket and
    REST; Alice's resends still get her answer."""
    alice = device(peek, password_grant(peek, "alice").json()["access_token"])
    bob_access = password_grant(peek, "bob").json()["access_token"]
    bob = device(peek, bob_access)
    held = alice.act({"_tt": "peek_plugin_tally.WhoAmI", "pause_s": 3})
    time.sleep(0.5)  # her frame reaches the client service first
    bob.act({"_tt": "peek_plugin_tally.WhoAmI"}, held)
    refused = bob.answer(held, timeout=2)  # before her action is done
    assert "result" not in refused and "another user's action" in refused["error"]
    assert alice.answer(held)["result"] == {"user": "alice"}

    for _ in range(2):  # refused every time; hers still answered
        bob.act({"_tt": "peek_plugin_tally.WhoAmI"}, held)
        refused = bob.answer(held)
        assert "result" not in refused and "another user's action" in refused["error"]
        reply = requests.post(f"{peek.mobile}/vortex/api/actions", timeout=20,
                              headers=bearer(bob_access), json={
                                  "type": "action", "id": held,
                                  "tuple": {"_tt": "peek_plugin_tally.WhoAmI"}})
        assert reply.status_code == 422 and "another user's action" in reply.json()["error"]
        alice.act({"_tt": "peek_plugin_tally.WhoAmI"}, held)
        assert alice.answer(held)["result"] == {"user": "alice"}
    [row] = query(peek.database_url,
                  "SELECT user_name FROM peek.vortex_action WHERE id = :id", id=held)
    assert row["user_name"] == "alice"

    # An answer recorded with no user (no sign-in then) is anyone's.
    anonymous = str(uuid.uuid4())
    query(peek.database_url, "INSERT INTO peek.vortex_action (id, tuple_type, answer) "
          "VALUES (:id, 'peek_plugin_tally.WhoAmI', :answer) RETURNING id", id=anonymous,
          answer=json.dumps({"type": "result", "id": anonymous, "result": {"user": None}}))
    bob.act({"_tt": "peek_plugin_tally.WhoAmI"}, anonymous)
    assert bob.answer(anonymous)["result"] == {"user": None}
    alice.close()
    bob.close()


def test_the_client_api_names_the_signed_in_user(peek):
    app = password_grant(peek, "alice").json()
    reply = requests.get(f"{peek.mobile}/peek_plugin_tally/whoami", timeout=10,
                         headers=bearer(app["access_token"]))
    assert reply.status_code == 200
    assert reply.json() == {"name": "alice", "display_name": "Alice Example",
                            "groups": ["field", "ops"], "api": "UserClientApi"}


def test_the_client_api_finds_users_and_checks_passwords_through_the_server(peek):
    access = password_grant(peek, "alice").json()["access_token"]

    def lookups(name: str, password: str) -> dict:
        reply = requests.get(f"{peek.mobile}/peek_plugin_tally/lookups", timeout=20,
                             headers=bearer(access), params={"name": name,
                                                             "password": password})
        assert reply.status_code == 200, reply.text
        return reply.json()

    answer = lookups("Bob", PASSWORD)
    assert answer["found"] == "bob" and answer["enabled"] is True
    assert answer["password_right"] is True
    assert answer["in_ops"] == ["alice", "bob"]
    assert {"alice", "bob", "carol"} <= set(answer["everyone"])
    assert lookups("bob", "not bob's password")["password_right"] is False
    disabled = lookups("carol", PASSWORD)  # found, but her password lets nobody in
    assert disabled["found"] == "carol" and disabled["enabled"] is False
    assert disabled["password_right"] is False
    assert lookups("nobody", PASSWORD)["found"] is None


def test_in_a_browser_sign_in_revocation_and_sign_out(peek, page_in, screenshot):
    add_user(peek, "jack", display_name="Jack Jones")
    page = page_in(390, 844, allow_http=(401,))
    page.goto(f"{peek.mobile}/desktop/")
    page.wait_for_url(re.compile(r".*/peek_core_user/sign-in\?next=/desktop/$"))
    page.fill("#sign-in-name", "jack")
    page.fill("#sign-in-password", "not the password")
    page.click("#sign-in-form button[type=submit]")
    assert page.locator("#sign-in-error").inner_text() == "Wrong name or password."
    assert page.locator("#sign-in-name").input_value() == "jack"
    assert page.locator("#sign-in-password").input_value() == ""
    screenshot(page, "wrong-password")
    page.fill("#sign-in-password", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url(f"{peek.mobile}/desktop/")
    page.wait_for_selector("#vortex-status[data-state=connected]")
    assert page.locator("#signed-in").inner_text() == "Jack Jones"
    screenshot(page, "signed-in")

    # Revoked by an administrator: the open page goes to the sign-in page by itself.
    assert admin_post(peek, f"{BASE}/users/jack/sessions/revoke").status_code == 302
    page.wait_for_url(re.compile(r".*/peek_core_user/sign-in\?next=/desktop/$"),
                      timeout=10_000)

    page.fill("#sign-in-name", "jack")
    page.fill("#sign-in-password", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url(f"{peek.mobile}/desktop/")
    page.goto(f"{peek.mobile}/")
    page.wait_for_selector("#vortex-status[data-state=connected]")
    page.click("#sign-out")
    page.wait_for_url(f"{peek.mobile}{BASE}/sign-in")
    screenshot(page, "signed-out")
    page.goto(f"{peek.mobile}/")
    page.wait_for_url(re.compile(r".*/peek_core_user/sign-in\?next=/$"))


def browser_sign_in(page, peek, name: str, path: str) -> None:
    page.goto(f"{peek.mobile}{path}")
    page.fill("#sign-in-name", name)
    page.fill("#sign-in-password", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url(f"{peek.mobile}{path}")
    page.wait_for_selector("#vortex-status[data-state=connected]")


def test_in_a_browser_a_second_user_never_sends_the_first_users_queued_actions(
        peek, page_in, screenshot):
    add_user(peek, "kim")
    add_user(peek, "lee")
    tally_of = lambda: requests.get(  # noqa: E731
        f"{peek.mobile}/vortex/api/data", timeout=10,
        headers=bearer(password_grant(peek, "lee").json()["access_token"]),
        params={"selector": json.dumps({"name": "peek_plugin_tally.Tally",
                                        "filter": {"name": "field"}})}).json()["tuples"][0]
    before = tally_of()["count"]
    page = page_in(390, 844, allow_http=(401,), offline_ok=True)
    offline_page = "/peek_plugin_tally/offline"
    browser_sign_in(page, peek, "kim", offline_page)
    # Kim's actions cannot reach the server (as on a bad network): they wait.
    page.route("**/vortex/api/actions", lambda route: route.abort("internetdisconnected"))
    page.click("#add-one")
    page.click("#add-one")
    page.wait_for_function(
        "document.querySelectorAll('#vortex-outbox li[data-state=pending]').length === 2")
    assert [e["user"] for e in page.evaluate("PeekStore.all('outbox')")] == ["kim", "kim"]
    page.click("#sign-out")
    page.wait_for_url(f"{peek.mobile}{BASE}/sign-in")
    page.unroute("**/vortex/api/actions")

    # Lee signs in on the same browser: Kim's entries are gone, never sent.
    browser_sign_in(page, peek, "lee", offline_page)
    page.wait_for_function("PeekStore.all('outbox').then(e => e.length === 0)")
    page.click("#add-one")
    page.wait_for_selector("#vortex-outbox li[data-state=sent]", state="attached")
    assert [e["user"] for e in page.evaluate("PeekStore.all('outbox')")] == ["lee"]
    screenshot(page, "second-user")
    assert tally_of()["count"] == before + 1  # Lee's action alone was applied


def test_an_action_taken_while_the_server_is_down_past_the_tokens_life_applies_once(
        peek, page_in):
    """The browser's access token expires while the server is down: the
    client cannot renew it and answers 503 (not 401), the outbox keeps the
    action, and sends it once the server is back.  Restarts the server."""
    add_user(peek, "mo")
    set_setting(peek, "access_token_minutes", 0.05)  # 3 s
    try:
        page = page_in(390, 844, allow_http=(503,))
        browser_sign_in(page, peek, "mo", "/peek_plugin_tally/offline")
        before = int(page.locator(".tally[data-name=field]").inner_text().split(": ")[1])
        peek.server.stop()
        time.sleep(4)  # past the access token's life
        page.click("#add-one")
        # Pending, with why: the client could not renew the sign-in (503, not 401).
        page.wait_for_function(
            "[...document.querySelectorAll('#vortex-outbox li[data-state=pending]')]"
            ".some(li => li.textContent.includes('sign-in is not available right now'))")
        peek.server.start().wait_ready()
        page.wait_for_selector("#vortex-outbox li[data-state=sent]", state="attached",
                               timeout=90_000)
        page.wait_for_selector(f".tally[data-name=field] >> text=field: {before + 1}",
                               timeout=30_000)
        (entry,) = page.evaluate("PeekStore.all('outbox')")
        again = requests.post(  # the same id once more: answered, not applied again
            f"{peek.mobile}/vortex/api/actions", timeout=20,
            headers=bearer(password_grant(peek, "mo").json()["access_token"]),
            json={"type": "action", "id": entry["id"], "tuple": entry["tuple"]})
        assert again.status_code == 200 and again.json()["result"]["count"] == before + 1
    finally:
        reset_setting(peek, "access_token_minutes")


def test_without_the_server_the_sign_in_page_says_so(peek):
    """Last: stops the server."""
    peek.server.stop()
    reply = sign_in_form(peek, browser("127.0.0.10"), "alice")
    assert reply.status_code == 503
    assert "the server cannot be reached" in message_of(reply.text)
    assert "Traceback" not in reply.text
    api = password_grant(peek, "alice", address="127.0.0.10")
    assert api.status_code == 503 and api.json()["error"] == "temporarily_unavailable"
