"""The files page: tree, highlighted viewer, a run's output live in the terminal, stop."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard, write_files
from tests.workspace.conftest import requires_bwrap

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


def wait_listed(dashboard: Dashboard, path: str) -> None:
    page = dashboard.page
    expect(page.locator(f'#file-tree a[data-path="{path}"]')).to_be_visible()


@requires_bwrap
def test_a_file_runs_with_its_lines_appearing_live_and_its_exit_code(
    dashboard: Dashboard,
) -> None:
    write_files(dashboard.system, {"tools/lines.py": LINES})
    page = dashboard.open("#/files/tools/lines.py")
    wait_listed(dashboard, "tools/lines.py")
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
    write_files(dashboard.system, {"tools/forever.py": FOREVER})
    page = dashboard.open("#/files/tools/forever.py")
    wait_listed(dashboard, "tools/forever.py")
    page.click("#run")
    expect(page.locator("#terminal .term-line").first).to_have_text("waiting", timeout=20_000)
    page.click("#stop")
    expect(page.locator("#run-status")).to_contain_text("stopped", timeout=20_000)
    execution = page.locator("#run-info .mono").inner_text()
    record = httpx.get(f"{dashboard.system.base_url}/api/workspace/executions/{execution}").json()
    assert record["status"] == "stopped"
    dashboard.guard.check()
