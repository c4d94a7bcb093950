"""Sign-in to the admin site: accounts from the CLI, every page behind it,
CSRF on every form and HTMX request, lock-out, sessions ending."""

import re

import pytest

from tests.admin_session import (ADMIN, PASSWORD, add_admin, csrf_token, sign_in_client,
                                 sign_in_page)
from tests.conftest import peek_cli, write_config


@pytest.fixture
def admin_app(configured, start_service, database_url):
    server = start_service("server", listen=False)
    add_admin(database_url)
    return server.apps["admin"]


def test_every_admin_page_and_api_needs_sign_in(admin_app):
    site = admin_app.test_client()
    for path in ("/", "/workers", "/workers/dashboard/status", "/peek_plugin_noop/"):
        response = site.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 302, path
        assert response.headers["Location"] == f"/sign-in?next={path}"
    partial = site.get("/services", headers={"HX-Request": "true"})
    assert partial.status_code == 401 and partial.headers["HX-Redirect"] == "/sign-in"
    api = site.get("/workers/status", headers={"Accept": "application/json"})
    assert api.status_code == 401 and "sign in" in api.get_json()["error"]
    assert site.get("/healthz").status_code == 200  # monitoring stays open


def test_sign_in_lands_on_the_page_asked_for_and_sign_out_ends_it(admin_app):
    site = admin_app.test_client()
    page = site.get("/sign-in?next=/workers").get_data(as_text=True)
    response = site.post("/sign-in", data={"name": ADMIN, "password": PASSWORD,
                                           "next": "/workers", "csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/workers"
    dashboard = site.get("/").get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in dashboard and f"<small>{ADMIN}</small>" in dashboard

    # Sign-out is a form post with its token; afterwards the pages are closed again.
    assert site.post("/sign-out").status_code == 400  # no CSRF token
    assert site.post("/sign-out", data={"csrf_token": csrf_token(dashboard)}).status_code == 302
    assert site.get("/", headers={"Accept": "text/html"}).status_code == 302


def test_session_cookie_flags(configured, start_service, database_url):
    write_config(configured, "server", {
        **__import__("json").loads((configured / "peek-server.home" / "config.json").read_text()),
        "admin": {"secureCookies": True}})
    server = start_service("server", listen=False)
    add_admin(database_url)
    response = sign_in_client(server.apps["admin"].test_client())
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("peek_admin_session=")
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Expires="):
        assert flag in cookie, cookie


def test_forms_and_htmx_requests_need_the_csrf_token(admin_app):
    site = admin_app.test_client()
    refused = site.post("/sign-in", data={"name": ADMIN, "password": PASSWORD})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    assert sign_in_client(site).status_code == 302
    page = site.get("/").get_data(as_text=True)
    token = csrf_token(page)
    # Every HTMX request of an admin page carries the token as a header.
    assert f'hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in page
    assert site.post("/sign-out", headers={"X-CSRFToken": "forged"}).status_code == 400
    assert site.post("/sign-out", headers={"X-CSRFToken": token}).status_code == 302


def test_wrong_passwords_lock_the_account_until_an_administrator_resets_it(
        configured, admin_app):
    site = admin_app.test_client()
    unknown = sign_in_client(site, "nobody", PASSWORD)
    assert unknown.status_code == 200 and "Wrong name or password" in unknown.get_data(
        as_text=True)
    for _ in range(4):
        assert "Wrong name or password" in sign_in_client(site, ADMIN, "guess").get_data(
            as_text=True)
    fifth = sign_in_client(site, ADMIN, "guess").get_data(as_text=True)
    assert "locked for 5 more minutes" in fifth
    # Locked: the right password is refused too.
    right = sign_in_client(site, ADMIN, PASSWORD)
    assert right.status_code == 200 and "locked" in right.get_data(as_text=True)
    assert site.get("/", headers={"Accept": "text/html"}).status_code == 302

    reset = peek_cli("admin", "set-password", ADMIN, home=configured,
                     input="another good password\n")
    assert reset.returncode == 0, reset.stderr
    assert "Wrong name or password" in sign_in_client(site, ADMIN, PASSWORD).get_data(
        as_text=True)
    assert sign_in_client(site, ADMIN, "another good password").status_code == 302


def test_a_new_password_ends_the_sessions_open_with_the_old_one(configured, admin_app):
    site = admin_app.test_client()
    assert sign_in_client(site).status_code == 302
    assert site.get("/").status_code == 200
    assert peek_cli("admin", "set-password", ADMIN, home=configured,
                    input="a brand new password\n").returncode == 0
    assert site.get("/", headers={"Accept": "text/html"}).status_code == 302


def test_sign_in_never_redirects_off_the_site(admin_app):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        site = admin_app.test_client()
        token = csrf_token(site.get("/sign-in").get_data(as_text=True))
        response = site.post("/sign-in", data={"name": ADMIN, "password": PASSWORD,
                                               "next": target, "csrf_token": token})
        assert response.headers["Location"] == "/", target


def test_admin_accounts_from_the_command_line(configured):
    created = peek_cli("admin", "create-user", "alice", home=configured,
                       input="alice's password\n")
    assert created.returncode == 0, created.stderr
    assert "Administrator alice created." in created.stdout
    again = peek_cli("admin", "create-user", "alice", home=configured, input="whatever12\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = peek_cli("admin", "create-user", "bob", home=configured, input="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    bad_name = peek_cli("admin", "create-user", "../x", home=configured, input="longenough\n")
    assert bad_name.returncode == 1 and "not a valid name" in bad_name.stderr
    listed = peek_cli("admin", "list-users", home=configured)
    assert re.search(r"^alice\tnever signed in$", listed.stdout, re.M), listed.stdout
    assert "bob" not in listed.stdout
    assert peek_cli("admin", "delete-user", "alice", home=configured).returncode == 0
    gone = peek_cli("admin", "delete-user", "alice", home=configured)
    assert gone.returncode == 1 and "no administrator named 'alice'" in gone.stderr


def test_signing_in_and_out_in_a_browser(configured, site_ports, start_service, page_in,
                                         database_url):
    start_service("server")
    page = page_in(1024, 768)  # a tablet
    base = f"http://127.0.0.1:{site_ports['admin']}"
    page.goto(f"{base}/sign-in")
    page.fill("input[name=name]", ADMIN)
    page.fill("input[name=password]", "not it at all")
    page.click("button[type=submit]")
    assert "No administrator account exists yet" in page.inner_text("#no-admin")
    add_admin(database_url)
    sign_in_page(page, base, database_url, "/workers")
    assert page.title() == "Workers · Peek Admin"
    page.click("#admin-account button")
    page.wait_for_url(f"{base}/sign-in")
    page.goto(f"{base}/")
    page.wait_for_url(f"{base}/sign-in?next=/")


def _urls(app):
    """Every route of the admin site with made-up values for its arguments."""
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for argument in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{argument}>", "peek_plugin_noop", url)
        yield rule, url


def test_no_admin_route_answers_without_sign_in_and_no_form_without_its_token(admin_app):
    from peek.auth.guard import OPEN_ENDPOINTS

    anonymous = admin_app.test_client()
    checked = set()
    for rule, url in _urls(admin_app):
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = anonymous.open(url, method=method, headers={"Accept": "text/html"})
            if response.status_code == 400:  # a form: refused for its missing token first
                assert method != "GET" and "CSRF" in response.get_data(as_text=True), url
                continue
            assert response.status_code in (302, 401), (method, url, response.status_code)
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/sign-in"), (method, url)
            checked.add(rule.endpoint)
    # The pages of every part of the admin site are among them.
    for endpoint in ("admin.dashboard", "plugins.index", "plugins.upload", "settings.index",
                     "logs.index", "workers.workers_page", "table_editor.table_page"):
        assert any(e == endpoint or e.startswith(endpoint) for e in checked), endpoint

    signed_in = admin_app.test_client()
    assert sign_in_client(signed_in).status_code == 302
    exempt = {"workers.proxy_http"}  # the Dask dashboard's own requests (see its view)
    for rule, url in _urls(admin_app):
        if rule.endpoint in exempt | OPEN_ENDPOINTS:
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            response = signed_in.open(url, method=method, data={"name": "x"})
            assert response.status_code == 400 and "CSRF" in response.get_data(
                as_text=True), (method, url, response.status_code)
