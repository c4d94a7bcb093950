"""Config files: created, completed without clobbering, and refused when wrong."""

import json

import pytest

from peek.config import ConfigError, load_config
from tests.conftest import peek_cli, write_config


def test_first_run_creates_the_file_with_every_default(home):
    config = load_config("server")
    saved = json.loads(config.path.read_text())
    assert config.path == home / "peek-server.home" / "config.json"
    assert saved["plugin"]["enabled"] == ["peek_plugin_noop"]  # the bundled plugins
    assert saved["logging"]["level"] == "INFO"
    assert saved["http"]["port"] == 8010 and saved["server"]["port"] == 8011
    assert saved["frontend"]["customisationsDir"] == str(config.home / "customisations")
    assert len(saved["server"]["secret"]) >= 32
    # Absent means embedded PostgreSQL / LocalCluster: not written.
    assert "connectUrl" not in saved.get("sqlalchemy", {})
    assert "schedulerAddress" not in saved.get("dask", {})


def test_ports_default_per_service(home):
    assert load_config("client").get("http.port") == 8000
    assert load_config("agent").get("http.port") == 8012


def test_missing_keys_are_filled_and_what_the_admin_wrote_is_kept(home):
    path = write_config(home, "server", {
        "plugin": {"enabled": ["peek_plugin_noop"]},
        "sqlalchemy": {"connectUrl": "postgresql://peek:pw@db.example/peek"},
        "logging": {"level": "DEBUG"},
        "myOwnNotes": {"keep": "me"},
    })
    load_config("server")
    saved = json.loads(path.read_text())
    assert saved["plugin"]["enabled"] == ["peek_plugin_noop"]
    assert saved["sqlalchemy"]["connectUrl"] == "postgresql://peek:pw@db.example/peek"
    assert saved["logging"]["level"] == "DEBUG"
    assert saved["myOwnNotes"] == {"keep": "me"}
    assert saved["logging"]["rotateSizeMb"] == 20
    assert saved["http"]["port"] == 8010
    # Loading again changes nothing and keeps the generated secret.
    before = path.read_text()
    load_config("server")
    assert path.read_text() == before


def test_client_and_agent_share_the_servers_secret(home):
    server = load_config("server")
    assert load_config("client").get("server.secret") == server.get("server.secret")
    assert load_config("agent").get("server.secret") == server.get("server.secret")


def test_invalid_json_names_the_file_and_line_and_is_left_untouched(home):
    path = write_config(home, "server", {})
    path.write_text('{\n  "plugin": {"enabled": []},\n  "logging": {"level": "INFO",}\n}\n')
    before = path.read_text()
    with pytest.raises(ConfigError) as error:
        load_config("server")
    message = str(error.value)
    assert str(path) in message and "line 3" in message and "not valid JSON" in message
    assert path.read_text() == before


@pytest.mark.parametrize("data, key, expected", [
    ({"http": {"port": "8010"}}, "http.port", "must be an integer"),
    ({"plugin": {"enabled": "peek_plugin_noop"}}, "plugin.enabled", "must be a list"),
    ({"plugin": {"enabled": [1, 2]}}, "plugin.enabled", "list of strings"),
    ({"logging": {"level": "LOUD"}}, "logging.level", "must be one of DEBUG"),
    ({"logging": 5}, "logging", "must be an object"),
    ({"http": {"port": True}}, "http.port", "must be an integer"),
])
def test_wrong_types_name_the_key_and_what_is_expected(home, data, key, expected):
    path = write_config(home, "server", data)
    before = path.read_text()
    with pytest.raises(ConfigError) as error:
        load_config("server")
    assert str(path) in str(error.value)
    assert f"'{key}'" in str(error.value) and expected in str(error.value)
    assert path.read_text() == before


def test_a_service_with_a_bad_config_stops_with_the_message(home):
    path = write_config(home, "client", {"http": {"port": "eighty"}})
    result = peek_cli("client", home=home, timeout=60)
    assert result.returncode != 0
    assert "key 'http.port' must be an integer" in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(path.read_text()) == {"http": {"port": "eighty"}}
