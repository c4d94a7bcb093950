"""Typed plugin settings: declared in the manifest, kept in the plugin's schema."""

import pytest
import sqlalchemy

from peek.plugin_api import PluginApiError
from peek.plugin_system.settings import SettingError
from tests.plugin_factory import make_plugin, manager_for

SETTINGS = {
    "greeting": {"type": "string", "default": "hi", "title": "Greeting"},
    "retries": {"type": "int", "default": 3},
    "verbose": {"type": "bool"},
    "api_key": {"type": "secret"},
}


def manifest(name, services=("server", "storage"), settings=SETTINGS):
    return {"plugin": {"title": "T", "packageName": name, "version": "1.0.0"},
            "requiresServices": list(services), "settings": settings}


def test_settings_have_defaults_keep_their_type_and_survive_a_restart(home, plugin_root, engine):
    make_plugin(plugin_root, "peek_plugin_tset", manifest=manifest("peek_plugin_tset"))
    manager = manager_for(home, ["peek_plugin_tset"], engine=engine)
    settings = manager.records["peek_plugin_tset"].platform.settings
    assert settings.all() == {"greeting": "hi", "retries": 3, "verbose": False, "api_key": ""}

    settings.set("greeting", "hello")
    settings.set("retries", 7)
    settings.set("verbose", True)
    settings.set("api_key", "s3cret")
    manager.stop_all()

    again = manager_for(home, ["peek_plugin_tset"], engine=engine)
    settings = again.records["peek_plugin_tset"].platform.settings
    assert settings.get("retries") == 7 and settings.get("verbose") is True
    assert settings.all() == {"greeting": "hello", "retries": 7, "verbose": True,
                              "api_key": "s3cret"}
    settings.reset("retries")
    assert settings.get("retries") == 3
    with engine.connect() as conn:  # stored in the plugin's own schema
        names = conn.execute(sqlalchemy.text(
            "SELECT name FROM pl_tset.plugin_setting ORDER BY name")).scalars().all()
    assert names == ["api_key", "greeting", "verbose"]
    again.stop_all()


def test_wrong_values_and_unknown_names_are_refused_and_change_nothing(home, plugin_root, engine):
    make_plugin(plugin_root, "peek_plugin_tset", manifest=manifest("peek_plugin_tset"))
    manager = manager_for(home, ["peek_plugin_tset"], engine=engine)
    settings = manager.records["peek_plugin_tset"].platform.settings
    settings.set("retries", 5)
    with pytest.raises(SettingError, match="'retries' is an integer, not \"5\""):
        settings.set("retries", "5")
    with pytest.raises(SettingError, match="'verbose' is true or false, not 1"):
        settings.set("verbose", 1)
    with pytest.raises(SettingError, match="declares no setting 'colour'.*greeting"):
        settings.get("colour")
    assert settings.get("retries") == 5
    manager.stop_all()


def test_a_bad_declaration_fails_only_that_plugin_naming_the_field(home, plugin_root):
    make_plugin(plugin_root, "peek_plugin_tbad", manifest=manifest(
        "peek_plugin_tbad", settings={"retries": {"type": "int", "default": "three"}}))
    make_plugin(plugin_root, "peek_plugin_tnostore", manifest=manifest(
        "peek_plugin_tnostore", services=["server"]))
    make_plugin(plugin_root, "peek_plugin_tgood")
    manager = manager_for(home, ["peek_plugin_tbad", "peek_plugin_tnostore", "peek_plugin_tgood"])
    bad = manager.records["peek_plugin_tbad"]
    assert bad.state == "failed"
    assert "plugin_package.json: field 'settings.retries'.default must be an integer" in bad.error
    nostore = manager.records["peek_plugin_tnostore"]
    assert nostore.state == "failed" and "'settings' needs 'storage'" in nostore.error
    assert manager.records["peek_plugin_tgood"].state == "started"
    manager.stop_all()


def test_services_without_a_database_say_where_settings_are_read(home, plugin_root):
    services = ["server", "storage", "client"]
    make_plugin(plugin_root, "peek_plugin_tset", services=services,
                manifest=manifest("peek_plugin_tset", services=services))
    manager = manager_for(home, ["peek_plugin_tset"], service="client")
    with pytest.raises(PluginApiError, match="no access to; read them from the server"):
        manager.records["peek_plugin_tset"].platform.settings
    manager.stop_all()
