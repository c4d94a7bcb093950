"""The tutorial plugin in a real browser: an administrator edits a StringInt
row while two phones watch it; the phones' buttons change it for each other,
also when one of them takes actions offline."""

from __future__ import annotations

import pytest

from tests.admin_session import sign_in_page
from tests.conftest import wait_for
from tests.test_tutorial_plugin import TUTORIAL, enable_tutorial, query

ROW = ".vortex-live .string-int"


@pytest.fixture
def platform(configured, site_ports):
    from tests.vortex_harness import ServiceRun

    enable_tutorial(configured, "server", "client", "agent")
    runs = []
    try:
        for service, port in (("server", "admin"), ("client", "mobile"), ("agent", "agent")):
            runs.append(ServiceRun(service, configured, site_ports[port]).start().wait_ready())
        yield {"admin": f"http://127.0.0.1:{site_ports['admin']}",
               "mobile": f"http://127.0.0.1:{site_ports['mobile']}"}
    finally:
        for run in reversed(runs):
            run.stop()


def int_shown(page, value: int, timeout: float = 10_000) -> None:
    page.wait_for_selector(f"{ROW} .int1 >> text=/^{value}$/", timeout=timeout)


def stored(database_url: str) -> tuple[str, int]:
    (row,) = query(database_url, "SELECT string1, int1 FROM pl_tutorial.string_int")
    return row["string1"], row["int1"]


def test_admin_edits_and_phone_actions_reach_every_open_page_also_offline(
        platform, database_url, page_in, screenshot):
    # The agent inserts the first row over RPC once it is connected.
    wait_for(lambda: query(database_url, "SELECT id FROM pl_tutorial.string_int"),
             timeout=60, what="the agent's row")
    mobile = f"{platform['mobile']}/{TUTORIAL}/"
    phones = [page_in(390, 844, offline_ok=True), page_in(390, 844)]
    for phone in phones:
        phone.goto(mobile)
        phone.wait_for_selector("#vortex-status[data-state=connected]")
        int_shown(phone, 3)
    offline_phone, other = phones
    offline_phone.wait_for_function("navigator.serviceWorker.controller !== null",
                                    timeout=15_000)
    offline_phone.reload()  # now through the service worker, which keeps the page
    int_shown(offline_phone, 3)

    # The administrator edits the row in the table editor: both phones show it.
    admin = page_in(1024, 768)
    sign_in_page(admin, platform["admin"], database_url, f"/tables/{TUTORIAL}/string_int")
    admin.locator("#rows tr", has_text="from the agent").get_by_role(
        "button", name="Edit").click()
    editing = admin.locator("#rows tr.peek-editing")
    editing.locator("input[name=int1]").fill("10")
    editing.get_by_role("button", name="Save").click()
    admin.locator("#rows tr.peek-editing").wait_for(state="detached")
    for phone in phones:
        int_shown(phone, 10)
    screenshot(other, "edited-by-the-admin")

    # One phone's buttons change the other's page.
    offline_phone.click(f"{ROW} button.increment")
    int_shown(other, 11)
    other.click(f"{ROW} button.toggle")
    offline_phone.wait_for_selector(f'{ROW} .string1 >> text="FROM THE AGENT"')
    assert stored(database_url) == ("FROM THE AGENT", 11)

    # Offline, the actions wait in the outbox; back online they apply once each.
    # The page reopens from the device's copy, with the rows it kept.
    offline_phone.context.set_offline(True)
    offline_phone.wait_for_selector("#vortex-status[data-state=offline]")
    offline_phone.reload()
    offline_phone.wait_for_selector("#vortex-status[data-state=offline]", timeout=10_000)
    stale = offline_phone.locator(".vortex-live[data-vortex-stale]")
    stale.wait_for(timeout=10_000)
    assert "FROM THE AGENT = 11" in " ".join(stale.inner_text().split())
    offline_phone.click(f"{ROW} button.increment")
    offline_phone.click(f"{ROW} button.increment")
    offline_phone.click(f"{ROW} button.decrement")
    offline_phone.click(f"{ROW} button.increment")
    offline_phone.wait_for_function(
        "document.querySelectorAll('#vortex-outbox li[data-state=pending]').length === 4")
    screenshot(offline_phone, "offline-with-pending-actions")
    assert stored(database_url) == ("FROM THE AGENT", 11)   # nothing reached the server
    int_shown(other, 11)

    offline_phone.context.set_offline(False)
    offline_phone.wait_for_selector("#vortex-status[data-state=connected]", timeout=30_000)
    offline_phone.wait_for_function(
        "document.querySelectorAll('#vortex-outbox li[data-state=pending]').length === 0",
        timeout=30_000)
    for phone in phones:
        int_shown(phone, 13, timeout=30_000)
    assert stored(database_url) == ("FROM THE AGENT", 13)
    screenshot(other, "after-the-outbox-was-delivered")

    # The admin's editor shows the value the phones made.
    admin.reload()
    assert "13" in admin.locator("#rows tr", has_text="FROM THE AGENT").inner_text()

    # The plugin's admin page: the agent RPC panel and the worker job's button.
    admin.goto(f"{platform['admin']}/{TUTORIAL}/")
    admin.wait_for_selector("#tutorial-events >> text=the agent answered 10 - 3 = 7")
    admin.click("#tutorial-subtract")
    admin.wait_for_selector("#tutorial-events >> text=the agent answered 100 - 58 = 42",
                            timeout=30_000)
    admin.wait_for_selector("#tutorial-job-result-none")
    admin.click("#tutorial-job-start")
    admin.wait_for_selector("#tutorial-job-result >> text=total 13", timeout=60_000)
    screenshot(admin, "the-admin-page-after-the-job")
    assert query(database_url, "SELECT rows, total FROM pl_tutorial.job_run") == [
        {"rows": 1, "total": 13}]
