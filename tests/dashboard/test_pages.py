"""The other pages: settings with keys masked, live health, and /docs working offline."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard

KEY = "sk-ant-dashboard-test-key-9876"


def test_settings_show_keys_masked_and_save_per_agent_provider_model_and_url(
    dashboard: Dashboard,
) -> None:
    base = dashboard.system.base_url
    try:
        _save_and_check(dashboard)
    finally:
        # Back to the defaults, so the other tests' agents keep talking to the fake LLM.
        reset = {"provider": None, "model": None, "base_url": None}
        httpx.post(
            f"{base}/api/settings", json={"anthropic_api_key": None, "agents": {"codex": reset}}
        ).raise_for_status()
    dashboard.guard.check()


def _save_and_check(dashboard: Dashboard) -> None:
    base = dashboard.system.base_url
    page = dashboard.open("#/settings")
    form = page.locator("#settings-form[data-loaded=true]")
    form.locator("input[name=anthropic_api_key]").fill(KEY)
    form.locator("select[name='codex.provider']").select_option("openai_compatible")
    form.locator("input[name='codex.model']").fill("qwen2.5-coder")
    form.locator("input[name='codex.base_url']").fill("http://127.0.0.1:9/v1")
    form.locator("#save-settings").click()
    expect(page.locator(".toast-ok")).to_contain_text("agents.codex.provider")
    expect(page.locator("[data-mask=anthropic_api_key]")).to_have_text("set · ends in …9876")
    # The key is never put back into the page, not even in an input's value.
    assert KEY not in page.content()
    assert page.locator("input[name=anthropic_api_key]").input_value() == ""
    saved = httpx.get(f"{base}/api/settings").json()
    assert saved["agents"]["codex"] == {
        "provider": "openai_compatible",
        "model": "qwen2.5-coder",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": {"configured": False, "last_four": None},
    }
    dashboard.screenshot("settings")


def test_health_lists_every_service_and_the_load_updates_live(dashboard: Dashboard) -> None:
    page = dashboard.open("#/health")
    for service in ("gateway", "agents", "workspace", "archive"):
        expect(page.locator(f'tr[data-service="{service}"] .badge')).to_have_text("up")
    expect(page.locator("#health-status")).to_have_text("ok")
    # system_health frames (every HEALTH_INTERVAL second) rewrite the header's load line.
    mini = page.locator("#health-mini")
    first = mini.inner_text()
    page.evaluate("document.getElementById('health-mini').textContent = ''")
    expect(mini).to_contain_text("CPU", timeout=10_000)
    assert first.startswith("CPU")
    dashboard.screenshot("health")
    dashboard.guard.check()


def test_the_api_docs_load_offline_from_the_gateway(dashboard: Dashboard) -> None:
    page = dashboard.page
    page.goto(f"{dashboard.system.base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Orchestrator")
    submit = page.locator("#operations-requirements-submit_requirement")
    expect(submit).to_be_visible()
    dashboard.screenshot("docs")
    dashboard.guard.check()
