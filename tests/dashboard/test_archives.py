"""Archives: reset from the page, browse the archive, view an archived file, restore it."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard, write_files

CONTENT = b'def greet(name):\n    return f"hello {name}"\n'


def test_an_archived_file_is_viewed_and_restored_into_the_workspace(
    dashboard: Dashboard,
) -> None:
    base = dashboard.system.base_url
    write_files(dashboard.system, {"lib/greet.py": CONTENT})
    page = dashboard.open("#/files")
    expect(page.locator('#file-tree a[data-path="lib/greet.py"]')).to_be_visible()
    page.click("#reset")
    page.click("#reset")  # the second click confirms
    expect(page.locator(".toast-ok")).to_contain_text("Archived")
    expect(page.locator('#file-tree a[data-path="lib/greet.py"]')).to_have_count(0)

    archives = httpx.get(f"{base}/api/archive").json()["archives"]
    name = archives[0]["name"]
    page.click("text=Archives")
    page.click(f'a[data-archive="{name}"]')
    row = page.locator('tr[data-path="lib/greet.py"]')
    row.locator("button.view").click()
    expect(page.locator("#archive-viewer .code")).to_have_text(CONTENT.decode())
    expect(page.locator("#archive-viewer .tok-kw").first).to_have_text("def")
    dashboard.screenshot("archives")
    row.locator("button.restore").click()
    expect(page.locator(".toast-ok").last).to_contain_text("Restored workspace/lib/greet.py")

    listed = {f["path"] for f in httpx.get(f"{base}/api/workspace/files").json()["files"]}
    assert "workspace/lib/greet.py" in listed
    content = httpx.get(f"{base}/api/workspace/files/lib/greet.py").content
    assert content == CONTENT
    dashboard.guard.check()
