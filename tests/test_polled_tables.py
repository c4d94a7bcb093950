"""Pages whose tables refresh themselves (htmx polling) must keep their
buttons working at every moment, also just after a refresh swapped them in."""

from __future__ import annotations

import pytest

from tests.admin_session import sign_in_page
from tests.test_admin_settings import PREFS, write_plugins

#: Clicks the row's first button in the same task as the refresh's swap: the
#: moment a person's click can land on a button the refresh has just put there.
CLICK_AS_THE_TABLE_REFRESHES = """([table, button]) => new Promise(resolve => {
    new MutationObserver((records, observer) => {
        observer.disconnect();
        document.querySelector(button).click();
        resolve();
    }).observe(document.querySelector(table), {childList: true});
})"""


@pytest.fixture
def plugins_page(configured, plugin_root, site_ports, start_service, page_in, database_url):
    """The Plugins page of a running server, signed in, with PREFS enabled."""
    write_plugins(configured, plugin_root)
    start_service("server")
    page = page_in()
    sign_in_page(page, f"http://127.0.0.1:{site_ports['admin']}", database_url, "/plugins")
    page.locator(f"#plugin-{PREFS}[data-enabled=true]").wait_for()
    return page


def disabled(page) -> None:
    """The page says PREFS is disabled, in its message and its row."""
    page.locator("#plugin-message").filter(has_text=f"{PREFS} disabled.").wait_for(
        timeout=10000)
    page.locator(f"#plugin-{PREFS}[data-enabled=false]").wait_for()


def test_a_button_clicked_just_after_the_plugin_table_refreshed_acts(plugins_page):
    page = plugins_page
    page.evaluate(CLICK_AS_THE_TABLE_REFRESHES,
                  ["#plugin-table", f"#plugin-{PREFS} button"])
    disabled(page)


def test_a_change_keeps_its_message_when_the_table_refreshes_while_it_runs(plugins_page):
    page = plugins_page
    # The server's answer to Disable is held until a refresh has replaced
    # the row (and the button that was clicked) beneath it.
    held = []
    page.route("**/disable", lambda route: held.append((route, route.fetch())))
    button = page.locator(f"#plugin-{PREFS} button", has_text="Disable").element_handle()
    button.click()
    for _ in range(200):  # the server has disabled it; its answer is held here
        if held:
            break
        page.wait_for_timeout(50)
    page.wait_for_function("button => !button.isConnected", arg=button, timeout=10000)
    assert len(held) == 1
    route, answer = held[0]
    route.fulfill(response=answer)
    disabled(page)
