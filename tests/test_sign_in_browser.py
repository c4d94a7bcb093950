"""Signing in on the mobile site and seeing a task arrive, in a real browser:
peek_core_user, peek_plugin_active_task and the tutorial plugin on separate
server and client processes.  Alice signs in (after a wrong password), the
administrator sends her the tutorial's task, her home tile's badge counts
it without a reload, she opens it (which removes it) and signs out."""

from __future__ import annotations

import pytest

from tests.admin_session import sign_in_page
from tests.conftest import enable_plugins
from tests.test_active_task import PASSWORDS, add_users

CORE_USER, ACTIVE_TASK, TUTORIAL = "peek_core_user", "peek_plugin_active_task", \
    "peek_plugin_tutorial"


@pytest.fixture
def platform(configured, site_ports, database_url):
    from tests.vortex_harness import ServiceRun

    enable_plugins(configured, [CORE_USER, ACTIVE_TASK, TUTORIAL], "server", "client")
    runs = []
    try:
        for service, port in (("server", "admin"), ("client", "mobile")):
            runs.append(ServiceRun(service, configured, site_ports[port]).start().wait_ready())
        add_users(database_url, "alice")
        yield {"admin": f"http://127.0.0.1:{site_ports['admin']}",
               "mobile": f"http://127.0.0.1:{site_ports['mobile']}"}
    finally:
        for run in reversed(runs):
            run.stop()


def badge(page, count: int) -> None:
    """The Tasks tile's badge shows ``count`` (hidden at 0)."""
    page.locator(f'#home-tiles #task-badge[data-count="{count}"]').wait_for(
        state="visible" if count else "hidden", timeout=15_000)


def test_sign_in_see_a_task_arrive_open_it_and_sign_out(platform, database_url, page_in,
                                                        screenshot):
    mobile = platform["mobile"]
    phone = page_in(390, 844, allow_http=(401,))  # the wrong password's answer
    phone.goto(f"{mobile}/")
    phone.wait_for_url(f"{mobile}/{CORE_USER}/sign-in?next=/")
    phone.fill("input[name=username]", "alice")
    phone.fill("input[name=password]", "not her password")
    phone.click("button[type=submit]")
    phone.get_by_text("Wrong name or password.").wait_for()
    phone.fill("input[name=username]", "alice")
    phone.fill("input[name=password]", PASSWORDS["alice"])
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{mobile}/")
    assert phone.locator("#signed-in").inner_text() == "Alice"
    phone.wait_for_selector("#vortex-status[data-state=connected]")
    badge(phone, 0)
    screenshot(phone, "signed-in")

    # The administrator names alice in the tutorial's settings and sends its task.
    admin = page_in(1024, 768)
    sign_in_page(admin, platform["admin"], database_url, f"/settings/{TUTORIAL}")
    admin.fill("input[name=task_user]", "alice")
    admin.get_by_role("button", name="Save").click()
    admin.get_by_text("Settings saved.").wait_for()
    admin.goto(f"{platform['admin']}/{TUTORIAL}/")
    admin.click("#tutorial-send-task")
    admin.locator("#tutorial-task-result", has_text="Sent a task to alice.").wait_for()

    badge(phone, 1)  # live, no reload
    screenshot(phone, "task-badge")
    phone.click("#home-tiles a[data-plugin=peek_plugin_active_task]")
    task = phone.locator(".peek-task", has_text="A task from the tutorial plugin")
    task.wait_for()
    screenshot(phone, "task-list")
    task.get_by_role("button", name="Open").click()
    phone.wait_for_url(f"{mobile}/{TUTORIAL}/")
    phone.goto(f"{mobile}/")
    badge(phone, 0)  # opened: the tutorial's task deletes itself

    phone.click("#sign-out")
    phone.wait_for_url(f"{mobile}/{CORE_USER}/sign-in*")
    screenshot(phone, "signed-out")
    phone.goto(f"{mobile}/{ACTIVE_TASK}/")
    phone.wait_for_url(f"{mobile}/{CORE_USER}/sign-in?next=/{ACTIVE_TASK}/")
