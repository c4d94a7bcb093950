"""peek doctor says what is wrong and how to fix it."""

import socket

from tests.conftest import peek_cli, write_config


def test_all_ok_on_a_good_setup(configured):
    result = peek_cli("doctor", home=configured)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert "ok   python: Python 3." in out
    assert "ok   package flask:" in out
    assert "ok   database:" in out and "reachable" in out
    assert "ok   front-end assets:" in out
    assert "0 to fix." in out


def test_reports_a_bad_config_a_busy_port_and_an_unreachable_database(home, site_ports):
    write_config(home, "client", {"http": {"port": "8000"}})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", site_ports["admin"]))
        busy.listen()
        write_config(home, "server", {
            "http": {"port": site_ports["admin"]},
            "sqlalchemy": {"connectUrl": f"postgresql://peek@127.0.0.1:{site_ports['pg']}/x"}})
        result = peek_cli("doctor", home=home)
    out = result.stdout
    assert result.returncode == 1
    assert "FAIL config client:" in out and "key 'http.port' must be an integer" in out
    assert f"FAIL port {site_ports['admin']} (server admin site): in use by another program" in out
    assert "fix: stop that program or change http.port in" in out
    assert "FAIL database:" in out and "check sqlalchemy.connectUrl" in out
    # Doctor only reads: the bad file is untouched and nothing was created.
    assert not (home / "peek-agent.home").exists()


def test_flask_cli_runs_the_same_commands(configured):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PEEK_HOME=str(configured), PEEK_SERVICE="agent")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "doctor"],
                            env=env, capture_output=True, text=True, timeout=120,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 to fix." in result.stdout
