"""End-user customisations (frontend.customisationsDir): a client service's
files overlaying the mobile and desktop sites' templates and static files."""

from __future__ import annotations

import http.client
import logging
import os
import re
from pathlib import Path

import pytest

from peek.app import PACKAGE_DIR
from tests.conftest import free_port, write_config


def base_titled(name: str) -> str:
    """The package's base.html (as it is now) with ``name`` in its title."""
    base = (PACKAGE_DIR / "templates" / "base.html").read_text()
    title = f"<title>{{% block title %}}{{% endblock %}} · {name} {{{{ site_title }}}}</title>"
    return re.sub(r"<title>.*?</title>", title, base, count=1, flags=re.S)


def mobile_layout(brand: str) -> str:
    """A mobile layout of one's own, branded."""
    return ('{% extends "base.html" %}{% set site_title = "Mobile" %}{% block body %}'
            f'<header class="container"><strong id="brand">{brand}</strong></header>'
            '<main class="container">{% block content %}{% endblock %}</main>{% endblock %}')


@pytest.fixture
def client_home(home: Path) -> Path:
    """A client service's config (no server running: the sites need none);
    returns its customisations directory, the default one."""
    write_config(home, "client", {
        "server": {"host": "127.0.0.1", "port": free_port(), "secret": "test-secret"},
        "http": {"port": free_port()}})
    return home / "peek-client.home" / "customisations"


def put(root: Path, name: str, text: str) -> Path:
    """Write a customisation file, with a new mtime even within one clock tick."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(text)
    if old is not None:
        os.utime(path, ns=(old + 10**9, old + 10**9))
    return path


def page(app, url: str) -> str:
    response = app.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def warnings_about(caplog, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and str(path) in r.getMessage()]


def test_template_overrides_change_both_sites_and_reload_live(client_home, start_service):
    custom = client_home / "templates"
    put(custom, "base.html", base_titled("Acme"))
    put(custom, "mobile/layout.html", mobile_layout("Acme Field"))
    put(custom, "peek_plugin_noop/mobile.html", '{% extends "mobile/layout.html" %}'
        '{% block content %}<p id="noop-page">Our noop.</p>{% endblock %}')
    app = start_service("client", listen=False).apps["mobile"].test_client()

    mobile = page(app, "/")
    assert "<title>Home · Acme Mobile</title>" in mobile
    assert '<strong id="brand">Acme Field</strong>' in mobile
    desktop = page(app, "/desktop/")
    assert "<title>Home · Acme Desktop</title>" in desktop
    assert 'id="brand"' not in desktop  # its own layout is not overridden
    # A plugin's template, found through its blueprint, is overridden too.
    assert '<p id="noop-page">Our noop.</p>' in page(app, "/peek_plugin_noop/")

    # Edits, new files and removals apply without a restart.
    put(custom, "base.html", base_titled("Acme Ltd"))
    put(custom, "mobile/home.html", '{% extends "mobile/layout.html" %}'
        '{% block title %}Start{% endblock %}{% block content %}<h1>Hello</h1>{% endblock %}')
    mobile = page(app, "/")
    assert "<title>Start · Acme Ltd Mobile</title>" in mobile and "<h1>Hello</h1>" in mobile
    for name in ("base.html", "mobile/home.html", "mobile/layout.html"):
        (custom / name).unlink()
    assert "<title>Home · Peek Mobile</title>" in page(app, "/")
    assert "<title>Home · Peek Desktop</title>" in page(app, "/desktop/")


def test_static_overrides_and_additions(client_home, start_service):
    put(client_home / "static", "css/peek.css", "/* acme colours */\n")
    put(client_home / "static", "css/custom.css", "body { color: teal; }\n")
    app = start_service("client", listen=False).apps["mobile"].test_client()

    assert app.get("/static/css/peek.css").get_data(as_text=True) == "/* acme colours */\n"
    added = app.get("/static/css/custom.css")
    assert added.status_code == 200 and added.mimetype == "text/css"
    assert added.get_data(as_text=True) == "body { color: teal; }\n"
    package = app.get("/static/vendor/htmx.min.js")
    assert package.get_data() == (PACKAGE_DIR / "static/vendor/htmx.min.js").read_bytes()
    assert app.get("/static/css/missing.css").status_code == 404

    # Live, and the page still links the file through url_for('static', ...).
    put(client_home / "static", "css/peek.css", "/* acme colours, v2 */\n")
    assert "v2" in app.get("/static/css/peek.css").get_data(as_text=True)
    assert 'href="/static/css/peek.css"' in page(app, "/")
    (client_home / "static/css/peek.css").unlink()
    assert app.get("/static/css/peek.css").get_data() == (
        PACKAGE_DIR / "static/css/peek.css").read_bytes()


def test_a_broken_override_falls_back_to_the_original_with_one_warning(
        client_home, start_service, caplog):
    caplog.set_level(logging.WARNING)
    custom = client_home / "templates"
    app = start_service("client", listen=False).apps["mobile"].test_client()
    original, plugin_page = page(app, "/"), page(app, "/peek_plugin_noop/")
    bad = put(custom, "mobile/home.html", '{% extends "mobile/layout.html" %}'
              '{% block content %}{% if %}{% endblock %}')

    for _ in range(3):
        assert page(app, "/") == original
    [warning] = warnings_about(caplog, bad)
    assert "mobile/home.html" in warning and "Expected an expression" in warning

    # Fixed: used at once.  Then one that raises while rendering: the original
    # again, one warning, until the file changes.
    put(custom, "mobile/home.html", '{% extends "mobile/layout.html" %}'
        '{% block content %}<h1>Fixed</h1>{% endblock %}')
    assert "<h1>Fixed</h1>" in page(app, "/")
    caplog.clear()
    put(custom, "mobile/home.html", '{% extends "mobile/layout.html" %}'
        '{% block content %}<h1>{{ no_such.thing }}</h1>{% endblock %}')
    for _ in range(3):
        assert page(app, "/") == original
    [warning] = warnings_about(caplog, bad)
    assert "raised while rendering" in warning and "no_such" in warning

    # An overridden layout that raises, under a page that is not overridden.
    (custom / "mobile/home.html").unlink()
    layout = put(custom, "mobile/layout.html",
                 mobile_layout("{{ url_for('no.such.endpoint') }}"))
    assert page(app, "/") == original
    assert page(app, "/peek_plugin_noop/") == plugin_page
    [warning] = warnings_about(caplog, layout)
    assert "BuildError" in warning


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """A request sent as written: no client normalises the path first."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_nothing_outside_the_directory_is_served(client_home, start_service, tmp_path,
                                                 caplog):
    caplog.set_level(logging.WARNING)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for devices")
    static = client_home / "static"
    put(static, "css/ok.css", "ok")
    (static / "css/leak.css").symlink_to(secret)
    (static / "css/peek.css").symlink_to(secret)  # over a package file
    (client_home / "templates/mobile").mkdir(parents=True)
    (client_home / "templates/mobile/home.html").symlink_to(secret)
    service = start_service("client")
    port = service.config.get("http.port")

    assert raw_get(port, "/static/css/ok.css") == (200, b"ok")
    for path in ("/static/../config.json", "/static/../../peek-client.home/config.json",
                 "/static/css/../../config.json", "/static/..%2f..%2fconfig.json",
                 "/static/%2e%2e/%2e%2e/config.json", f"/static/{secret}",
                 f"/static//{secret}", "/static/css/leak.css"):
        status, body = raw_get(port, path)
        assert status in (308, 400, 404), path  # 308: werkzeug merges the slashes
        assert b"not for devices" not in body, path
    status, body = raw_get(port, "/static/css/peek.css")
    assert status == 200 and body == (PACKAGE_DIR / "static/css/peek.css").read_bytes()
    status, body = raw_get(port, "/")
    assert status == 200 and b"<title>" in body and b"not for devices" not in body
    assert warnings_about(caplog, static / "css/peek.css")
    assert warnings_about(caplog, client_home / "templates/mobile/home.html")


def test_customised_title_on_a_phone(client_home, start_service, page_in, screenshot):
    put(client_home / "templates", "base.html", base_titled("Acme Field Service"))
    put(client_home / "templates", "mobile/home.html",
        '{% extends "mobile/layout.html" %}{% block title %}Home{% endblock %}'
        '{% block content %}<h1>Acme Field Service</h1>{% with slot = "mobile.home" %}'
        '{% include "_slots/home_tiles.html" %}{% endwith %}{% endblock %}')
    css = (PACKAGE_DIR / "static/css/peek.css").read_text()
    put(client_home / "static", "css/peek.css", css + "\nh1 { color: rgb(0, 128, 128); }\n")
    service = start_service("client")
    phone = page_in(390, 844)
    phone.goto(f"http://127.0.0.1:{service.config.get('http.port')}/")
    assert phone.title() == "Home · Acme Field Service Mobile"
    heading = phone.locator("h1")
    assert heading.inner_text() == "Acme Field Service"
    assert phone.locator("#home-tiles a", has_text="Noop").count() == 1
    assert heading.evaluate("e => getComputedStyle(e).color") == "rgb(0, 128, 128)"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "customised-mobile-home")


def test_the_admin_site_has_the_server_services_customisations(configured, start_service):
    custom = configured / "peek-server.home" / "customisations"
    put(custom / "templates", "base.html", base_titled("Acme"))
    put(custom / "static", "css/custom.css", "body { color: teal; }\n")
    server = start_service("server", listen=False)
    admin = server.apps["admin"].test_client()
    assert "<title>Sign in · Acme Admin</title>" in page(admin, "/sign-in")
    assert admin.get("/static/css/custom.css").get_data(as_text=True) == "body { color: teal; }\n"
