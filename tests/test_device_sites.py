"""The mobile and desktop sites in a real browser: the connection indicator,
offline pages and data, and the action outbox delivering exactly once."""

import json
import uuid

import requests

from tests.conftest import REPO, free_port, write_config
from tests.vortex_harness import ServiceRun, count_of, install_tally, tally

FIELD = ".vortex-live .tally[data-name=field]"


def field_count(base: str) -> int:
    selector = json.dumps({"name": "peek_plugin_tally.Tally", "filter": {"name": "field"}})
    reply = requests.get(f"{base}/vortex/api/data", params={"selector": selector}, timeout=10)
    return count_of(reply.json()["tuples"], "field")


def outbox_states(page) -> list[str]:
    return page.eval_on_selector_all("#vortex-outbox li", "items => items.map(i => i.dataset.state)")


def test_a_page_seen_online_reopens_offline_with_its_data_and_actions_taken_offline_apply_once(
        services, site_ports, page_in, screenshot):
    services("server")
    services("client")
    base = f"http://127.0.0.1:{site_ports['mobile']}"
    page = page_in(390, 844, offline_ok=True, allow_http=(422,))  # the refused action
    page.goto(f"{base}/peek_plugin_tally/offline")
    page.wait_for_selector("#vortex-status[data-state=connected]")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=15_000)
    page.reload()  # now through the service worker, which keeps the page and its files
    page.wait_for_selector(f"{FIELD} >> text=field: 0")

    page.click("#add-one")  # online: sent at once
    page.wait_for_selector(f"{FIELD} >> text=field: 1")
    page.wait_for_selector("#vortex-outbox li[data-state=sent]", state="attached")

    page.context.set_offline(True)
    page.wait_for_selector("#vortex-status[data-state=offline]")
    page.reload()  # from the service worker's copy, with the data the device kept
    page.wait_for_selector("#vortex-status[data-state=offline]", timeout=10_000)
    stale = page.locator(".vortex-live[data-vortex-stale]")
    stale.wait_for(timeout=10_000)
    assert "field: 1" in stale.inner_text()
    assert "may be out of date" in stale.get_attribute("data-vortex-stale")

    page.click("#add-one")
    page.click("#add-one")
    page.click("#take-one")  # the server refuses it: a tally only grows
    page.wait_for_function(
        "document.querySelectorAll('#vortex-outbox li[data-state=pending]').length === 3")
    assert page.locator("#vortex-outbox").get_attribute("data-pending") == "3"
    screenshot(page, "offline-with-pending-actions")
    assert field_count(base) == 1  # nothing reached the server

    page.context.set_offline(False)
    page.wait_for_selector("#vortex-status[data-state=connected]", timeout=30_000)
    page.wait_for_selector(f"{FIELD} >> text=field: 3", timeout=30_000)
    page.wait_for_function(
        "document.querySelectorAll('#vortex-outbox li[data-state=pending]').length === 0",
        timeout=30_000)
    assert outbox_states(page) == ["sent", "sent", "sent", "failed"]
    failed = page.locator("#vortex-outbox li[data-state=failed]")
    assert failed.is_visible(), "a failed action opens the outbox"
    assert "Take one: failed (ValueError: a tally only grows)" == failed.inner_text()
    assert page.locator(".vortex-live[data-vortex-stale]").count() == 0
    screenshot(page, "back-online")

    # A page kept open through a short offline spell comes back by itself.
    page.context.set_offline(True)
    page.wait_for_selector("#vortex-status[data-state=offline]")
    page.context.set_offline(False)
    page.wait_for_selector("#vortex-status[data-state=connected]", timeout=30_000)

    # Each action was applied once: sending the outbox's ids again changes nothing.
    entries = page.evaluate("PeekStore.all('outbox')")
    for entry in entries:
        requests.post(f"{base}/vortex/api/actions", timeout=10,
                      json={"type": "action", "id": entry["id"], "tuple": entry["tuple"]})
    assert field_count(base) == 3


def test_the_indicator_follows_a_server_restart_and_the_page_resyncs(
        services, site_ports, page_in, screenshot):
    server = services("server")
    services("client")
    base = f"http://127.0.0.1:{site_ports['mobile']}"
    desktop = page_in(1400, 900)
    desktop.goto(f"{base}/peek_plugin_tally/")
    desktop.wait_for_selector("#vortex-status[data-state=connected]")
    assert desktop.locator("#vortex-status").inner_text() == "Online"

    server.kill()
    desktop.wait_for_selector("#vortex-status[data-state=reconnecting]", timeout=30_000)
    screenshot(desktop, "server-down")
    server.start().wait_ready()
    desktop.wait_for_selector("#vortex-status[data-state=connected]", timeout=60_000)
    requests.post(f"{base}/vortex/api/actions", timeout=30, json={
        "type": "action", "id": str(uuid.uuid4()), "tuple": tally("page", 4)})
    desktop.wait_for_selector(".tally[data-name=page] >> text=page: 4", timeout=30_000)


def test_two_client_services_serve_one_server_each_with_its_own_customisations(
        services, site_ports, page_in, tmp_path):
    services("server")
    services("client")
    # A second client service: its own home, port and customisations.
    second_home, second_port = tmp_path / "second-client", free_port()
    common = {"server": {"host": "127.0.0.1", "port": site_ports["server"],
                         "secret": "test-secret"}}
    for service in ("server", "client", "agent"):
        write_config(second_home, service, {**common, "http": {"port": second_port}})
    install_tally(second_home)
    layout = second_home / "peek-client.home" / "customisations" / "templates" / "mobile"
    layout.mkdir(parents=True)
    original = (REPO / "peek" / "templates" / "mobile" / "layout.html").read_text()
    (layout / "layout.html").write_text(original.replace(
        '{{ instance_name or "Peek" }}</strong>', "Depot North</strong>"))
    second = ServiceRun("client", second_home, second_port).start()
    try:
        second.wait_ready()
        first_page = page_in(390, 844)
        first_page.goto(f"http://127.0.0.1:{site_ports['mobile']}/peek_plugin_tally/")
        second_page = page_in(390, 844)
        second_page.goto(f"http://127.0.0.1:{second_port}/peek_plugin_tally/")
        for page in (first_page, second_page):
            page.wait_for_selector(".tally[data-name=page] >> text=page: 0")
        assert second_page.locator("header strong").inner_text() == "Depot North"
        assert first_page.locator("header strong").inner_text() == "Peek"

        # An action through one client reaches the pages of both.
        requests.post(f"http://127.0.0.1:{second_port}/vortex/api/actions", timeout=30,
                      json={"type": "action", "id": str(uuid.uuid4()),
                            "tuple": tally("page", 2)}).raise_for_status()
        for page in (first_page, second_page):
            page.wait_for_selector(".tally[data-name=page] >> text=page: 2")

        second.kill()  # one client gone; the other carries on
        requests.post(f"http://127.0.0.1:{site_ports['mobile']}/vortex/api/actions",
                      timeout=30, json={"type": "action", "id": str(uuid.uuid4()),
                                        "tuple": tally("page", 1)}).raise_for_status()
        first_page.wait_for_selector(".tally[data-name=page] >> text=page: 3")
    finally:
        second.stop()
