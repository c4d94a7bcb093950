"""What plugins put on the platform's pages: menu entries, home tiles and
dashboard panels in priority order, and templates that cannot shadow others'."""

from tests.admin_session import admin_client
from tests.plugin_factory import make_plugin

ADMIN_PAGE = '''
from flask import Blueprint, render_template
bp = Blueprint("admin", __name__, template_folder="templates")
bp.add_url_rule("/", "index", lambda: render_template("{name}/index.html"))
self.platform.add_blueprint(bp, "admin")
'''


def admin_plugin(root, name, title, priority=None, extra_load="", templates=None):
    section = {"title": title} | ({"priority": priority} if priority is not None else {})
    package = make_plugin(root, name, services=["server", "admin"], manifest={
        "plugin": {"title": title, "packageName": name, "version": "1.0.0"},
        "requiresServices": ["server", "admin"], "admin": section},
        extra_load=ADMIN_PAGE.format(name=name) + extra_load)
    for path, text in (templates or {f"{name}/index.html": (
            '{% extends "admin/layout.html" %}{% block content %}<p id="page">' + title
            + '</p>{% endblock %}')}).items():
        (package / "templates" / path).parent.mkdir(parents=True, exist_ok=True)
        (package / "templates" / path).write_text(text)
    return package


def menu_titles(html):
    """The plugins' entries of the admin menu, after the platform's own pages."""
    menu = html.split('id="admin-menu"', 1)[1].split("</ul>", 1)[0]
    entries = menu.split("<a ")[1:]
    assert entries[0].split(">", 1)[1].startswith("Dashboard<")
    return [part.split(">", 1)[1].split("<", 1)[0]
            for part in entries if "data-plugin=" in part.split(">", 1)[0]]


def test_admin_menu_and_dashboard_panels_follow_priority(configured, plugin_root, start_service):
    from tests.conftest import write_config

    admin_plugin(plugin_root, "peek_plugin_tlate", "Zebra reports", priority=50)
    admin_plugin(plugin_root, "peek_plugin_tearly", "Yak tools", priority=10,
                 extra_load='self.platform.add_to_slot("admin.dashboard", "Yak panel", '
                            'template="peek_plugin_tearly/panel.html", priority=5)\n',
                 templates={"peek_plugin_tearly/index.html": "early",
                            "peek_plugin_tearly/panel.html": '<p id="yak">yaks: 3</p>'})
    admin_plugin(plugin_root, "peek_plugin_tdefault", "Alpaca", extra_load=(
        'self.platform.add_to_slot("admin.dashboard", "Alpaca panel", '
        'template="peek_plugin_tdefault/panel.html")\n'),
        templates={"peek_plugin_tdefault/index.html": "alpaca",
                   "peek_plugin_tdefault/panel.html": '<p id="alpaca">alpacas</p>'})
    write_config(configured, "server", {"plugin": {"enabled": [
        "peek_plugin_noop", "peek_plugin_tlate", "peek_plugin_tearly", "peek_plugin_tdefault"]}})
    site = admin_client(start_service("server", listen=False).apps["admin"])

    html = site.get("/").get_data(as_text=True)
    # Lower priority first; noop asks for 900, the default is 100.
    assert menu_titles(html) == ["Yak tools", "Zebra reports", "Alpaca", "Noop", "Noop items"]
    assert 'href="/peek_plugin_tearly/"' in html
    panels = [html.index(marker) for marker in ('id="yak"', 'id="alpaca"', "Noop</header>")]
    assert panels == sorted(panels)
    page = site.get("/peek_plugin_tlate/").get_data(as_text=True)
    assert '<p id="page">Zebra reports</p>' in page and "Yak tools" in page  # the menu is on every page


def test_plugin_templates_outside_their_folder_are_refused(configured, plugin_root, start_service):
    from tests.conftest import write_config

    admin_plugin(plugin_root, "peek_plugin_tshadow", "Shadow", templates={
        "admin/layout.html": "HIJACKED", "peek_plugin_tshadow/index.html": "x"})
    admin_plugin(plugin_root, "peek_plugin_tfine", "Fine")
    write_config(configured, "server", {"plugin": {"enabled": [
        "peek_plugin_tshadow", "peek_plugin_tfine"]}})
    server = start_service("server", listen=False)
    shadow = server.runtime.plugins.records["peek_plugin_tshadow"]
    assert shadow.state == "failed"
    assert "templates outside templates/peek_plugin_tshadow/: admin" in shadow.error
    site = admin_client(server.apps["admin"])
    assert site.get("/peek_plugin_tshadow/").status_code == 404
    page = site.get("/peek_plugin_tfine/").get_data(as_text=True)
    assert "HIJACKED" not in page and "Peek Admin" in page
    assert menu_titles(page) == ["Fine"]
