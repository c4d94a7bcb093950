"""The admin site's Settings pages: every plugin's declared settings and the
platform's own, saved all or nothing, reset to defaults; the instance name in
every admin page's header and title."""

import html
import json
import re

import pytest
import sqlalchemy

from peek import platform_settings
from tests.admin_session import admin_client, csrf_token, sign_in_page
from tests.plugin_factory import make_plugin

PREFS, DORMANT = "peek_plugin_tprefs", "peek_plugin_tdormant"
PREFS_PAGE = f"/settings/{PREFS}"
SETTINGS = {
    "greeting": {"type": "string", "default": "hi", "title": "Greeting",
                 "description": "Said first."},
    "retries": {"type": "int", "default": 3, "title": "Retries"},
    "verbose": {"type": "bool", "title": "Verbose"},
    "api_key": {"type": "secret", "title": "API key"},
}
DEFAULTS = {"greeting": "hi", "retries": 3, "verbose": False, "api_key": ""}
SERVICES = ("server", "storage")


def write_plugins(home, plugin_root) -> None:
    """Prefs (enabled, every setting type) and Dormant (installed, not enabled)."""
    for name, title in ((PREFS, "Prefs"), (DORMANT, "Dormant")):
        make_plugin(plugin_root, name, services=SERVICES, manifest={
            "plugin": {"title": title, "packageName": name, "version": "1.0.0"},
            "requiresServices": list(SERVICES), "settings": SETTINGS})
    path = home / "peek-server.home" / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "plugin": {"enabled": ["peek_plugin_noop", PREFS]}}))


@pytest.fixture
def server(configured, plugin_root, start_service):
    write_plugins(configured, plugin_root)
    return start_service("server", listen=False)


@pytest.fixture
def client(server):
    return admin_client(server.apps["admin"])


def plugin_settings(server, name=PREFS):
    return server.runtime.plugins.records[name].platform.settings


def page(client, path=PREFS_PAGE) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def help_text(page_html: str, name: str) -> str:
    """The text under a setting's field: its help, or its error."""
    found = re.search(rf'<small id="setting-{name}-help">(.*?)</small>', page_html, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


def post(client, path, data, htmx=False):
    data = {**data, "csrf_token": csrf_token(page(client))}
    return client.post(path, data=data, headers={"HX-Request": "true"} if htmx else {})


def test_settings_need_sign_in(server):
    response = server.apps["admin"].test_client().get(PREFS_PAGE, headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sign-in?next={PREFS_PAGE}"


def test_the_settings_page_lists_the_platform_and_every_plugin_with_settings(server, client):
    listing = page(client, "/settings")
    menu = listing[listing.index('id="admin-menu"'):]
    assert menu.index('href="/settings"') < menu.index('href="/workers"')
    assert 'name="instance_name" type="text" value="Peek"' in listing
    rows = dict(re.findall(r'<tr data-plugin="(\w+)">(.*?)</tr>', listing, re.S))
    # The bundled tutorial and user plugins are installed but not enabled by default.
    assert set(rows) == {"peek_plugin_noop", "peek_plugin_tutorial", "peek_core_user", PREFS,
                         DORMANT}
    assert "Noop" in rows["peek_plugin_noop"] and "Greeting, Show the item count" in rows[
        "peek_plugin_noop"] and "running" in rows["peek_plugin_noop"]
    assert "disabled" in rows[DORMANT]

    # Installed but not running: the page says so, and nothing can be saved.
    dormant = page(client, f"/settings/{DORMANT}")
    assert 'id="not-running"' in dormant and "<strong>disabled</strong>" in dormant
    assert 'id="settings-form"' not in dormant
    assert post(client, f"/settings/{DORMANT}", {"greeting": "x"}).status_code == 409


def test_saving_each_type_of_setting(server, client):
    settings = plugin_settings(server)
    form = page(client)
    assert '<input type="checkbox" role="switch" id="setting-verbose"' in form
    for name, kind in (("greeting", "text"), ("retries", "number"), ("api_key", "password")):
        assert f'name="{name}" type="{kind}"' in form
    assert help_text(form, "greeting").startswith("Said first. Default: “hi”.")
    assert "Left blank, the stored value is kept." in help_text(form, "api_key")

    saved = post(client, PREFS_PAGE, {"greeting": "Good day", "retries": "12",
                                      "verbose": ["false", "true"], "api_key": "s3cret-token"})
    assert saved.status_code == 302 and saved.headers["Location"] == PREFS_PAGE
    assert settings.all() == {"greeting": "Good day", "retries": 12, "verbose": True,
                              "api_key": "s3cret-token"}
    shown = page(client)
    assert "Settings saved." in shown and 'value="Good day"' in shown and 'value="12"' in shown
    assert re.search(r'id="setting-verbose" name="verbose" value="true"\s+checked', shown)
    assert "A value is stored." in help_text(shown, "api_key")

    # Switched off, a secret left blank (kept), with HTMX: the form comes back alone.
    again = post(client, PREFS_PAGE, {"greeting": "Good day", "retries": "-3",
                                      "verbose": ["false"], "api_key": ""}, htmx=True)
    fragment = again.get_data(as_text=True)
    assert again.status_code == 200 and fragment.startswith('<form id="settings-form"')
    assert "Settings saved." in fragment and "<html" not in fragment
    assert settings.all() == {"greeting": "Good day", "retries": -3, "verbose": False,
                              "api_key": "s3cret-token"}


@pytest.mark.parametrize("htmx", [False, True])
def test_wrong_values_are_refused_next_to_their_field_and_nothing_is_stored(
        server, client, htmx):
    settings = plugin_settings(server)
    settings.set("retries", 5)
    refused = post(client, PREFS_PAGE, {"greeting": "Changed", "retries": "many",
                                        "verbose": ["false", "maybe"], "api_key": "new-secret"},
                   htmx=htmx)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert ("<html" in body) is not htmx
    assert "Nothing was saved" in body
    assert re.search(r'name="retries" type="number" value="many"[^>]*aria-invalid="true"',
                     body, re.S)
    assert help_text(body, "retries").startswith("Setting 'retries' is an integer, not \"many\".")
    assert help_text(body, "verbose").startswith(
        "Setting 'verbose' is true or false, not \"maybe\".")
    assert 'value="Changed"' in body  # what was typed stays, except the secret
    assert "new-secret" not in body and "Type it again" in help_text(body, "api_key")
    assert settings.all() == {**DEFAULTS, "retries": 5}


def test_a_stored_secret_never_reaches_the_browser(server, client):
    plugin_settings(server).set("api_key", "hunter2-very-secret")
    refused = post(client, PREFS_PAGE, {"retries": "x"}).get_data(as_text=True)
    for body in (page(client), page(client, "/settings"), refused,
                 page(client, f"{PREFS_PAGE}/reset/api_key")):
        assert "hunter2" not in body
    assert plugin_settings(server).get("api_key") == "hunter2-very-secret"


def test_reset_asks_first_and_returns_the_defaults(server, client):
    settings = plugin_settings(server)
    settings.update({"retries": 9, "greeting": "changed", "verbose": True})
    form = page(client)
    assert 'hx-confirm="Reset “Retries” to its default (3)?"' in form
    assert 'hx-confirm="Reset every setting of Prefs to its default?"' in form

    # Without scripts, the reset link is a page asking to confirm.
    confirm = page(client, f"{PREFS_PAGE}/reset/retries")
    assert "Reset “Retries” to its default (3)?" in confirm
    assert f'<form method="post" action="{PREFS_PAGE}/reset/retries">' in confirm
    done = post(client, f"{PREFS_PAGE}/reset/retries", {})
    assert done.status_code == 302 and settings.all() == {
        **DEFAULTS, "greeting": "changed", "verbose": True}
    assert "Retries is back to its default." in page(client)

    everything = post(client, f"{PREFS_PAGE}/reset", {}, htmx=True).get_data(as_text=True)
    assert "Every setting is back to its default." in everything
    assert settings.all() == DEFAULTS


def test_unknown_plugins_and_settings_get_a_clear_404(server, client):
    missing = client.get("/settings/peek_plugin_nothere")
    body = missing.get_data(as_text=True)
    assert missing.status_code == 404
    assert "No installed plugin named “peek_plugin_nothere” declares settings." in body
    assert "<strong>Peek Admin</strong>" in body  # an admin page like the others
    unknown = client.get(f"{PREFS_PAGE}/reset/colour")
    assert unknown.status_code == 404 and "Prefs has no setting “colour”." in unknown.get_data(
        as_text=True)
    assert post(client, "/settings/peek_plugin_nothere", {}).status_code == 404


def test_the_instance_name_is_in_every_admin_header_and_title(server, client):
    dashboard = page(client, "/")
    assert "<strong>Peek Admin</strong>" in dashboard
    assert "<title>Dashboard · Peek Admin</title>" in dashboard

    saved = post(client, "/settings/platform", {"instance_name": "Plant 7"})
    assert saved.status_code == 302 and saved.headers["Location"] == "/settings"
    for path, title in (("/", "Dashboard"), ("/workers", "Workers"),
                        (PREFS_PAGE, "Prefs settings")):
        shown = page(client, path)
        assert "<strong>Plant 7 Admin</strong>" in shown
        assert f"<title>{title} · Plant 7 Admin</title>" in shown
    engine = server.runtime.engine
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(
            "SELECT value FROM peek.platform_setting WHERE key = 'instance_name'")).scalar() \
            == "Plant 7"
    assert platform_settings.of_engine(engine).get("instance_name") == "Plant 7"


def test_the_instance_name_is_read_once_and_again_after_a_change(server, client):
    queries = []
    sqlalchemy.event.listen(server.runtime.engine, "before_cursor_execute",
                            lambda conn, cursor, sql, *rest: queries.append(sql))
    page(client, "/")  # the sign-in page read them already
    page(client, "/workers")
    assert not [q for q in queries if "platform_setting" in q]

    # HTMX reloads the whole page after a platform change: its header changes too.
    saved = post(client, "/settings/platform", {"instance_name": "Line 2"}, htmx=True)
    assert saved.status_code == 200 and saved.headers["HX-Redirect"] == "/settings"
    queries.clear()
    assert "<strong>Line 2 Admin</strong>" in page(client, "/")
    assert "<strong>Line 2 Admin</strong>" in page(client, "/workers")
    assert len([q for q in queries if "platform_setting" in q]) == 1


def test_changing_settings_in_a_browser_on_a_tablet(configured, plugin_root, site_ports,
                                                    start_service, page_in, database_url):
    write_plugins(configured, plugin_root)
    server = start_service("server")
    browser = page_in(1024, 768)
    base = f"http://127.0.0.1:{site_ports['admin']}"
    sign_in_page(browser, base, database_url, "/settings")
    assert browser.title() == "Settings · Peek Admin"

    browser.click("#plugin-settings a:text('Noop')")
    browser.wait_for_url(f"{base}/settings/peek_plugin_noop")
    switch = browser.locator("#setting-show_count")
    assert switch.is_checked()
    switch.click()
    browser.click("#settings-form button[type=submit]")
    assert browser.locator("#settings-message").inner_text() == "Settings saved."
    browser.reload()
    assert not browser.locator("#setting-show_count").is_checked()
    assert plugin_settings(server, "peek_plugin_noop").get("show_count") is False
    browser.goto(f"{base}/peek_plugin_noop/")
    assert browser.locator("#noop-count").count() == 0  # the plugin follows its setting

    browser.goto(f"{base}{PREFS_PAGE}")
    browser.fill("#setting-greeting", "typed here")
    browser.fill("#setting-retries", "2.5")
    browser.click("#settings-form button[type=submit]")
    invalid = browser.locator("#setting-retries[aria-invalid=true]")
    invalid.wait_for()
    assert 'is an integer, not "2.5"' in browser.inner_text("#setting-retries-help")
    assert browser.input_value("#setting-greeting") == "typed here"
    assert plugin_settings(server).all() == DEFAULTS

    # A reset asks first.
    plugin_settings(server).set("greeting", "stored")
    browser.reload()
    browser.once("dialog", lambda dialog: dialog.accept())
    browser.click("#setting-greeting-help a")
    assert browser.locator("#settings-message").inner_text() == "Greeting is back to its default."
    assert plugin_settings(server).get("greeting") == "hi"

    browser.goto(f"{base}/settings")
    browser.fill("#setting-instance_name", "Tablet Plant")
    browser.click("#settings-form button[type=submit]")
    browser.locator("header strong:text('Tablet Plant Admin')").wait_for()
    assert browser.title() == "Settings · Tablet Plant Admin"
    assert browser.locator("#settings-message").inner_text() == "Settings saved."
