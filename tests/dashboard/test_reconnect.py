"""The page across a gateway restart: a visible reconnecting state, then everything missed."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard, write_files


def test_the_page_shows_reconnecting_then_catches_up_without_duplicates(
    dashboard: Dashboard,
) -> None:
    system = dashboard.system
    page = dashboard.open("#/")
    page.evaluate("window.sameDocument = true")
    log = page.locator("#activity li")
    gateway = next(p for p in system.processes if p.service == "gateway")

    with dashboard.guard.gateway_down():
        gateway.stop()
        expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#banner")).to_be_visible()
        expect(page.locator("#banner")).to_contain_text("Reconnecting")
        expect(page.locator("#submit-form")).to_be_visible()  # the page stays as it was
        dashboard.screenshot("reconnecting")
        # Events that happen while the gateway is away.
        missed = write_files(
            system, {"notes/while-down-1.txt": b"one\n", "notes/while-down-2.txt": b"two\n"}
        )
        gateway.start()
        system.wait_ready({"gateway": gateway})
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    for seq in missed:
        expect(page.locator(f'#activity li[data-seq="{seq}"]')).to_have_count(1)
    expect(page.locator("#banner")).to_be_hidden()
    seqs = [int(s) for s in log.evaluate_all("lines => lines.map(l => l.dataset.seq)")]
    workspace_lines = [
        int(li.get_attribute("data-seq") or 0)
        for li in page.locator("#activity li.activity-workspace_update").all()
    ]
    assert len(workspace_lines) == len(set(workspace_lines)), "a line was shown twice"
    assert sorted(seqs, reverse=True) == seqs, "lines out of order"
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    dashboard.screenshot("reconnected")
    dashboard.guard.check()
