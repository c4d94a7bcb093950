"""Table editors on the admin site: a plugin's tables edited row by row, values
checked per column type, database refusals shown where they belong, and
subscribers (devices) told of every saved change."""

import json
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
import requests
import sqlalchemy

from peek.plugin_api import PluginApiError
from tests.admin_session import admin_client, csrf_token, sign_in_page
from tests.conftest import wait_for
from tests.plugin_factory import make_plugin, migration
from tests.vortex_harness import Device

PARTS = "peek_plugin_tparts"

TUPLES = '''
import datetime
import decimal
import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from peek.plugin_api import orm_tuple


class Base(DeclarativeBase):
    metadata = sa.MetaData(schema="pl_tparts")


class Colour(enum.Enum):  # stored by name: red, green, blue
    red = "Red"
    green = "Green"
    blue = "Blue"


class Kind(Base):
    __tablename__ = "kind"
    code: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(50))


@orm_tuple("peek_plugin_tparts.Part")
class Part(Base):
    __tablename__ = "part"
    __table_args__ = (sa.CheckConstraint("count >= 0", name="count_not_negative"),)
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    count: Mapped[int] = mapped_column(sa.Integer)
    serial: Mapped[int | None] = mapped_column(sa.BigInteger)
    weight: Mapped[float | None] = mapped_column(sa.Float)
    price: Mapped[decimal.Decimal | None] = mapped_column(sa.Numeric(8, 2))
    note: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    made_on: Mapped[datetime.date | None] = mapped_column(sa.Date)
    checked_at: Mapped[datetime.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    colour: Mapped[Colour] = mapped_column(sa.Enum(Colour, name="colour"))
    kind_code: Mapped[str | None] = mapped_column(sa.ForeignKey("pl_tparts.kind.code"))
'''

MIGRATION = migration("0001", None, '''
op.create_table("kind", sa.Column("code", sa.String(10), primary_key=True),
                sa.Column("title", sa.String(50), nullable=False))
op.create_table(
    "part",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(8), nullable=False, unique=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("serial", sa.BigInteger),
    sa.Column("weight", sa.Float),
    sa.Column("price", sa.Numeric(8, 2)),
    sa.Column("note", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("made_on", sa.Date),
    sa.Column("checked_at", sa.DateTime(timezone=True)),
    sa.Column("colour", sa.Enum("red", "green", "blue", name="colour"), nullable=False),
    sa.Column("kind_code", sa.String(10), sa.ForeignKey("kind.code")),
    sa.CheckConstraint("count >= 0", name="count_not_negative"))
''')

# The server hook: parts are watched by kind; the editor tells the old and the
# new kind's watchers of every change.  Telling the watchers of kinds fails.
LOAD = '''
if self.platform.service == "server":
    from peek_plugin_tparts.tuples import Kind, Part
    self.platform.add_tuple_provider(Part, self.provide, devices=True)
    self.platform.add_table_editor(Part, title="Parts", notify=self.watchers)
    self.platform.add_table_editor(Kind, title="Kinds", notify=self.no_watchers)
'''
METHODS = '''
def provide(self, selector):
    from sqlalchemy import select
    from peek_plugin_tparts.tuples import Part
    query = select(Part).where(Part.kind_code == selector.filter["kind"]).order_by(Part.id)
    with self.platform.db_session() as session:
        return list(session.scalars(query))

def watchers(self, row):
    from peek.plugin_api import TupleSelector
    from peek_plugin_tparts.tuples import Part
    return [TupleSelector.of(Part, kind=row["kind_code"])]

def no_watchers(self, row):
    raise RuntimeError("kinds have no watchers")
'''


def write_parts_plugin(root):
    package = make_plugin(root, PARTS, services=("server", "client", "storage"),
                          migrations={"0001_parts.py": MIGRATION}, extra_load=LOAD,
                          extra=METHODS)
    (package / "tuples.py").write_text(TUPLES)


def enable(home, service, *plugins):
    path = home / f"peek-{service}.home" / "config.json"
    config = json.loads(path.read_text())
    config["plugin"] = {"enabled": list(plugins)}
    path.write_text(json.dumps(config, indent=2))


def part_form(**changes):
    """Every field of a part, as the add form or an edited row sends them."""
    form = {"code": "A1", "count": "3", "serial": "9000000000", "weight": "1.25",
            "price": "12.50", "note": "first\r\nsecond", "active": "true",
            "made_on": "2024-05-31", "checked_at": "2024-05-31T13:45:00", "colour": "green",
            "kind_code": ""}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}  # None: not sent at all


class EditorSite:
    """One table editor of the signed-in admin site, called as its page's HTMX does."""

    def __init__(self, app, plugin, table, client=None):
        self.http = client or admin_client(app)
        self.url = f"/tables/{plugin}/{table}"
        page = self.http.get(self.url)
        assert page.status_code == 200, page.get_data(as_text=True)
        self.headers = {"HX-Request": "true",
                        "X-CSRFToken": csrf_token(page.get_data(as_text=True))}

    def _call(self, method, path, **kwargs):
        response = getattr(self.http, method)(self.url + path, headers=self.headers, **kwargs)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data(as_text=True)

    def page(self, number=1):
        return self._call("get", f"?page={number}")

    def add(self, form):
        return self._call("post", "/rows", data=form)

    def edit(self, key):
        return self._call("get", f"/row/edit?key={key}")

    def reset(self, key):
        return self._call("get", f"/row?key={key}")

    def save(self, key, form):
        return self._call("post", f"/row?key={key}", data=form)

    def delete(self, key):
        return self._call("delete", f"/row?key={key}")


def field_error(html, name):
    """The message shown for field ``name`` if it is marked invalid, else None."""
    tag = re.search(rf'<(?:input|select|textarea)[^>]*name="{name}"[^>]*>', html)[0]
    if 'aria-invalid="true"' not in tag:
        return None
    described = re.search(r'aria-describedby="([^"]+)"', tag)[1]
    return re.search(rf'<small id="{described}">([^<]*)</small>', html)[1]


def keys(html):
    return re.findall(r'<tr data-key="([^"]*)"', html)


def query(server, sql):
    with server.runtime.engine.connect() as conn:
        return conn.execute(sqlalchemy.text(sql)).mappings().all()


@pytest.fixture
def parts_server(configured, plugin_root, start_service):
    write_parts_plugin(plugin_root)
    enable(configured, "server", "peek_plugin_noop", PARTS)
    server = start_service("server", listen=False)
    record = server.runtime.plugins.records[PARTS]
    assert record.state == "started", record.error
    return server


@pytest.fixture
def parts(parts_server):
    return EditorSite(parts_server.apps["admin"], PARTS, "part")


def test_rows_added_edited_reset_and_deleted_are_stored(parts_server, parts):
    page = parts.page()
    assert "No rows yet." in page and 'name="id"' not in page  # autoincrement key: not edited
    assert re.search(r'id="new-active" name="active"[^>]* checked>', page)  # default True
    added = parts.add(part_form())
    assert keys(added) == ["1"] and "Added row 1." in added
    assert 'hx-swap-oob="beforeend:#rows"' in added and field_error(added, "code") is None
    (row,) = query(parts_server, "SELECT *, checked_at AT TIME ZONE 'UTC' AS utc "
                                 "FROM pl_tparts.part")
    assert (row["code"], row["count"], row["serial"], row["weight"], row["price"]) == (
        "A1", 3, 9000000000, 1.25, Decimal("12.50"))
    assert (row["note"], row["active"], row["made_on"], row["utc"], row["colour"]) == (
        "first\nsecond", True, date(2024, 5, 31), datetime(2024, 5, 31, 13, 45), "green")
    assert row["kind_code"] is None  # empty and nullable: NULL
    parts.add(part_form(code="B2", serial="", note="", active=None, colour="red"))
    (other,) = query(parts_server, "SELECT * FROM pl_tparts.part WHERE code = 'B2'")
    assert other["serial"] is None and other["note"] is None and other["active"] is False

    form = parts.edit(1)
    assert 'value="9000000000"' in form and 'value="2024-05-31T13:45:00"' in form
    assert '<option value="green" selected>' in form and ">first\nsecond</textarea>" in form
    saved = parts.save(1, part_form(code="A1x", count="0", price="7", active=None))
    assert "Saved row 1." in saved and "A1x" in saved and 'name="code"' not in saved
    (row,) = query(parts_server, "SELECT * FROM pl_tparts.part WHERE id = 1")
    assert (row["code"], row["count"], row["price"], row["active"]) == (
        "A1x", 0, Decimal("7.00"), False)
    assert row["note"] == "first\nsecond"  # unchanged values stay as they were
    assert len(query(parts_server, "SELECT * FROM pl_tparts.part WHERE code = 'B2'")) == 1

    assert "A1x" in parts.reset(1) and 'name="code"' not in parts.reset(1)
    deleted = parts.delete(1)
    assert "Deleted row 1." in deleted and "<tr" not in deleted
    assert [r["code"] for r in query(parts_server, "SELECT code FROM pl_tparts.part")] == ["B2"]
    assert keys(parts.page()) == ["2"]


@pytest.mark.parametrize("field, value, error", [
    ("count", "12a", "not a whole number"),
    ("count", "3000000000", "out of range: from -2147483648 to 2147483647"),
    ("count", "", "required: this field cannot be empty"),
    ("code", "", "required: this field cannot be empty"),
    ("code", "ABCDEFGHI", "too long: at most 8 characters, not 9"),
    ("price", "1.234", "at most 2 decimal places"),
    ("price", "1234567", "too large: at most 6 digits before the decimal point"),
    ("weight", "heavy", "not a number"),
    ("made_on", "31/05/2024", "not a date: write it as 2024-05-31"),
    ("colour", "purple", "one of red, green, blue"),
])
def test_bad_values_are_refused_per_field_and_nothing_is_written(
        parts_server, parts, field, value, error):
    added = parts.add(part_form(**{field: value, "note": "kept"}))
    assert field_error(added, field) == error
    assert [f for f in ("code", "count", "weight") if f != field
            and field_error(added, f)] == []  # only the bad field
    assert 'value="kept"' not in added and ">kept</textarea>" in added  # what was typed stays
    assert query(parts_server, "SELECT * FROM pl_tparts.part") == []

    parts.add(part_form())
    saved = parts.save(1, part_form(**{"code": "Z9", field: value}))
    assert field_error(saved, field) == error and "Saved" not in saved
    assert [r["code"] for r in query(parts_server, "SELECT code FROM pl_tparts.part")] == ["A1"]


def test_database_refusals_show_on_their_field_or_row_and_change_nothing(parts_server, parts):
    kinds = EditorSite(parts_server.apps["admin"], PARTS, "kind", client=parts.http)
    kinds.add({"code": "bolt", "title": "Bolts"})
    parts.add(part_form(code="A1", kind_code="bolt"))
    parts.add(part_form(code="B2"))
    before = query(parts_server, "SELECT * FROM pl_tparts.part ORDER BY id")

    taken = parts.save(2, part_form(code="A1", count="5"))
    assert field_error(taken, "code") == "another row already has this value"
    assert 'value="5"' in taken  # the other values typed are still there to fix and save
    added = parts.add(part_form(code="A1"))
    assert field_error(added, "code") == "another row already has this value"
    unknown = parts.save(2, part_form(code="B2", kind_code="nut"))
    assert field_error(unknown, "kind_code") == "no row of kind has this value"
    negative = parts.save(2, part_form(code="B2", count="-1"))
    assert "the table&#39;s check count_not_negative (count &gt;= 0) refuses these values" \
        in negative and field_error(negative, "count") is None
    assert query(parts_server, "SELECT * FROM pl_tparts.part ORDER BY id") == before

    referred = kinds.delete("bolt")
    assert "rows of part still refer to this row: change or delete them first" in referred
    assert keys(referred) == ["bolt"]  # the row stays on the page, as stored
    assert [r["code"] for r in query(parts_server, "SELECT code FROM pl_tparts.kind")] == ["bolt"]
    renamed = kinds.save("bolt", {"code": "bolts", "title": "Bolts"})
    assert "rows of part still refer to this row" in renamed
    # Saved all the same when notifying fails, and the page says so.
    assert "Saved row bolt, but telling the observers failed: RuntimeError: kinds have " \
        "no watchers." in kinds.save("bolt", {"code": "bolt", "title": "Big bolts"})
    assert query(parts_server, "SELECT title FROM pl_tparts.kind")[0]["title"] == "Big bolts"


def test_a_row_deleted_meanwhile_is_said_so_not_an_error(parts_server, parts):
    parts.add(part_form())
    parts.add(part_form(code="B2"))
    assert 'name="code"' in parts.edit(1)
    with parts_server.runtime.engine.begin() as conn:
        conn.execute(sqlalchemy.text("DELETE FROM pl_tparts.part WHERE id = 1"))
    gone = "row 1 is no longer in part: someone deleted it meanwhile"
    for answer in (parts.save(1, part_form(code="A2")), parts.edit(1), parts.reset(1)):
        assert gone in answer and 'class="peek-gone"' in answer and "Reload the table" in answer
    assert "Row 1 was deleted already." in parts.delete(1)
    assert [r["code"] for r in query(parts_server, "SELECT code FROM pl_tparts.part")] == ["B2"]
    assert keys(parts.page()) == ["2"]


def test_an_editor_is_only_for_the_plugins_own_models(parts_server):
    from peek.plugins.peek_plugin_noop._private.storage import NoopItem
    from peek_plugin_tparts.tuples import Part

    platform = parts_server.runtime.plugins.records[PARTS].platform
    with pytest.raises(ValueError, match=r"peek_plugin_tparts can only edit its own tables, "
                                         r"in schema pl_tparts, not pl_noop.noop_item"):
        platform.add_table_editor(NoopItem)
    with pytest.raises(ValueError, match="edits an SQLAlchemy ORM model class, not <class 'di"):
        platform.add_table_editor(dict)
    with pytest.raises(ValueError, match="part has no column 'size'; its columns: id, code"):
        platform.add_table_editor(Part, columns=["code", "size"])
    with pytest.raises(ValueError, match="part already has an editor"):
        platform.add_table_editor(Part)
    with pytest.raises(ValueError, match="notify takes a tuple type"):
        platform.add_table_editor(Part, notify=42)
    assert len(platform.table_editors) == 2


def test_editors_are_in_the_menu_signed_in_and_paged(parts_server, parts):
    html = parts.http.get("/").get_data(as_text=True)
    menu = html.split('id="admin-menu"', 1)[1].split("</ul>", 1)[0]
    for title, url in (("Parts", f"/tables/{PARTS}/part"), ("Kinds", f"/tables/{PARTS}/kind"),
                       ("Noop items", "/tables/peek_plugin_noop/noop_item")):
        assert f'<a href="{url}" data-plugin="' in menu and f">{title}</a>" in menu
    assert menu.index(">Noop</a>") < menu.index(">Noop items</a>")  # beside its plugin

    anonymous = parts_server.apps["admin"].test_client()
    assert anonymous.get(f"/tables/{PARTS}/part", headers={"Accept": "text/html"}
                         ).status_code == 302
    assert anonymous.post(f"/tables/{PARTS}/part/rows", data=part_form()).status_code in (
        400, 401)
    assert parts.http.get(f"/tables/{PARTS}/nothing").status_code == 404
    assert parts.http.get("/tables/peek_plugin_missing/part").status_code == 404
    assert parts.http.get(f"/tables/{PARTS}/part/row?key=x", headers=parts.headers
                          ).status_code == 400
    # A fragment's address opened as a page leads to the page.
    assert parts.http.get(f"/tables/{PARTS}/part/row/edit?key=1").status_code == 302

    with parts_server.runtime.engine.begin() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO pl_noop.noop_item (name) "
                                     "SELECT 'item ' || n FROM generate_series(1, 250) n"))
    noop = parts.http.get("/tables/peek_plugin_noop/noop_item").get_data(as_text=True)
    assert keys(noop) == [str(n) for n in range(1, 101)] and "Page 1 of 3 (250 rows)" in noop
    last = parts.http.get("/tables/peek_plugin_noop/noop_item?page=3").get_data(as_text=True)
    assert keys(last) == [str(n) for n in range(201, 251)] and 'rel="prev"' in last


def test_a_device_watching_the_table_gets_each_admin_change(
        configured, plugin_root, start_service, site_ports):
    write_parts_plugin(plugin_root)
    for service in ("server", "client"):
        enable(configured, service, PARTS)
    server = start_service("server")
    client = start_service("client")
    wait_for(lambda: requests.get(f"http://127.0.0.1:{site_ports['admin']}/healthz",
                                  timeout=5).json()["connections"]["clients"], what="client")
    parts = EditorSite(server.apps["admin"], PARTS, "part")
    kinds = EditorSite(server.apps["admin"], PARTS, "kind", client=parts.http)
    for code in ("bolt", "nut"):
        kinds.add({"code": code, "title": code})
    from peek_plugin_tparts.tuples import Part
    with pytest.raises(PluginApiError, match="table editors are on the admin site, declared "
                                             "from the server hook, not the client one"):
        client.runtime.plugins.records[PARTS].platform.add_table_editor(Part)
    bolts, nuts = Device(site_ports["mobile"]), Device(site_ports["mobile"])
    try:
        bolts.subscribe(f"{PARTS}.Part", kind="bolt")
        nuts.subscribe(f"{PARTS}.Part", kind="nut")
        assert bolts.data() == [] and nuts.data() == []

        parts.add(part_form(code="B1", count="4", kind_code="bolt"))
        (part,) = bolts.data(where=lambda tuples: len(tuples) == 1)
        assert (part["code"], part["count"], part["kind_code"]) == ("B1", 4, "bolt")

        parts.save(1, part_form(code="B1", count="9", kind_code="nut"))  # old and new kind
        assert bolts.data(where=lambda tuples: tuples == []) == []
        assert [(p["code"], p["count"]) for p in nuts.data(where=bool)] == [("B1", 9)]

        parts.delete(1)
        assert nuts.data(where=lambda tuples: tuples == []) == []
    finally:
        bolts.close()
        nuts.close()


def test_the_noop_editor_in_a_tablet_browser(configured, database_url, site_ports,
                                             start_service, page_in):
    server = start_service("server")
    base = f"http://127.0.0.1:{site_ports['admin']}"
    page = page_in(1024, 768)
    sign_in_page(page, base, database_url, "/tables/peek_plugin_noop/noop_item")
    assert page.locator("h1").inner_text() == "Noop items"
    sheets = page.evaluate("[...document.styleSheets].map(s => s.href)")
    assert any(s.endswith("pico.min.css") for s in sheets)
    assert any(s.endswith("table_editor.css") for s in sheets)

    def names():
        return [r["name"] for r in query(server, "SELECT name FROM pl_noop.noop_item")]

    page.fill("#new-name", "alpha")
    page.click("#add-row button[type=submit]")
    row = page.locator("#rows tr", has_text="alpha")
    row.wait_for()
    assert names() == ["alpha"] and page.locator("#no-rows").is_hidden()
    assert page.locator("#table-editor-message").inner_text() == "Added row 1."

    row.get_by_role("button", name="Edit").click()
    editing = page.locator("#rows tr.peek-editing")
    editing.locator("input[name=name]").fill("")
    editing.get_by_role("button", name="Save").click()
    page.locator("#rows input[name=name][aria-invalid=true]").wait_for()
    assert "required" in page.locator("#rows tr.peek-editing small").inner_text()
    assert names() == ["alpha"]

    page.locator("#rows tr.peek-editing input[name=name]").fill("beta")
    page.locator("#rows tr.peek-editing").get_by_role("button", name="Save").click()
    page.locator("#rows tr", has_text="beta").wait_for()
    assert page.locator("#rows tr.peek-editing").count() == 0 and names() == ["beta"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024  # no sideways scroll

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#rows tr", has_text="beta").get_by_role("button", name="Delete").click()
    page.locator("#rows tr").first.wait_for(state="detached")
    assert names() == [] and page.locator("#table-editor-message").inner_text() == \
        "Deleted row 1."
