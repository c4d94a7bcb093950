"""peek plugin new and peek plugin build: a scaffolded project passes its own
tests, validates, builds into a wheel and an sdist that peek plugin install
accepts, loads and starts on the server and client, and works installed in
editable mode (in a throwaway environment layered on Peek's)."""

import json
import logging
import subprocess
import sys

import pytest

from peek.plugin_system.manifest import read_manifest
from tests.admin_session import admin_client
from tests.conftest import peek_cli
from tests.plugin_factory import forget_modules
from tests.test_plugin_release import cli_ok, run, throwaway_venv, venv_peek

NAME = "peek_plugin_tscaffold"
ALL = "server,client,agent,worker,storage,admin,mobile,desktop"


def scaffold(tmp_path, services=ALL, name=NAME, *extra):
    project = tmp_path / name
    out = cli_ok("plugin", "new", name, "--services", services, "--dir", project, *extra,
                 home=tmp_path)
    assert f"Wrote the project of {name} in {project}" in out
    return project


def test_new_writes_a_project_whose_own_tests_pass(tmp_path):
    project = scaffold(tmp_path, ALL, NAME, "--title", "Scaffold test")
    package = project / NAME
    manifest = read_manifest(package / "plugin_package.json", expected_name=NAME)
    assert manifest.title == "Scaffold test" and manifest.version == "0.0.1"
    assert manifest.requires_services == tuple(ALL.split(","))
    assert manifest.sections["mobile"]["icon"] == "static/icon.svg"
    for service in ("server", "client", "agent", "worker"):
        assert (package / "_private" / service / "hook.py").is_file()
    assert (package / "_private" / "storage.py").is_file()
    assert [p.name for p in (package / "_private/migrations/versions").iterdir()] == [
        "0001_tscaffold_item.py"]
    for site in ("admin", "mobile", "desktop"):
        page = (package / "templates" / NAME / f"{site}.html").read_text()
        assert page.startswith(f'{{% extends "{site}/layout.html" %}}')
    assert (package / "static" / "icon.svg").is_file()
    setup = (project / "setup.cfg").read_text()
    assert f"peek.plugins =\n    {NAME} = {NAME}" in setup and "version = 0.0.1" in setup
    assert "pip install -e ." in (project / "README.md").read_text()

    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--basetemp", str(tmp_path / "project-tests"), "tests"],
                            cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_a_server_only_project_has_only_what_it_needs(tmp_path):
    project = scaffold(tmp_path, "server", "peek_core_tsmall")
    package = project / "peek_core_tsmall"
    assert sorted(p.name for p in package.iterdir()) == [
        "__init__.py", "_private", "plugin_package.json"]
    assert "client_entry_hook" not in (package / "__init__.py").read_text()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--basetemp", str(tmp_path / "project-tests"), "tests"],
                            cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("args, message", [
    (["peek_example"], "'peek_example' is not a plugin name: it must look like "
                       "peek_plugin_<name> or peek_core_<name>"),
    (["peek_plugin_Bad"], "is not a plugin name"),
    (["peek_plugin_tx", "--services", "server,bogus,nope"],
     "unknown services bogus, nope in --services; known: server, client, agent"),
    (["peek_plugin_tx", "--services", "client,storage"],
     "--services lists 'storage', which needs 'server' too"),
    (["peek_plugin_tx", "--services", " , "], "--services is empty"),
    (["peek_plugin_tx", "--title", 'say "hi"'], "--title 'say \"hi\"': use letters"),
])
def test_bad_names_and_services_are_refused(tmp_path, args, message):
    result = peek_cli("plugin", "new", *args, "--dir", str(tmp_path / "p"), home=tmp_path)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "p").exists()


def test_an_existing_directory_is_refused(tmp_path):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "keep.txt").write_text("mine")
    result = peek_cli("plugin", "new", NAME, "--dir", str(tmp_path / NAME), home=tmp_path)
    assert result.returncode != 0 and "already exists and is not empty" in result.stderr
    assert sorted(p.name for p in (tmp_path / NAME).iterdir()) == ["keep.txt"]


def test_build_errors_are_clear(tmp_path):
    result = peek_cli("plugin", "build", str(tmp_path), home=tmp_path)
    assert result.returncode != 0 and "no setup.cfg or pyproject.toml" in result.stderr
    project = scaffold(tmp_path, "server")
    (project / "setup.cfg").write_text((project / "setup.cfg").read_text()
                                       .replace("[options]", "[options]\nbroken"))
    result = peek_cli("plugin", "build", str(project), home=tmp_path)
    assert result.returncode != 0 and f"building {project} failed" in result.stderr
    assert "broken" in result.stderr  # the build tool's own words


def test_a_built_plugin_installs_loads_and_starts(tmp_path, configured, start_service,
                                                  caplog):
    caplog.set_level(logging.INFO, logger=NAME)
    project = scaffold(tmp_path)
    out = cli_ok("plugin", "build", project, "--out", tmp_path / "dist", home=configured)
    wheel = tmp_path / "dist" / f"{NAME}-0.0.1-py3-none-any.whl"
    sdist = tmp_path / "dist" / f"{NAME}-0.0.1.tar.gz"
    assert out.splitlines() == [f"Built {wheel}", f"Built {sdist}"]
    assert not (project / f"{NAME}.egg-info").exists() and not (project / "build").exists()

    other_home = tmp_path / "other-home"  # the sdist is accepted too
    other_home.mkdir()
    assert f"Installed and enabled {NAME} 0.0.1." in cli_ok("plugin", "install", sdist,
                                                             home=other_home)
    assert f"Installed and enabled {NAME} 0.0.1." in cli_ok("plugin", "install", wheel,
                                                             home=configured)
    forget_modules(("peek_plugin_tscaffold",))
    server = start_service("server", listen=False)
    states = {r["name"]: r for r in server.runtime.plugin_states()}
    assert states[NAME]["state"] == "started", states[NAME]
    page = admin_client(server.apps["admin"]).get(f"/{NAME}/")
    assert page.status_code == 200
    assert "Items in pl_tscaffold.tscaffold_item: 0" in page.get_data(as_text=True)
    client = start_service("client", listen=False)
    assert {r["name"]: r for r in client.runtime.plugin_states()}[NAME]["state"] == "started"
    mobile = client.apps["mobile"].test_client()
    assert "Tscaffold plugin's mobile page" in mobile.get(f"/{NAME}/").get_data(as_text=True)
    desktop = mobile.get(f"/desktop/{NAME}/").get_data(as_text=True)
    assert "Tscaffold plugin's desktop page" in desktop
    assert mobile.get(f"/{NAME}/static/icon.svg").status_code == 200
    logged = [r.getMessage() for r in caplog.records if r.name == NAME]
    assert f"{NAME} started on server" in logged and f"{NAME} loaded on client" in logged


CLIENT_RUN = """
import json
from peek.config import load_config
from peek.plugin_system.manager import PluginManager
manager = PluginManager(load_config("client"))
manager.load_all()
manager.start_all()
print(json.dumps({r["name"]: r["state"] for r in manager.states()}))
manager.stop_all()
"""


def test_an_editable_install_is_found_and_runs_once_enabled(tmp_path, home):
    project = scaffold(tmp_path, "server,client,mobile")
    python = throwaway_venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "--no-index", "--no-deps", "--no-build-isolation",
        "-e", project)
    listed = json.loads(venv_peek(python, "plugin", "list", "--json", home=home).stdout)
    plugin = {p["name"]: p for p in listed}[NAME]
    assert plugin["version"] == "0.0.1" and not plugin["enabled"] and not plugin["error"]
    (home / "peek-client.home").mkdir()
    (home / "peek-client.home" / "config.json").write_text("{}")
    enabled = venv_peek(python, "plugin", "enable", NAME, home=home)
    assert enabled.returncode == 0 and f"Enabled {NAME}." in enabled.stdout, enabled.stderr
    states = json.loads(run(python, "-c", CLIENT_RUN, cwd=tmp_path / "venv",
                            env={"PEEK_HOME": str(home), "PATH": "/usr/bin:/bin"}
                            ).splitlines()[-1])
    assert states[NAME] == "started"
    # The code runs from the project: a change there is what the next start runs.
    assert str(project) in run(python, "-c", f"import {NAME}; print({NAME}.__file__)",
                               cwd=tmp_path / "venv")
    uninstall = venv_peek(python, "plugin", "uninstall", NAME, home=home)
    assert uninstall.returncode != 0 and "installed in Peek's Python environment" \
        in uninstall.stderr
    # Peek's own environment does not see it.
    assert subprocess.run([sys.executable, "-c", f"import {NAME}"], cwd=tmp_path / "venv",
                          capture_output=True).returncode != 0
