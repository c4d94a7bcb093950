"""The app factory: each service's sites, pages and /healthz (Flask test client)."""

import sqlalchemy

from peek import __version__
from tests.admin_session import admin_client
from tests.conftest import wait_for


def test_server_sites_migrate_and_report_health(configured, start_service, engine):
    server = start_service("server", listen=False)
    assert set(server.apps) == {"admin", "server"}

    with engine.connect() as conn:
        tables = conn.execute(sqlalchemy.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'peek'"
        )).scalars().all()
    assert set(tables) == {"platform_setting", "vortex_action", "admin_user", "alembic_version"}

    assert server.runtime.dask.wait(60)
    # The worker restarts once to load this server's plugins.
    wait_for(lambda: server.runtime.dask.workers(), timeout=60, what="a Dask worker")
    for site in ("admin", "server"):
        response = server.apps[site].test_client().get("/healthz")
        assert response.status_code == 200
        body = response.get_json()
        assert body["service"] == "server" and body["version"] == __version__
        assert body["status"] == "ok"
        assert body["connections"]["database"]["ok"] is True
        assert len(body["connections"]["workers"]) >= 1
        assert body["connections"]["clients"] == [] and body["connections"]["agents"] == []


def test_admin_dashboard_page(configured, start_service):
    server = start_service("server", listen=False)
    page = admin_client(server.apps["admin"]).get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in html and "htmx.min.js" in html
    assert 'id="services"' in html
    # The admin pages are not on the service-to-service port.
    assert server.apps["server"].test_client().get("/").status_code == 404
    assert server.apps["admin"].test_client().get("/static/vendor/htmx.min.js").status_code == 200


def test_client_serves_mobile_and_desktop_and_reports_no_server(configured, start_service):
    client = start_service("client", listen=False)
    app = client.apps["mobile"].test_client()
    assert "Peek" in app.get("/").get_data(as_text=True)
    desktop = app.get("/desktop/")
    assert desktop.status_code == 200 and "Peek Desktop" in desktop.get_data(as_text=True)
    health = app.get("/healthz")
    # No server runs in this test: degraded, and it says why.
    assert health.status_code == 503
    body = health.get_json()
    assert body["service"] == "client" and body["status"] == "degraded"
    assert body["connections"]["server"]["state"] == "connecting"


def test_agent_site_has_only_health(configured, start_service):
    agent = start_service("agent", listen=False)
    app = agent.apps["agent"].test_client()
    assert app.get("/healthz").get_json()["service"] == "agent"
    assert app.get("/").status_code == 404
