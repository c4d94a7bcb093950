"""Plugins built by the tests: order, cycles, failures in every step, schemas,
migrations, APIs between plugins, blueprints."""

import logging
import sys
from importlib.metadata import entry_points

import pytest
import sqlalchemy

from peek.plugin_api import PluginApiError
from tests.plugin_factory import make_plugin, manager_for, migration

#: The plugins Peek bundles (some, like peek_plugin_tutorial, installed but disabled).
BUNDLED = {ep.name for ep in entry_points(group="peek.plugins")
           if ep.value.startswith("peek.plugins.")}


def events():
    return sys.modules["peek_test_events"].EVENTS


def states(manager):
    """The states of this module's test plugins (peek_plugin_t*), not the bundled ones."""
    return {r["name"]: r["state"] for r in manager.states()
            if r["name"].startswith("peek_plugin_t") and r["name"] not in BUNDLED}


def test_plugins_start_after_what_they_require_and_stop_in_reverse(home, plugin_root):
    make_plugin(plugin_root, "peek_plugin_ta", requires=["peek_plugin_tb"])
    make_plugin(plugin_root, "peek_plugin_tb", requires=["peek_plugin_tc"])
    make_plugin(plugin_root, "peek_plugin_tc")
    manager = manager_for(home, ["peek_plugin_ta", "peek_plugin_tb", "peek_plugin_tc"])
    assert states(manager) == {n: "started" for n in
                               ("peek_plugin_ta", "peek_plugin_tb", "peek_plugin_tc")}
    assert events() == ["peek_plugin_tc:load", "peek_plugin_tb:load", "peek_plugin_ta:load",
                        "peek_plugin_tc:start", "peek_plugin_tb:start",
                        "peek_plugin_ta:start"]
    events().clear()
    manager.stop_all()
    assert events() == ["peek_plugin_ta:stop", "peek_plugin_tb:stop", "peek_plugin_tc:stop",
                        "peek_plugin_ta:unload", "peek_plugin_tb:unload",
                        "peek_plugin_tc:unload"]


def test_a_cycle_and_a_missing_requirement_are_reported_and_not_started(home, plugin_root):
    make_plugin(plugin_root, "peek_plugin_tx", requires=["peek_plugin_ty"])
    make_plugin(plugin_root, "peek_plugin_ty", requires=["peek_plugin_tx"])
    make_plugin(plugin_root, "peek_plugin_tz", requires=["peek_plugin_tmissing"])
    make_plugin(plugin_root, "peek_plugin_tw", requires=["peek_plugin_tz"])
    make_plugin(plugin_root, "peek_plugin_tok")
    manager = manager_for(home, ["peek_plugin_tx", "peek_plugin_ty", "peek_plugin_tz",
                                 "peek_plugin_tw", "peek_plugin_tok"])
    records = {r["name"]: r for r in manager.states()}
    assert states(manager) == {"peek_plugin_tx": "not started", "peek_plugin_ty": "not started",
                               "peek_plugin_tz": "not started", "peek_plugin_tw": "not started",
                               "peek_plugin_tok": "started"}
    assert "requirement cycle" in records["peek_plugin_tx"]["error"]
    assert "peek_plugin_tmissing, which is not installed" in records["peek_plugin_tz"]["error"]
    assert "requires peek_plugin_tz" in records["peek_plugin_tw"]["error"]
    assert events() == ["peek_plugin_tok:load", "peek_plugin_tok:start"]


@pytest.mark.parametrize("step", ["import", "load", "start"])
def test_a_plugin_failing_to_come_up_is_isolated(home, plugin_root, step, caplog):
    make_plugin(plugin_root, "peek_plugin_tbad", fail=[step])
    make_plugin(plugin_root, "peek_plugin_tneeds", requires=["peek_plugin_tbad"])
    make_plugin(plugin_root, "peek_plugin_tgood")
    manager = manager_for(home, ["peek_plugin_tbad", "peek_plugin_tneeds", "peek_plugin_tgood"])
    records = {r["name"]: r for r in manager.states()}
    assert records["peek_plugin_tbad"]["state"] == "failed"
    assert records["peek_plugin_tbad"]["traceback"].startswith("Traceback")
    assert records["peek_plugin_tneeds"]["state"] == "not started"
    assert "peek_plugin_tbad, which did not start" in records["peek_plugin_tneeds"]["error"]
    assert records["peek_plugin_tgood"]["state"] == "started"
    assert any("Plugin peek_plugin_tbad failed on the server service" in r.getMessage()
               for r in caplog.records)
    manager.stop_all()
    assert "peek_plugin_tgood:unload" in events()


@pytest.mark.parametrize("step", ["stop", "unload"])
def test_a_plugin_failing_to_stop_does_not_stop_the_others_stopping(home, plugin_root, step):
    make_plugin(plugin_root, "peek_plugin_tbad", fail=[step])
    make_plugin(plugin_root, "peek_plugin_tgood")
    manager = manager_for(home, ["peek_plugin_tbad", "peek_plugin_tgood"])
    manager.stop_all()
    record = {r["name"]: r for r in manager.states()}["peek_plugin_tbad"]
    assert record["state"] == "failed" and f"{step} failed" in record["error"]
    assert "peek_plugin_tgood:unload" in events()


def test_a_manifest_with_a_wrong_field_names_file_and_field(home, plugin_root):
    make_plugin(plugin_root, "peek_plugin_tman", manifest={
        "plugin": {"title": "T", "packageName": "peek_plugin_tman", "version": "one"},
        "requiresServices": ["server"]})
    make_plugin(plugin_root, "peek_plugin_tgood")
    manager = manager_for(home, ["peek_plugin_tman", "peek_plugin_tgood"])
    record = {r["name"]: r for r in manager.states()}["peek_plugin_tman"]
    assert record["state"] == "failed"
    assert "plugin_package.json" in record["error"]
    assert "field 'plugin.version' 'one' is not a version" in record["error"]
    assert states(manager)["peek_plugin_tgood"] == "started"


def test_disabled_plugins_and_other_services(home, plugin_root):
    make_plugin(plugin_root, "peek_plugin_toff")
    make_plugin(plugin_root, "peek_plugin_tsrv", services=["server"])
    manager = manager_for(home, ["peek_plugin_tsrv"], service="client")
    assert states(manager) == {"peek_plugin_toff": "disabled",
                               "peek_plugin_tsrv": "not started"}
    # Neither plugin's code was even imported.
    assert "peek_test_events" not in sys.modules


def test_plugins_use_each_others_api(home, plugin_root):
    make_plugin(plugin_root, "peek_plugin_tprovider", extra='''
        @property
        def public_api(self):
            return self

        def greet(self, who):
            return f"hello {who}"

        def ask_user_back(self):
            return self.platform.get_other_plugin_api("peek_plugin_tuser").name()
    ''')
    make_plugin(plugin_root, "peek_plugin_tuser", requires=["peek_plugin_tprovider"],
                extra_start='''
        self.greeting = self.platform.get_other_plugin_api("peek_plugin_tprovider").greet("user")
    ''', extra='''
        @property
        def public_api(self):
            return self

        def name(self):
            return "tuser"
    ''')
    make_plugin(plugin_root, "peek_plugin_tlonely", extra_start='''
        self.platform.get_other_plugin_api("peek_plugin_tnowhere")
    ''')
    manager = manager_for(home, ["peek_plugin_tprovider", "peek_plugin_tuser",
                                 "peek_plugin_tlonely"])
    user = manager.records["peek_plugin_tuser"].hook
    assert user.greeting == "hello user"
    assert manager.records["peek_plugin_tprovider"].hook.ask_user_back() == "tuser"
    lonely = manager.records["peek_plugin_tlonely"]
    assert lonely.state == "failed"
    assert ("peek_plugin_tlonely asked for the API of peek_plugin_tnowhere, which is not "
            "installed on the server service") in lonely.error
    manager.stop_all()
    with pytest.raises(PluginApiError, match="which is stopped on the server service"):
        manager.api_of("peek_plugin_tprovider", asked_by="test")


def test_each_start_brings_a_schema_to_what_its_plugin_ships_and_only_then_migrates(
        home, plugin_root, engine, caplog):
    package = make_plugin(plugin_root, "peek_plugin_tstore", services=["server", "storage"],
                          migrations={"0001_a.py": migration(
                              "0001", None, 'op.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))')})
    migrated = "Schema pl_tstore is at revision"
    caplog.set_level(logging.INFO, logger="peek.plugin_system.storage")

    def start() -> list[str]:
        caplog.clear()
        manager = manager_for(home, ["peek_plugin_tstore"], engine=engine)
        assert manager.records["peek_plugin_tstore"].state == "started"
        manager.stop_all()
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith(migrated)]

    assert start() == [f"{migrated} 0001"]
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO pl_tstore.thing (id) VALUES (7)"))
    assert start() == []  # at its revision: nothing runs

    with engine.begin() as conn:  # the platform's settings table gone (say, by hand)
        conn.execute(sqlalchemy.text("DROP TABLE pl_tstore.plugin_setting"))
    start()
    assert "plugin_setting" in sqlalchemy.inspect(engine).get_table_names(schema="pl_tstore")

    (package / "_private" / "migrations" / "versions" / "0002_b.py").write_text(migration(
        "0002", "0001", 'op.add_column("thing", sa.Column("name", sa.String))'))
    assert start() == [f"{migrated} 0002"]
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(
            "SELECT id, name FROM pl_tstore.thing")).all() == [(7, None)]


def test_each_plugin_gets_its_schema_and_a_broken_migration_fails_only_it(
        home, plugin_root, engine):
    make_plugin(plugin_root, "peek_plugin_tstore", services=["server", "storage"], migrations={
        "0001_a.py": migration("0001", None, 'op.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))'),
        "0002_b.py": migration("0002", "0001", 'op.add_column("thing", sa.Column("name", sa.String))'),
    })
    make_plugin(plugin_root, "peek_core_tbroken", services=["server", "storage"], migrations={
        "0001_a.py": migration("0001", None, 'op.create_table("half", sa.Column("id", sa.Integer, primary_key=True))\nop.execute("SELECT * FROM no_such_table")'),
    })
    manager = manager_for(home, ["peek_plugin_tstore", "peek_core_tbroken"], engine=engine)
    assert manager.records["peek_plugin_tstore"].state == "started"
    broken = manager.records["peek_core_tbroken"]
    assert broken.state == "failed" and "no_such_table" in broken.error
    assert broken.error.startswith("migration failed")
    inspector = sqlalchemy.inspect(engine)
    assert sorted(inspector.get_table_names(schema="pl_tstore")) == [
        "alembic_version", "plugin_setting", "thing"]
    assert [c["name"] for c in inspector.get_columns("thing", schema="pl_tstore")] == ["id", "name"]
    # The failed migration rolled back whole: not even its schema was left behind.
    assert "core_tbroken" not in inspector.get_schema_names()
    with engine.connect() as conn:
        version = conn.execute(sqlalchemy.text("SELECT version_num FROM pl_tstore.alembic_version")).scalar()
    assert version == "0002"
    manager.stop_all()
