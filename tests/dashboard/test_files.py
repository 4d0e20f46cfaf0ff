"""The files page: tree, highlighted viewer, a run's output live in the terminal, stop, and a
running server's preview."""

from __future__ import annotations

import httpx
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Dashboard, write_files
from tests.harness import wait_until
from tests.workspace.conftest import HELLO_API, requires_bwrap

LINES = b"""import time

print("first line", flush=True)
time.sleep(2)  # the first line is on screen while the run goes on
for i in range(2, 6):
    print(f"line {i}", flush=True)
"""
FOREVER = b"""import time

print("waiting", flush=True)
time.sleep(60)
"""


def file_page(dashboard: Dashboard, path: str, content: bytes) -> Page:
    """Write ``path`` into the workspace and open its page once the tree lists it."""
    write_files(dashboard.system, {path: content})
    page: Page = dashboard.open(f"#/files/{path}")
    expect(page.locator(f'#file-tree a[data-path="{path}"]')).to_be_visible()
    return page


@requires_bwrap
def test_a_file_runs_with_its_lines_appearing_live_and_its_exit_code(
    dashboard: Dashboard,
) -> None:
    page = file_page(dashboard, "tools/lines.py", LINES)
    expect(page.locator("#file-path")).to_have_text("tools/lines.py")
    # Highlighted: keywords and strings are their own tokens.
    expect(page.locator(".code-view .tok-kw").first).to_have_text("import")
    expect(page.locator(".code-view .tok-str").first).to_have_text('"first line"')

    page.click("#run")
    lines = page.locator("#terminal .term-line")
    expect(lines.first).to_have_text("first line", timeout=20_000)
    expect(page.locator("#run-status")).to_have_text("running")  # live, not after the end
    dashboard.screenshot("files-running")
    expect(page.locator("#run-status")).to_have_attribute("data-exit-code", "0", timeout=20_000)
    expect(lines).to_have_text(["first line", "line 2", "line 3", "line 4", "line 5"])
    dashboard.screenshot("files-finished")
    dashboard.guard.check()


@requires_bwrap
def test_a_running_file_is_stopped_from_the_page(dashboard: Dashboard) -> None:
    page = file_page(dashboard, "tools/forever.py", FOREVER)
    page.click("#run")
    expect(page.locator("#terminal .term-line").first).to_have_text("waiting", timeout=20_000)
    page.click("#stop")
    expect(page.locator("#run-status")).to_contain_text("stopped", timeout=20_000)
    execution = page.locator("#run-info .mono").inner_text()
    record = httpx.get(f"{dashboard.system.base_url}/api/workspace/executions/{execution}").json()
    assert record["status"] == "stopped"
    dashboard.guard.check()


def answers(tab: Page, url: str, text: str) -> bool:
    """Load ``url`` in ``tab``; whether it shows ``text`` (a server may still be starting)."""
    try:
        tab.goto(url, timeout=5_000)
    except PlaywrightError:
        return False
    return text in tab.locator("body").inner_text()


def unreachable(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return True
    return False


@requires_bwrap
def test_a_running_server_has_a_preview_link_that_opens_it_until_it_is_stopped(
    dashboard: Dashboard,
) -> None:
    page = file_page(dashboard, "tools/greeter.py", HELLO_API)
    page.click("#run")
    link = page.locator("#preview")
    expect(link).to_be_visible(timeout=20_000)
    url = link.get_attribute("href") or ""
    assert url.startswith("http://127.0.0.1:") and not url.startswith(dashboard.system.base_url)
    expect(link).to_have_text(f"Preview {url}")
    expect(page.locator("#run-status")).to_have_text("running")
    dashboard.screenshot("files-preview")

    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    text = '{"message":"Hello World"}'
    wait_until(lambda: answers(tab, url, text), "the server's answer in the tab", timeout=40)
    tab.close()

    page.click("#stop")
    expect(page.locator("#run-status")).to_contain_text("stopped", timeout=20_000)
    wait_until(lambda: unreachable(url), "the preview gone once stopped", timeout=15)
    dashboard.guard.check()
