"""peek plugin install / uninstall / enable / disable / rollback / migration,
with wheels, sdists and zips built by the tests, and packages that must be
refused without changing anything."""

import json
import os
import zipfile

import pytest
import sqlalchemy

from peek.config import load_config
from peek.plugin_system.operations import (PluginOperationError, disable_plugin,
                                           enable_plugin, generate_migration,
                                           install_plugin)
from tests.conftest import peek_cli
from tests.plugin_factory import (build_sdist, build_source_zip, build_wheel, forget_modules,
                                  migration, write_plugin_source)

NAME = "peek_plugin_tinst"
V1 = {"0001_thing.py": migration(
    "0001", None, 'op.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("thing")')}
V2 = {**V1, "0002_extra.py": migration(
    "0002", "0001", 'op.create_table("extra", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("extra")')}


def cli_ok(*args, home):
    result = peek_cli(*args, home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout


def listed(home):
    return {p["name"]: p for p in json.loads(cli_ok("plugin", "list", "--json", home=home))}


def snapshot(home):
    """Every file, link and config under PEEK_HOME (logs aside)."""
    state = {}
    for path in sorted(home.rglob("*")):
        rel = str(path.relative_to(home))
        if path.suffix == ".log" or path.name == ".lock" or "pgdata" in path.parts:
            continue
        state[rel] = (os.readlink(path) if path.is_symlink() else
                      path.read_bytes() if path.is_file() else "dir")
    return state


def package(tmp_path, version, migrations=None, kind="wheel", **options):
    src = tmp_path / f"src-{version}-{kind}"
    out = tmp_path / "dist"
    out.mkdir(parents=True, exist_ok=True)
    pkg = write_plugin_source(src, options.pop("name", NAME), version,
                              services=options.pop("services", ("server", "storage")),
                              migrations=migrations, **options)
    if kind == "wheel":
        return build_wheel(pkg, version, out)
    return build_sdist(pkg, version, out) if kind == "sdist" else build_source_zip(pkg, out)


def tables(engine, schema="pl_tinst"):
    return sorted(sqlalchemy.inspect(engine).get_table_names(schema=schema))


def start_and_stop(start_service):
    forget_modules()
    server = start_service("server", listen=False)
    state = {r["name"]: r for r in server.runtime.plugin_states()}[NAME]
    server.stop()
    return state


def test_install_upgrade_rollback_and_uninstall_a_wheel(
        tmp_path, configured, engine, start_service):
    home = configured
    out = cli_ok("plugin", "install", str(package(tmp_path, "1.0.0", V1)), home=home)
    assert f"Installed and enabled {NAME} 1.0.0" in out
    assert listed(home)[NAME]["version"] == "1.0.0" and listed(home)[NAME]["enabled"]
    assert start_and_stop(start_service)["state"] == "started"
    assert tables(engine) == ["alembic_version", "plugin_setting", "thing"]
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO pl_tinst.thing (id) VALUES (42)"))

    out = cli_ok("plugin", "install", str(package(tmp_path, "2.0.0", V2)), home=home)
    assert f"Upgraded {NAME} from 1.0.0 to 2.0.0" in out
    assert start_and_stop(start_service)["version"] == "2.0.0"
    assert "extra" in tables(engine)

    out = cli_ok("plugin", "rollback", NAME, "--yes", home=home)
    assert f"Rolled {NAME} back from 2.0.0 to 1.0.0" in out
    assert tables(engine) == ["alembic_version", "plugin_setting", "thing"]
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT id FROM pl_tinst.thing")).scalar() == 42
    state = start_and_stop(start_service)
    assert state["version"] == "1.0.0" and state["state"] == "started"
    refused = peek_cli("plugin", "rollback", NAME, "--yes", home=home)
    assert refused.returncode == 1 and "no earlier version to roll back to" in refused.stderr

    out = cli_ok("plugin", "uninstall", NAME, home=home)
    assert "its schema and data were kept" in out
    assert NAME not in listed(home)
    assert NAME not in load_config("server", home).get("plugin.enabled")
    assert "thing" in tables(engine)


def test_source_zip_and_sdist_install_roll_back_and_uninstall_dropping_data(
        tmp_path, configured, engine):
    home = configured
    cli_ok("plugin", "install", str(package(tmp_path, "1.0.0", V1, kind="zip")), home=home)
    assert listed(home)[NAME]["version"] == "1.0.0"
    cli_ok("plugin", "install", str(package(tmp_path, "1.1.0", V2, kind="sdist")), home=home)
    assert listed(home)[NAME]["version"] == "1.1.0"
    cli_ok("db", "upgrade", home=home)
    assert tables(engine) == ["alembic_version", "extra", "plugin_setting", "thing"]
    cli_ok("plugin", "rollback", NAME, "--yes", home=home)
    assert listed(home)[NAME]["version"] == "1.0.0"
    assert tables(engine) == ["alembic_version", "plugin_setting", "thing"]

    out = cli_ok("plugin", "uninstall", NAME, "--drop-data", "--yes", home=home)
    assert "its data was dropped" in out
    assert "pl_tinst" not in sqlalchemy.inspect(engine).get_schema_names()
    assert NAME not in listed(home)
    assert not (home / "peek-plugins" / "store" / NAME).exists()


def bomb(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{NAME}/plugin_package.json", "{}")
        with archive.open(f"{NAME}/zeros.bin", "w", force_zip64=True) as member:
            for _ in range(260):
                member.write(bytes(2**20))
    return path


def evil_zip(tmp_path, member, symlink=False):
    path = tmp_path / "evil.zip"
    good = write_plugin_source(tmp_path / "evil-src", NAME, "1.0.0")
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, data in [(str(p.relative_to(good.parent)), p.read_bytes())
                              for p in good.rglob("*") if p.is_file()]:
            archive.writestr(arcname, data)
        info = zipfile.ZipInfo(member)
        if symlink:
            info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd" if symlink else "pwned")
    return path


def text_file(path):
    path.write_text("not a plugin")
    return path


REFUSED = {
    "bad manifest field": (lambda t: package(t, "1.0.0", manifest_extra={
        "requiresServices": ["server", "teleport"]}), "field 'requiresServices' has unknown"),
    "import error": (lambda t: package(t, "1.0.0", init_code="import no_such_module_here"),
                     "failed its test import: ModuleNotFoundError: No module named "
                     "'no_such_module_here'"),
    "missing plugin": (lambda t: package(t, "1.0.0", requires=("peek_plugin_tabsent",)),
                       "requires plugins that are not installed: peek_plugin_tabsent"),
    "missing python package": (lambda t: build_wheel(write_plugin_source(
        t / "deps", NAME, "1.0.0"), "1.0.0", t, requires_dist=["no-such-dist-xyz>=1"]),
        "no-such-dist-xyz>=1 (not installed)"),
    "bundled name": (lambda t: package(t, "9.0.0", name="peek_plugin_noop"),
                     "peek_plugin_noop is bundled with Peek"),
    "path traversal": (lambda t: evil_zip(t, "../../outside.txt"), "outside.txt"),
    "absolute path": (lambda t: evil_zip(t, "/tmp/peek-absolute.txt"), "peek-absolute.txt"),
    "symlink": (lambda t: evil_zip(t, f"{NAME}/link", symlink=True), "link"),
    "zip bomb": (bomb, "bomb.zip"),
    "not a package": (lambda t: text_file(t / "notes.txt"), "notes.txt"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_package_changes_nothing(case, tmp_path, home):
    cli_ok("plugin", "install", str(package(tmp_path / "ok", "1.0.0",
                                            name="peek_plugin_tkeep")), home=home)
    before = snapshot(home)
    build, message = REFUSED[case]
    archive = build(tmp_path)
    result = peek_cli("plugin", "install", str(archive), home=home)
    assert result.returncode == 1, result.stdout
    assert "Error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(home) == before
    assert not (tmp_path.parent / "outside.txt").exists()
    assert listed(home)["peek_plugin_tkeep"]["enabled"]


def test_a_hook_missing_for_a_listed_service_is_refused(tmp_path, home):
    src = write_plugin_source(tmp_path / "src", NAME, "1.0.0", services=("server",),
                              manifest_extra={"requiresServices": ["server", "client"]})
    with pytest.raises(PluginOperationError, match="no client_entry_hook"):
        install_plugin(build_wheel(src, "1.0.0", tmp_path), home)


def test_versions_only_move_forward_through_install(tmp_path, home):
    install_plugin(package(tmp_path / "a", "2.0.0"), home)
    with pytest.raises(PluginOperationError, match="2.0.0 is already installed"):
        install_plugin(package(tmp_path / "b", "2.0.0"), home)
    with pytest.raises(PluginOperationError, match="newer than 1.0.0; use 'peek plugin rollback"):
        install_plugin(package(tmp_path / "c", "1.0.0"), home)
    wheel = build_wheel(write_plugin_source(tmp_path / "d", NAME, "3.0.0"), "3.1.0", tmp_path)
    with pytest.raises(PluginOperationError, match="says version 3.1.0 but its "
                                                   "plugin_package.json says 3.0.0"):
        install_plugin(wheel, home)


def test_enable_and_disable_respect_requirements(tmp_path, home):
    install_plugin(package(tmp_path / "b", "1.0.0", name="peek_plugin_tbase"), home)
    install_plugin(package(tmp_path / "a", "1.0.0", name="peek_plugin_tuser",
                           requires=("peek_plugin_tbase",)), home)
    with pytest.raises(PluginOperationError, match="peek_plugin_tuser require peek_plugin_tbase"):
        disable_plugin("peek_plugin_tbase", home)
    refused = peek_cli("plugin", "uninstall", "peek_plugin_tbase", home=home)
    assert "peek_plugin_tuser require peek_plugin_tbase" in refused.stderr
    disable_plugin("peek_plugin_tuser", home)
    disable_plugin("peek_plugin_tbase", home)
    with pytest.raises(PluginOperationError, match="requires peek_plugin_tbase; enable it first"):
        enable_plugin("peek_plugin_tuser", home)
    enable_plugin("peek_plugin_tbase", home)
    enable_plugin("peek_plugin_tuser", home)
    enabled = load_config("server", home).get("plugin.enabled")
    assert {"peek_plugin_tbase", "peek_plugin_tuser"} <= set(enabled)
    refused = peek_cli("plugin", "uninstall", "peek_plugin_noop", home=home)
    assert "bundled with Peek; it cannot be uninstalled, only disabled" in refused.stderr


MODELS = '''
from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(schema="pl_tgen")


class Gadget(Base):
    __tablename__ = "gadget"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(40))
'''


def test_migration_autogenerates_a_revision_from_the_models(configured, engine, plugin_root):
    package_dir = write_plugin_source(plugin_root, "peek_plugin_tgen",
                                      services=("server", "storage"))
    (package_dir / "_private").mkdir()
    (package_dir / "_private" / "__init__.py").write_text("")
    (package_dir / "_private" / "storage.py").write_text(MODELS)
    dist = plugin_root / "peek_plugin_tgen-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: peek_plugin_tgen\nVersion: 1.0.0\n")
    (dist / "entry_points.txt").write_text("[peek.plugins]\npeek_plugin_tgen = peek_plugin_tgen\n")

    path = generate_migration("peek_plugin_tgen", "add gadget", configured)
    assert path.parent == package_dir / "_private" / "migrations" / "versions"
    text = path.read_text()
    assert "add gadget" in text and "op.create_table('gadget'" in text
    assert "plugin_setting" not in text and "alembic_version" not in text
    assert generate_migration("peek_plugin_tgen", "nothing new", configured) is None
    assert "gadget" in tables(engine, "pl_tgen")  # the second call applied the first revision
