"""An administrator's whole path through the admin site in headless Chromium,
on a running platform (server, agent, a client on its own machine, a Dask
worker): sign in, dashboard, upload a plugin built here, watch it start on
every service, use its table editor and settings page, upgrade it, disable it,
roll it back, sign out.  Each page's screenshot is kept in test-artifacts/."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import sqlalchemy

from tests.admin_session import sign_in_page
from tests.plugin_factory import build_wheel, migration
from tests.test_live_install import platform  # noqa: F401 (the fixture)

NAME = "peek_plugin_tjourney"
MIGRATIONS = {"0001_note.py": migration("0001", None, '''op.create_table(
        "note", sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.String(40), nullable=False),
        sa.Column("stars", sa.Integer, nullable=False), schema="pl_tjourney")''',
    'op.drop_table("note", schema="pl_tjourney")')}

INIT = '''
from peek.plugin_api import PluginHook

VERSION = "{version}"


class Hook(PluginHook):
    def load(self):
        if self.platform.service == "server":
            from ._private.storage import Note
            self.platform.add_table_editor(Note, title="Journey notes")


def server_entry_hook():
    return Hook


def client_entry_hook():
    return Hook


def agent_entry_hook():
    return Hook


def worker_entry_hook():
    return Hook
'''

STORAGE = '''
from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(schema="pl_tjourney")


class Note(Base):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(40))
    stars: Mapped[int] = mapped_column(Integer)
'''


def journey_wheel(tmp_path: Path, version: str) -> Path:
    source = tmp_path / f"src-{version}" / NAME
    versions = source / "_private" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (source / "__init__.py").write_text(INIT.format(version=version))
    (source / "_private" / "__init__.py").write_text("")
    (source / "_private" / "storage.py").write_text(STORAGE)
    for filename, code in MIGRATIONS.items():
        (versions / filename).write_text(textwrap.dedent(code))
    (source / "plugin_package.json").write_text(json.dumps({
        "plugin": {"title": "Journey", "packageName": NAME, "version": version},
        "requiresServices": ["server", "client", "agent", "worker", "storage", "admin"],
        "requiresPlugins": [],
        "settings": {"motto": {"type": "string", "default": "onwards", "title": "Motto"},
                     "retries": {"type": "int", "default": 3, "title": "Retries"}}}))
    out = tmp_path / "dist"
    out.mkdir(exist_ok=True)
    return build_wheel(source, version, out)


def drop_file(page, selector: str, path: Path) -> None:
    """Drag a file from the desktop and drop it on ``selector``."""
    transfer = page.evaluate_handle(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name));
            return transfer;
        }""", [path.name, base64.b64encode(path.read_bytes()).decode()])
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def row(page):
    return page.locator(f"#plugin-{NAME}")


def test_an_administrators_whole_path_in_the_browser(platform, page_in, screenshot,  # noqa: F811
                                                     database_url, engine, tmp_path):
    admin = platform["admin"]
    page = page_in(1280, 900)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    sign_in_page(page, admin, database_url, "/")
    page.locator("#services").wait_for()
    screenshot(page, "dashboard")

    page.click("#admin-menu >> text=Plugins")
    page.wait_for_url(f"{admin}/plugins")
    screenshot(page, "plugins")
    drop_file(page, "#drop-zone", journey_wheel(tmp_path, "1.0.0"))
    done = page.locator(".peek-job[data-finished=true]")
    done.wait_for(timeout=90000)
    assert "Running on every service it needs" in done.inner_text(), done.inner_text()
    # The table refreshes itself: the plugin started on every service.
    states = row(page).locator(".peek-state")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#plugin-{NAME} .peek-state')]"
        ".filter(s => s.dataset.state === 'started').length >= 4", timeout=30000)
    services = row(page).locator("li[data-service]")
    assert sorted(set(services.evaluate_all("els => els.map(e => e.dataset.service)"))) == [
        "agent", "client", "server", "worker"]
    assert set(states.all_inner_texts()) == {"started"}
    screenshot(page, "installed")

    row(page).get_by_role("link", name="Journey notes").click()  # its admin pages
    page.wait_for_url(f"{admin}/tables/{NAME}/note")
    new_row = page.locator("form").filter(has=page.locator("[name=text]")).last
    new_row.locator("[name=text]").fill("first light")
    new_row.locator("[name=stars]").fill("many")
    new_row.locator("button[type=submit]").click()
    page.locator("[aria-invalid=true]").first.wait_for()
    screenshot(page, "table-editor-refused")
    new_row = page.locator("form").filter(has=page.locator("[name=text]")).last
    new_row.locator("[name=stars]").fill("5")
    new_row.locator("button[type=submit]").click()
    page.get_by_text("first light").first.wait_for()
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(
            "SELECT text, stars FROM pl_tjourney.note")).all() == [("first light", 5)]
    screenshot(page, "table-editor")

    page.goto(f"{admin}/settings/{NAME}")
    page.fill("[name=motto]", "ever onwards")
    page.fill("[name=retries]", "7")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Settings saved.").wait_for()
    page.reload()
    assert page.input_value("[name=motto]") == "ever onwards"
    assert page.input_value("[name=retries]") == "7"
    screenshot(page, "settings")

    page.goto(f"{admin}/plugins")
    # A package over the limit is refused in the page, before it is sent.
    huge = tmp_path / "huge.whl"
    with open(huge, "wb") as out:
        out.truncate(51 * 2**20)
    page.set_input_files("#upload-form input[type=file]", str(huge))
    page.click("#upload-form button[type=submit]")
    assert page.locator("#upload-job [role=alert]").inner_text() == (
        "huge.whl is 51 MiB; packages may be at most 50 MiB, release archives 500 MiB.")
    page.set_input_files("#upload-form input[type=file]", str(journey_wheel(tmp_path, "2.0.0")))
    page.click("#upload-form button[type=submit]")
    done = page.locator(".peek-job[data-finished=true]")
    done.wait_for(timeout=90000)
    assert f"{NAME} 2.0.0 replaces 1.0.0" in done.inner_text()
    screenshot(page, "upgraded")

    message = page.locator("#plugin-message")
    row(page).get_by_role("button", name="Disable").click()
    message.filter(has_text=f"{NAME} disabled.").wait_for(timeout=60000)
    page.locator(f"#plugin-{NAME}[data-enabled=false]").wait_for(timeout=60000)
    # The table refreshes itself every 3 s; the message stays above it.
    with page.expect_response(lambda r: r.url.endswith("/plugins/table"), timeout=10000):
        pass
    assert message.inner_text() == f"{NAME} disabled."
    screenshot(page, "disabled")
    row(page).get_by_role("button", name="Roll back to 1.0.0").click()
    message.filter(has_text=f"{NAME} rolled back from 2.0.0 to 1.0.0.").wait_for(
        timeout=60000)
    assert row(page).locator("td").nth(1).inner_text().startswith("1.0.0")
    screenshot(page, "rolled-back")

    # Signing out must not cut the table's 3 s refresh mid-request (a failed
    # request, or a 401 for the signed-out one): stop it just after one finished.
    with page.expect_request_finished(lambda r: r.url.endswith("/plugins/table"),
                                      timeout=10000):
        pass
    page.evaluate("document.getElementById('plugin-table').remove()")
    page.click("#admin-account button")
    page.wait_for_url(f"{admin}/sign-in")
    screenshot(page, "signed-out")
    page.goto(f"{admin}/plugins")
    page.wait_for_url(f"{admin}/sign-in?next=/plugins")
