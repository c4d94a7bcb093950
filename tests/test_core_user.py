"""peek_core_user (docs/core_user.md) on a real server: its storage, the
public API used from another plugin, the directory backends, and the admin
pages with their CSRF and validation."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import sqlalchemy

from tests.admin_session import admin_client, csrf_token
from tests.conftest import enable_plugins, query

CORE_USER = "peek_core_user"
BASE = f"/{CORE_USER}"
STRONG = "tall purple giraffe"


def enable_core_user(home: Path) -> None:
    """Enable peek_core_user (and the noop plugin, to call its API from) on
    the server: it is bundled but not enabled by default."""
    enable_plugins(home, ["peek_plugin_noop", CORE_USER], "server")


def snapshot(database_url: str) -> list[dict]:
    """Every user with their groups and hash, to compare before and after."""
    return query(database_url, """
        SELECT u.name, u.display_name, u.enabled, u.password_hash, u.updated,
               coalesce(array_agg(g.name ORDER BY g.name) FILTER (WHERE g.name IS NOT NULL),
                        '{}') AS groups
        FROM core_user.user_account u
        LEFT JOIN core_user.user_group_member m ON m.user_id = u.id
        LEFT JOIN core_user.user_group g ON g.id = m.group_id
        GROUP BY u.id ORDER BY u.name""")


def text_of(response) -> str:
    return response.get_data(as_text=True)


def error_of(page_html: str) -> str:
    found = re.search(r'<p id="user-error" role="alert">(.*?)</p>', page_html, re.S)
    return found and html.unescape(found.group(1))


@pytest.fixture
def server(configured, start_service):
    enable_core_user(configured)
    process = start_service("server", listen=False)
    record = process.runtime.plugins.records[CORE_USER]
    assert record.state == "started", record.traceback
    return process


@pytest.fixture
def client(server):
    return admin_client(server.apps["admin"])


@pytest.fixture
def users_api(server):
    """The API as another plugin (noop) gets it."""
    noop = server.runtime.plugins.records["peek_plugin_noop"].platform
    return noop.get_other_plugin_api(CORE_USER)


def add_user(client, name, password=STRONG, confirm=None, display_name="", groups="",
             enabled=True, token=None):
    form = text_of(client.get(f"{BASE}/add"))
    data = {"name": name, "display_name": display_name, "groups": groups,
            "password": password, "confirm": password if confirm is None else confirm,
            "csrf_token": token if token is not None else csrf_token(form)}
    if enabled:
        data["enabled"] = "true"
    return client.post(f"{BASE}/add", data=data)


def post_form(client, path, data, page=None):
    token = csrf_token(text_of(client.get(page or f"{BASE}/")))
    return client.post(path, data={**data, "csrf_token": token})


# ---------------------------------------------------------------------------

def test_bundled_but_not_enabled_by_default(configured):
    from peek.plugin_system.discovery import bundled, discover
    from peek.plugin_system.manifest import schema_name

    found = discover()[CORE_USER]
    assert found.error is None, found.error
    assert found.manifest.requires_services == ("server", "client", "storage", "admin",
                                                "mobile")
    assert set(found.manifest.settings) == {"directory", "min_password_length",
                                            "access_token_minutes", "refresh_token_days"}
    assert found.manifest.settings["directory"].default == "table"
    assert CORE_USER not in bundled() and "peek_plugin_noop" in bundled()
    assert schema_name(CORE_USER) == "core_user"


def test_storage_is_migrated_into_core_user(server, database_url):
    tables = {r["table_name"] for r in query(
        database_url, "SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = 'core_user'")}
    assert {"user_account", "user_group", "user_group_member", "sign_in_session",
            "plugin_setting", "alembic_version"} <= tables
    assert query(database_url, "SELECT version_num FROM core_user.alembic_version") == [
        {"version_num": "0003"}]
    assert server.runtime.plugins.records[CORE_USER].platform.schema == "core_user"


def test_the_models_match_the_migrations_which_downgrade(configured, engine, tmp_path):
    """The storage models and the revisions agree (autogenerate finds nothing),
    and the revisions go back down (peek plugin rollback uses them)."""
    from peek.plugin_system.operations import generate_migration
    from peek.plugin_system.storage import downgrade_plugin_schema
    from peek.plugins import peek_core_user

    package_dir = Path(peek_core_user.__file__).parent
    written = generate_migration(CORE_USER, "nothing new", configured)
    if written is not None:
        text = written.read_text()
        written.unlink()
        pytest.fail(f"the models differ from the migrations:\n{text}")
    inspector = sqlalchemy.inspect(engine)
    assert "user_account" in inspector.get_table_names(schema="core_user")
    empty = tmp_path / "no-versions"
    empty.mkdir()
    assert downgrade_plugin_schema(engine, "core_user", package_dir, empty)
    inspector = sqlalchemy.inspect(engine)
    assert not {"user_account", "user_group", "user_group_member", "sign_in_session"} & set(
        inspector.get_table_names(schema="core_user"))


def test_the_api_from_another_plugin(server, client, users_api, database_url):
    from peek.plugins.peek_core_user.api import UserApi
    from peek.plugins.peek_core_user.tuples import UserTuple

    assert isinstance(users_api, UserApi)
    assert add_user(client, "alice", display_name="Alice Archer",
                    groups="operators, Field crew").status_code == 302
    assert add_user(client, "bob", password="another long secret",
                    groups="operators").status_code == 302
    assert add_user(client, "carol", password="her own long secret", groups="field crew",
                    enabled=False).status_code == 302

    alice = users_api.find_user("alice")
    assert isinstance(alice, UserTuple)
    assert (alice.name, alice.display_name, alice.groups, alice.enabled) == (
        "alice", "Alice Archer", ["Field crew", "operators"], True)
    assert alice.created.tzinfo is not None and alice.updated is not None
    assert users_api.find_user("ALICE") == alice          # names ignore case
    assert users_api.find_user("nobody") is None
    assert users_api.find_user("carol").enabled is False   # found, but disabled
    assert not hasattr(alice, "password_hash")
    from peek.plugin_api import decode, encode
    assert decode(encode(alice)) == alice
    assert "password" not in encode(alice).decode()

    # Right password: the user; wrong password, unknown name, disabled user: None.
    assert users_api.check_password("alice", STRONG) == alice
    assert users_api.check_password("Alice", STRONG) == alice
    assert users_api.check_password("alice", "tall purple giraffes") is None
    assert users_api.check_password("alice", "") is None
    assert users_api.check_password("nobody", STRONG) is None
    assert users_api.check_password("", "") is None
    assert users_api.check_password("carol", "her own long secret") is None

    # Groups: enabled members by name; disabled ones only when asked.
    assert [u.name for u in users_api.users_in_group("operators")] == ["alice", "bob"]
    assert [u.name for u in users_api.users_in_group("field crew")] == ["alice"]
    assert [u.name for u in users_api.users_in_group("Field Crew", include_disabled=True)] == [
        "alice", "carol"]
    assert users_api.users_in_group("nobody's group") == []
    assert [u.name for u in users_api.list_users()] == ["alice", "bob"]
    assert [u.name for u in users_api.list_users(include_disabled=True)] == [
        "alice", "bob", "carol"]


def test_the_password_is_stored_as_a_strong_hash(server, client, database_url, caplog):
    import logging

    from werkzeug.security import check_password_hash

    with caplog.at_level(logging.INFO, logger=CORE_USER):
        assert add_user(client, "dave").status_code == 302
    assert "added user dave" in caplog.text and STRONG not in caplog.text
    [row] = query(database_url, "SELECT password_hash FROM core_user.user_account")
    stored = row["password_hash"]
    assert STRONG not in stored
    assert stored.split(":", 1)[0] in ("scrypt", "pbkdf2")
    assert check_password_hash(stored, STRONG)
    # A second user with the same password gets a different (salted) hash.
    assert add_user(client, "erin").status_code == 302
    hashes = {r["password_hash"] for r in query(
        database_url, "SELECT password_hash FROM core_user.user_account")}
    assert len(hashes) == 2


def test_admin_pages_add_edit_disable_enable_and_reset(server, client, users_api,
                                                       database_url):
    # The menu links the page; the list starts empty.
    dashboard = text_of(client.get("/"))
    menu = dashboard[dashboard.index('id="admin-menu"'):]
    assert f'href="{BASE}/"' in menu and ">Users<" in menu
    index = text_of(client.get(f"{BASE}/"))
    assert 'id="user-none"' in index and 'id="user-add"' in index
    assert "setting is <code>table</code>" in index

    # Add.
    added = add_user(client, "frank", display_name="Frank", groups="ops")
    assert added.status_code == 302 and added.headers["Location"].endswith(f"{BASE}/")
    index = text_of(client.get(f"{BASE}/"))
    assert "Added user frank." in index
    row = re.search(r'<tr data-user="frank">(.*?)</tr>', index, re.S).group(1)
    assert "Frank" in row and "ops" in row and "enabled" in row

    # Edit: display name, groups and enabled.
    form = text_of(client.get(f"{BASE}/users/frank"))
    assert 'value="Frank"' in form and 'value="ops"' in form and "checked" in form
    edited = client.post(f"{BASE}/users/frank", data={
        "display_name": "Frank Fisher", "groups": "field, planners",
        "csrf_token": csrf_token(form)})          # no "enabled": unchecked
    assert edited.status_code == 302
    frank = users_api.find_user("frank")
    assert (frank.display_name, frank.groups, frank.enabled) == (
        "Frank Fisher", ["field", "planners"], False)
    # The group nobody is in any more is gone.
    assert [r["name"] for r in query(database_url, "SELECT name FROM core_user.user_group "
                                                   "ORDER BY name")] == ["field", "planners"]

    # Enable, disable from the list's buttons.
    assert post_form(client, f"{BASE}/users/frank/enabled",
                     {"enabled": "true"}).status_code == 302
    assert users_api.check_password("frank", STRONG) == users_api.find_user("frank")
    assert "Enabled user frank." in text_of(client.get(f"{BASE}/"))
    assert post_form(client, f"{BASE}/users/frank/enabled",
                     {"enabled": "false"}).status_code == 302
    assert users_api.check_password("frank", STRONG) is None
    row = re.search(r'<tr data-user="frank">(.*?)</tr>', text_of(client.get(f"{BASE}/")),
                    re.S).group(1)
    assert "disabled" in row and ">Enable<" in row
    assert post_form(client, f"{BASE}/users/frank/enabled",
                     {"enabled": "true"}).status_code == 302

    # Reset the password: the old one stops working, the new one works.
    page = text_of(client.get(f"{BASE}/users/frank/password"))
    assert "at least 10 characters" in page
    reset = client.post(f"{BASE}/users/frank/password", data={
        "password": "a brand new phrase", "confirm": "a brand new phrase",
        "csrf_token": csrf_token(page)})
    assert reset.status_code == 302
    assert users_api.check_password("frank", STRONG) is None
    assert users_api.check_password("frank", "a brand new phrase").name == "frank"
    assert "Set a new password for user frank." in text_of(client.get(f"{BASE}/"))

    # Unknown users are 404s.
    assert client.get(f"{BASE}/users/nobody").status_code == 404
    assert post_form(client, f"{BASE}/users/nobody/enabled", {"enabled": "true"}
                     ).status_code == 404


def test_forms_need_sign_in_and_the_csrf_token(server, client, database_url):
    anonymous = server.apps["admin"].test_client()
    response = anonymous.get(f"{BASE}/", headers={"Accept": "text/html"})
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert anonymous.post(f"{BASE}/add", data={"name": "mallory", "password": STRONG,
                                               "confirm": STRONG}).status_code in (400, 401)

    assert add_user(client, "grace").status_code == 302
    before = snapshot(database_url)
    # Signed in, but without the token, or with a wrong one: refused, nothing changes.
    assert add_user(client, "mallory", token="").status_code == 400
    assert add_user(client, "mallory", token="forged").status_code == 400
    for path, data in ((f"{BASE}/users/grace", {"display_name": "x", "groups": ""}),
                       (f"{BASE}/users/grace/enabled", {"enabled": "false"}),
                       (f"{BASE}/users/grace/password", {"password": "forged password",
                                                         "confirm": "forged password"})):
        assert client.post(path, data=data).status_code == 400, path
    assert snapshot(database_url) == before


BAD_ADDS = [
    (dict(name=""), "a name is needed"),
    (dict(name="   "), "a name is needed"),
    (dict(name="bad name!"), "is not a valid name"),
    (dict(name="grace"), "a user named 'grace' already exists"),
    (dict(name="GRACE"), "a user named 'GRACE' already exists"),
    (dict(name="henry", password=""), "a password is needed"),
    (dict(name="henry", password="short1"), "at least 10 characters"),
    (dict(name="henry", password="password123"), "too easy to guess"),
    (dict(name="henry", password="aaaaaaaaaaaa"), "too easy to guess"),
    (dict(name="henry", password="henry is great"), "must not contain the user's name"),
    (dict(name="henry", confirm="something else"), "the two passwords differ"),
    (dict(name="henry", groups="ok, <bad>"), "is not a valid group name"),
    (dict(name="henry", display_name="x" * 201), "at most 200 characters"),
]


def test_validation_errors_show_and_change_nothing(server, client, database_url):
    assert add_user(client, "grace", display_name="Grace", groups="ops").status_code == 302
    before = snapshot(database_url)
    groups_before = query(database_url, "SELECT * FROM core_user.user_group ORDER BY id")

    for fields, message in BAD_ADDS:
        response = add_user(client, **fields)
        page = text_of(response)
        assert response.status_code == 422, (fields, page)
        assert message in error_of(page), (fields, error_of(page))
        assert error_of(page).startswith("Nothing was saved: ")
        # What was typed is kept (but never a password).
        if fields.get("display_name"):
            assert f'value="{fields["display_name"]}"' in page
        assert STRONG not in page

    form = text_of(client.get(f"{BASE}/users/grace"))
    for data, message in (({"display_name": "y" * 201, "groups": "ops"}, "at most 200"),
                          ({"display_name": "Grace", "groups": "a;b"}, "not a valid group")):
        response = client.post(f"{BASE}/users/grace",
                               data={**data, "enabled": "true", "csrf_token": csrf_token(form)})
        assert response.status_code == 422 and message in error_of(text_of(response))

    page = text_of(client.get(f"{BASE}/users/grace/password"))
    for password, confirm, message in (("", "", "a password is needed"),
                                       ("tiny", "tiny", "at least 10 characters"),
                                       ("12345678", "12345678", "at least 10 characters"),
                                       ("changeme", "changeme", "at least 10"),
                                       ("grace grace grace", "grace grace grace",
                                        "must not contain the user's name"),
                                       ("a fine long phrase", "a fine long phrasE",
                                        "the two passwords differ")):
        response = client.post(f"{BASE}/users/grace/password", data={
            "password": password, "confirm": confirm, "csrf_token": csrf_token(page)})
        assert response.status_code == 422, password
        assert message in error_of(text_of(response)), (password, error_of(text_of(response)))

    assert snapshot(database_url) == before
    assert query(database_url, "SELECT * FROM core_user.user_group ORDER BY id") == groups_before


def test_the_minimum_length_setting(server, client, users_api):
    settings = server.runtime.plugins.records[CORE_USER].platform.settings
    settings.set("min_password_length", 16)
    response = add_user(client, "ivan", password="fifteen chars!!")
    assert response.status_code == 422 and "at least 16 characters" in error_of(
        text_of(response))
    assert add_user(client, "ivan", password="sixteen chars!!!").status_code == 302
    # Never below the floor of 8, whatever the setting.
    settings.set("min_password_length", 2)
    response = add_user(client, "judy", password="seven77")
    assert "at least 8 characters" in error_of(text_of(response))
    assert users_api.find_user("judy") is None


def test_a_directory_backend_swapped_in_by_the_setting(server, client, users_api):
    from peek.plugins.peek_core_user.api import DirectoryUnavailable, UserDirectory
    from peek.plugins.peek_core_user.tuples import UserTuple

    class FixedDirectory(UserDirectory):
        """A backend as an LDAP plugin would register, with its users in a dict."""
        USERS = {"zoe": (UserTuple(name="zoe", groups=["ldap ops"]), "zoe's ldap secret"),
                 "yan": (UserTuple(name="yan", groups=["ldap ops"], enabled=False), "yan pw")}

        def find(self, name):
            found = self.USERS.get(name.lower())
            return found and found[0]

        def check_password(self, name, password):
            found = self.USERS.get(name.lower())
            # Deliberately sloppy about disabled users: the API still refuses them.
            return found[0] if found and found[1] == password else None

        def in_group(self, group):
            return [u for u, _ in self.USERS.values() if group in u.groups]

        def list_users(self):
            return sorted((u for u, _ in self.USERS.values()), key=lambda u: u.name)

    assert add_user(client, "kim").status_code == 302
    settings = server.runtime.plugins.records[CORE_USER].platform.settings

    with pytest.raises(ValueError, match="built-in"):
        users_api.register_directory("table", FixedDirectory())
    with pytest.raises(ValueError, match="not a peek_core_user.api.UserDirectory"):
        users_api.register_directory("fixed", object())
    users_api.register_directory("fixed", FixedDirectory())
    with pytest.raises(ValueError, match="already registered"):
        users_api.register_directory("fixed", FixedDirectory())

    # Registered, but the setting still says table.
    assert users_api.find_user("kim").name == "kim" and users_api.find_user("zoe") is None

    settings.set("directory", "fixed")
    assert users_api.find_user("kim") is None
    assert users_api.check_password("zoe", "zoe's ldap secret").name == "zoe"
    assert users_api.check_password("zoe", "wrong") is None
    assert users_api.check_password("yan", "yan pw") is None       # disabled
    assert [u.name for u in users_api.users_in_group("ldap ops")] == ["zoe"]
    assert [u.name for u in users_api.list_users(include_disabled=True)] == ["yan", "zoe"]
    index = text_of(client.get(f"{BASE}/"))
    assert "setting is <code>fixed</code>" in index and 'data-user="kim"' in index

    # Withdrawn (its plugin stopped): the API says so rather than answering wrong.
    users_api.unregister_directory("fixed")
    with pytest.raises(DirectoryUnavailable, match="'fixed' is not available"):
        users_api.check_password("zoe", "zoe's ldap secret")
    with pytest.raises(DirectoryUnavailable):
        users_api.find_user("kim")

    settings.reset("directory")
    assert users_api.check_password("kim", STRONG).name == "kim"


def test_the_users_pages_in_a_browser(configured, database_url, site_ports, start_service,
                                      page_in, screenshot):
    """Over real HTTP, as an administrator clicks: add (with a refused first
    try), edit, disable and reset, each form carrying its CSRF token."""
    from tests.admin_session import sign_in_page

    enable_core_user(configured)
    server = start_service("server")
    users_api = server.runtime.plugins.records["peek_plugin_noop"].platform \
        .get_other_plugin_api(CORE_USER)
    base = f"http://127.0.0.1:{site_ports['admin']}"
    page = page_in(1024, 768, allow_http=(422,))
    sign_in_page(page, base, database_url, "/")
    page.click(f'#admin-menu a[href="{BASE}/"]')
    page.wait_for_url(f"{base}{BASE}/")
    assert page.locator("h1").inner_text() == "Users"

    page.click("#user-add")
    page.fill("#user-name", "lena")
    page.fill("#user-display-name", "Lena Lake")
    page.fill("#user-groups", "ops, planners")
    page.fill("#user-password", "short")
    page.fill("#user-confirm", "short")
    page.click("#user-form button[type=submit]")
    assert "at least 10 characters" in page.locator("#user-error").inner_text()
    assert page.locator("#user-display-name").input_value() == "Lena Lake"
    assert page.locator("#user-password").input_value() == ""
    screenshot(page, "refused")
    assert users_api.find_user("lena") is None
    page.fill("#user-password", STRONG)
    page.fill("#user-confirm", STRONG)
    page.click("#user-form button[type=submit]")
    page.wait_for_url(f"{base}{BASE}/")
    assert page.locator(".user-message").inner_text() == "Added user lena."
    assert users_api.check_password("lena", STRONG).groups == ["ops", "planners"]
    screenshot(page, "added")

    row = page.locator('tr[data-user="lena"]')
    row.get_by_role("link", name="Edit").click()
    page.fill("#user-groups", "ops")
    page.click("#user-form button[type=submit]")
    page.wait_for_url(f"{base}{BASE}/")
    assert users_api.find_user("lena").groups == ["ops"]

    page.locator('tr[data-user="lena"]').get_by_role("button", name="Disable").click()
    page.wait_for_url(f"{base}{BASE}/")
    assert page.locator('tr[data-user="lena"] .user-state').inner_text() == "disabled"
    assert users_api.check_password("lena", STRONG) is None
    page.locator('tr[data-user="lena"]').get_by_role("button", name="Enable").click()
    page.wait_for_url(f"{base}{BASE}/")

    page.locator('tr[data-user="lena"]').get_by_role("link", name="Reset password").click()
    page.fill("#user-password", "lakeside morning walk")
    page.fill("#user-confirm", "lakeside morning walk")
    page.click("#password-form button[type=submit]")
    page.wait_for_url(f"{base}{BASE}/")
    assert users_api.check_password("lena", "lakeside morning walk").name == "lena"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    screenshot(page, "after-reset")
