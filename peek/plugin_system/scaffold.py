"""``peek plugin new``: a complete plugin project, ready to install, build and release.

The project is written from the strings below, with ``__NAME__`` (the package,
e.g. ``peek_plugin_tutorial``), ``__SHORT__`` (``tutorial``), ``__SCHEMA__``
(``pl_tutorial``), ``__CLASS__`` (``Tutorial``) and ``__TITLE__`` filled in, so
nothing in it needs renaming by hand::

    <dir>/
    ├── pyproject.toml, setup.cfg, MANIFEST.in, README.md
    ├── tests/test_<short>.py
    └── <name>/
        ├── __init__.py, plugin_package.json
        ├── _private/<service>/hook.py      one per Python service chosen
        ├── _private/storage.py              with storage
        ├── _private/migrations/versions/0001_<short>_item.py
        ├── templates/<name>/<site>.html     with admin, mobile, desktop
        └── static/icon.svg
"""

from __future__ import annotations

import json
from pathlib import Path

from peek.plugin_system.manifest import (ALL_SERVICES, MANIFEST, NAME_RE, NEEDS,
                                         PYTHON_SERVICES, schema_name)
from peek.plugin_system.packages import PluginOperationError

VERSION = "0.0.1"
#: Characters a title may not hold: it goes into Python strings, JSON and HTML as is.
TITLE_REFUSED = set('"\\`<>{}%$')
#: Where each site's blueprint is added from.
SITE_SERVICE = {"admin": "server", "mobile": "client", "desktop": "client"}


class ScaffoldError(PluginOperationError):
    """A plugin project that cannot be written; the message says why."""


def parse_services(text: str) -> tuple[str, ...]:
    """``server,client,storage`` as services in Peek's order; unknown ones and
    parts without the service they need are refused."""
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    if not chosen:
        raise ScaffoldError("--services is empty; name at least one of "
                            f"{', '.join(ALL_SERVICES)}")
    unknown = [s for s in chosen if s not in ALL_SERVICES]
    if unknown:
        raise ScaffoldError(f"unknown service{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)} in --services; known: "
                            f"{', '.join(ALL_SERVICES)}")
    for part, service in NEEDS.items():
        if part in chosen and service not in chosen:
            raise ScaffoldError(f"--services lists {part!r}, which needs {service!r} too")
    return tuple(s for s in ALL_SERVICES if s in chosen)


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ScaffoldError(f"{name!r} is not a plugin name: it must look like "
                            "peek_plugin_<name> or peek_core_<name> (lower case letters, "
                            "digits and _, starting with a letter)")


# -- the files ---------------------------------------------------------------------------
PYPROJECT = """\
[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"
"""

SETUP_CFG = """\
[metadata]
name = __NAME__
# Keep equal to plugin.version in __NAME__/plugin_package.json.
version = __VERSION__
description = __TITLE__: a Peek plugin
long_description = file: README.md
long_description_content_type = text/markdown

[options]
packages = find:
python_requires = >=3.11
# The Python packages the plugin needs besides Peek's own, e.g.
#   requests>=2.31
# `peek plugin release` puts their wheels in the release archive.
install_requires =

[options.packages.find]
include = __NAME__, __NAME__.*

[options.package_data]
__NAME__ = plugin_package.json, templates/**/*, static/**/*, _private/migrations/versions/*.py

[options.entry_points]
peek.plugins =
    __NAME__ = __NAME__
"""

MANIFEST_IN = """\
include README.md
recursive-include tests *.py
graft __NAME__
global-exclude __pycache__ *.py[cod]
"""

README = """\
# __TITLE__ (`__NAME__`)

A Peek plugin, written by `peek plugin new`. It runs on: __SERVICES__.

## Develop

Install it into Peek's Python environment in editable mode, so Peek runs the
code in this directory as you change it, and enable it:

    pip install -e . --no-build-isolation
    peek plugin enable __NAME__
    make run          # in Peek's own checkout, or: peek run

Restart the services (or disable and enable the plugin) to pick up changes.
Run the plugin's tests with

    python -m pytest tests

__STORAGE__
## Build and release

    peek plugin build .            # dist/__NAME__-<version>-py3-none-any.whl and the .tar.gz
    peek plugin install dist/__NAME__-<version>-py3-none-any.whl
    peek plugin release .          # one zip with this plugin and the wheels it needs

Give every new build a higher version: `version` in `setup.cfg` and
`plugin.version` in `__NAME__/plugin_package.json` (they must match). A release
archive installs with `peek plugin install FILE` on a machine without a
package registry.
"""

README_STORAGE = """\
## Storage

The models are in `__NAME__/_private/storage.py` (schema `__SCHEMA__`). After
changing them, write a migration with

    peek plugin migration __NAME__ -m "what changed"
"""

INIT_HEAD = '''\
"""__TITLE__: a Peek plugin (see README.md)."""

from peek.plugin_api import PluginHook
'''

INIT_HOOK = '''

def __SERVICE___entry_hook() -> type[PluginHook]:
    from ._private.__SERVICE__.hook import __HOOKCLASS__
    return __HOOKCLASS__
'''

HOOK_HEAD = '''\
"""__TITLE__ on the __SERVICE__ service."""

from peek.plugin_api import PluginHook
'''

HOOK_BODY = '''

class __HOOKCLASS__(PluginHook):
    """Created by the platform with ``self.platform``; see docs/plugins.md, Hooks."""

    def load(self) -> None:
        self.platform.log.info("__NAME__ loaded on __SERVICE__")
__LOAD__
    def start(self) -> None:
        self.platform.log.info("__NAME__ started on __SERVICE__")

    def stop(self) -> None:
        self.platform.log.info("__NAME__ stopped on __SERVICE__")

    def unload(self) -> None:
        self.platform.log.info("__NAME__ unloaded on __SERVICE__")
'''

SERVER_LOAD = '''\
        # Devices (apps, the mobile and desktop pages) reach only the data and
        # actions offered to them: add_tuple_provider(..., devices=True) and
        # add_action_processor(..., devices=True); see docs/plugins.md.
'''

ADMIN_LOAD = '''\
        admin = Blueprint("admin", __name__, template_folder="../../templates",
                          static_folder="../../static")
        admin.add_url_rule("/", "index", self._admin_index)
        self.platform.add_blueprint(admin, "admin")
'''

ADMIN_VIEW = '''
    def _admin_index(self) -> str:
        return render_template("__NAME__/admin.html"__COUNT_ARG__)
'''

ADMIN_COUNT = '''
    def _item_count(self) -> int:
        with self.platform.db_session() as session:
            return session.scalar(select(func.count()).select_from(__CLASS__Item))
'''

CLIENT_LOAD = '''\
        for site in __SITES__:
            blueprint = Blueprint(site, __name__, template_folder="../../templates",
                                  static_folder="../../static")
            blueprint.add_url_rule("/", "index", lambda site=site: render_template(
                f"__NAME__/{site}.html"))
            self.platform.add_blueprint(blueprint, site)
'''

STORAGE = '''\
"""__TITLE__'s tables, in its own schema (__SCHEMA__)."""

from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(schema="__SCHEMA__")


class __CLASS__Item(Base):
    __tablename__ = "__SHORT___item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
'''

MIGRATION = '''\
"""__SHORT___item table

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # search_path is the plugin's schema (__SCHEMA__) while its migrations run.
    op.create_table(
        "__SHORT___item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
    )


def downgrade():
    op.drop_table("__SHORT___item")
'''

PAGE = '''\
{% extends "__SITE__/layout.html" %}
{% block title %}__TITLE__{% endblock %}
{% block content %}
<h1>__TITLE__</h1>
<p id="__NAME__-__SITE__">The __TITLE__ plugin's __SITE__ page.</p>
__EXTRA__{% endblock %}
'''

ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48">'
        '<circle cx="24" cy="24" r="22" fill="#2563eb"/><text x="24" y="31" font-size="20" '
        'text-anchor="middle" fill="#fff" font-family="sans-serif">__LETTER__</text></svg>\n')

TEST_HEAD = '''\
"""The plugin's own checks: run with `python -m pytest tests` (Peek installed)."""

__IMPORTLIB__from pathlib import Path

from peek.plugin_api import PluginHook
from peek.plugin_system.manifest import read_manifest

import __NAME__

PACKAGE = Path(__NAME__.__file__).parent


def test_the_manifest_is_valid():
    manifest = read_manifest(PACKAGE / "plugin_package.json",
                             expected_name="__NAME__")
    assert manifest.title == "__TITLE__"
    assert set(manifest.requires_services) == {
        __SERVICES__}


def test_every_service_has_its_hook():
    manifest = read_manifest(PACKAGE / "plugin_package.json")
    for service in ("server", "client", "agent", "worker"):
        factory = getattr(__NAME__, f"{service}_entry_hook", None)
        assert (factory is not None) == manifest.runs_on(service), service
        if factory is not None:
            hook = factory()
            assert isinstance(hook, type) and issubclass(hook, PluginHook)
'''

TEST_STORAGE = '''

def test_the_models_are_in_the_plugin_schema():
    storage = importlib.import_module("__NAME__._private.storage")
    assert {t.schema for t in storage.Base.metadata.tables.values()} == {"__SCHEMA__"}
    assert list((PACKAGE / "_private" / "migrations" / "versions").glob("0001_*.py"))
'''

TEST_SITES = '''

def test_the_pages_templates_are_in_the_plugin_folder():
    for site in __SITES__:
        assert (PACKAGE / "templates" / "__NAME__" / f"{site}.html").is_file(), site
'''


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(f'"{i}"' for i in items) + ("," if len(items) == 1 else "") + ")"


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return text


def _hook_module(service: str, services: tuple[str, ...], values: dict[str, str]) -> str:
    sites = [s for s in ("admin", "mobile", "desktop")
             if s in services and SITE_SERVICE[s] == service]
    storage = service == "server" and "storage" in services
    third_party, load, views = [], "", ""
    if service == "server":
        load += SERVER_LOAD
    if sites:
        third_party.append("from flask import Blueprint, render_template")
    if "admin" in sites:
        load += ADMIN_LOAD
        views += ADMIN_VIEW.replace("__COUNT_ARG__",
                                    ", count=self._item_count()" if storage else "")
        if storage:
            third_party.append("from sqlalchemy import func, select")
            views += ADMIN_COUNT
    head = HOOK_HEAD.replace("from peek.plugin_api", "".join(
        f"{line}\n" for line in third_party) + ("\n" if third_party else "")
        + "from peek.plugin_api")
    if storage and "admin" in sites:
        head += "\nfrom ..storage import __CLASS__Item\n"
    client_sites = [s for s in sites if s != "admin"]
    if client_sites:
        load += CLIENT_LOAD.replace("__SITES__", _tuple(client_sites))
    body = HOOK_BODY.replace("__LOAD__", load) + views
    return _fill(head + body, {**values, "SERVICE": service,
                               "HOOKCLASS": f"{service.title()}Hook"})


def project_files(name: str, services: tuple[str, ...], title: str) -> dict[str, str]:
    """Every file of the project, by its path relative to the project directory."""
    short = name.split("_", 2)[2]
    values = {"NAME": name, "SHORT": short, "SCHEMA": schema_name(name), "TITLE": title,
              "CLASS": "".join(part.title() for part in short.split("_")),
              "VERSION": VERSION, "LETTER": title[:1].upper() or "P"}
    python_services = [s for s in PYTHON_SERVICES if s in services]
    sites = [s for s in ("admin", "mobile", "desktop") if s in services]
    files: dict[str, str] = {
        "pyproject.toml": PYPROJECT,
        "setup.cfg": _fill(SETUP_CFG, values),
        "MANIFEST.in": _fill(MANIFEST_IN, values),
        "README.md": _fill(README, {**values, "SERVICES": ", ".join(services), "STORAGE":
                                    _fill(README_STORAGE, values) if "storage" in services
                                    else ""}),
    }
    pkg = name
    files[f"{pkg}/__init__.py"] = INIT_HEAD.replace("__TITLE__", title) + "".join(
        _fill(INIT_HOOK, {"SERVICE": s, "HOOKCLASS": f"{s.title()}Hook"})
        for s in python_services)
    manifest: dict = {
        "plugin": {"title": title, "packageName": name, "version": VERSION},
        "requiresServices": list(services),
        "requiresPlugins": [],
    }
    for service in services:
        manifest[service] = {}
    if "admin" in services:
        manifest["admin"] = {"title": title, "priority": 100}
    for site in ("mobile", "desktop"):
        if site in services:
            manifest[site] = {"title": title, "icon": "static/icon.svg", "priority": 100}
    files[f"{pkg}/{MANIFEST}"] = json.dumps(manifest, indent=4) + "\n"
    if python_services:
        files[f"{pkg}/_private/__init__.py"] = ""
    for service in python_services:
        files[f"{pkg}/_private/{service}/__init__.py"] = ""
        files[f"{pkg}/_private/{service}/hook.py"] = _hook_module(service, services, values)
    if "storage" in services:
        files[f"{pkg}/_private/storage.py"] = _fill(STORAGE, values)
        files[f"{pkg}/_private/migrations/versions/0001_{short}_item.py"] = _fill(MIGRATION,
                                                                                 values)
    for site in sites:
        extra = ('<p id="__NAME__-count">Items in __SCHEMA__.__SHORT___item: {{ count }}</p>\n'
                 if site == "admin" and "storage" in services else "")
        files[f"{pkg}/templates/{name}/{site}.html"] = _fill(
            PAGE.replace("__EXTRA__", extra), {**values, "SITE": site})
    if sites:
        files[f"{pkg}/static/icon.svg"] = _fill(ICON, values)
    test = _fill(TEST_HEAD, {**values, "SERVICES": ", ".join(f'"{s}"' for s in services),
                             "IMPORTLIB": "import importlib\n" if "storage" in services
                             else ""})
    if "storage" in services:
        test += _fill(TEST_STORAGE, values)
    if sites:
        test += _fill(TEST_SITES, {**values, "SITES": _tuple(sites)})
    files[f"tests/test_{short}.py"] = test
    return files


def new_project(name: str, services: tuple[str, ...], directory: Path | None = None,
                title: str | None = None) -> Path:
    """Write the project of plugin ``name`` in ``directory`` (default ``./name``),
    which must not exist or be empty; returns the directory."""
    check_name(name)
    services = parse_services(",".join(services))
    target = (directory or Path(name)).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not empty; choose another "
                            "--dir or remove it")
    title = (title or name.split("_", 2)[2].replace("_", " ").title()).strip()
    if not title:
        raise ScaffoldError("--title is empty")
    if any(c in TITLE_REFUSED or not c.isprintable() for c in title):
        raise ScaffoldError(f"--title {title!r}: use letters, digits, spaces and "
                            f"punctuation other than {' '.join(sorted(TITLE_REFUSED))}")
    files = project_files(name, services, title)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target
