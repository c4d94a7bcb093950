"""The sites' pages in a real browser (headless Chromium)."""

import logging

from peek.config import load_config
from peek.logs import setup_logging
from tests.admin_session import sign_in_page


def test_admin_dashboard_lists_services_plugins_and_problems_live(
        configured, site_ports, start_service, page_in, database_url):
    setup_logging(load_config("server"), console=False)
    start_service("server")
    page = page_in()
    sign_in_page(page, f"http://127.0.0.1:{site_ports['admin']}", database_url)
    assert page.title() == "Dashboard · Peek Admin"
    rows = page.locator("#services tbody tr")
    assert rows.filter(has_text="this server").count() == 1
    assert rows.filter(has_text="client").count() == 0
    # Pico's stylesheet applies: the page is not the browser's default serif.
    assert "serif" != page.evaluate("getComputedStyle(document.body).fontFamily")
    assert page.evaluate("typeof htmx") == "object"

    # The noop plugin's panel loads its own partial.
    assert page.locator("#noop-panel").inner_text(timeout=10000) == "0 noop items"
    noop = page.locator('#plugins tr[data-plugin="peek_plugin_noop"]')
    assert noop.locator('td[data-service="server"]').inner_text() == "started"
    assert noop.locator('td[data-service="client"]').count() == 0

    start_service("client")  # the tables refresh themselves, without a reload
    rows.filter(has_text="client").first.wait_for(timeout=15000)
    noop.locator('td[data-service="client"] .peek-state[data-state="started"]').wait_for(
        timeout=15000)

    logging.getLogger("peek_plugin_noop").warning("noop needs attention")
    for handler in logging.getLogger().handlers:
        handler.flush()
    problem = page.locator("#problems .peek-log-record", has_text="noop needs attention")
    problem.wait_for(timeout=15000)
    assert problem.get_attribute("data-level") == "WARNING"
    link = problem.locator("a").get_attribute("href")
    assert link.startswith("/logs?level=WARNING#log-")
    problem.locator("a").click()
    page.wait_for_url("**/logs?level=WARNING#log-*")
    record = page.locator(f"#{link.split('#')[1]}")
    assert record.inner_text().endswith("noop needs attention")


def test_mobile_and_desktop_home_pages(configured, site_ports, start_service, page_in,
                                       screenshot):
    start_service("server")
    start_service("client")
    phone = page_in(390, 844)
    phone.goto(f"http://127.0.0.1:{site_ports['mobile']}/")
    assert phone.title() == "Home · Peek Mobile"
    assert phone.locator("h1").inner_text() == "Peek"
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the mobile page scrolls sideways on a phone"
    screenshot(phone, "mobile-home")
    menu_entry = phone.locator("#site-menu a[data-plugin=peek_plugin_noop]")
    assert not menu_entry.is_visible()
    phone.click("#site-menu summary")  # the menu, on every mobile page
    assert menu_entry.is_visible() and menu_entry.inner_text() == "Noop"
    phone.click("#site-menu summary")
    tile = phone.locator("#home-tiles a", has_text="Noop")
    assert tile.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    tile.click()
    phone.wait_for_url("**/peek_plugin_noop/")
    assert phone.locator("#noop-page").inner_text() == "The noop plugin's mobile page."

    desktop = page_in(1600, 900)
    desktop.goto(f"http://127.0.0.1:{site_ports['mobile']}/desktop/")
    assert desktop.title() == "Home · Peek Desktop"
    main_width = desktop.evaluate("document.querySelector('main').getBoundingClientRect().width")
    assert main_width > 1000, "the desktop site uses the width"
    screenshot(desktop, "desktop-home")
    desktop.locator("#plugin-menu a", has_text="Noop").click()
    desktop.wait_for_url("**/desktop/peek_plugin_noop/")
    assert desktop.locator("#noop-page").inner_text() == "The noop plugin's desktop page."
