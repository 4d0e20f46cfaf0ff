"""With GATEWAY_TOKEN set: the page itself loads, asks for the token once, keeps it for the tab."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import watched_page
from tests.harness import System

TOKEN = "dashboard-test-token-0123456789"


@pytest.fixture(scope="module")
def token_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    # Not harness.running(): its readiness probe has no token.
    system = System(root=tmp_path_factory.mktemp("token"), env={"GATEWAY_TOKEN": TOKEN})
    system.start_nats()
    try:
        system.wait_ready({"gateway": system.start("gateway")}, token=TOKEN)
        yield system
    finally:
        system.stop()


def test_the_static_files_need_no_token_and_every_api_route_still_does(
    token_system: System,
) -> None:
    base = token_system.base_url
    for path in ("/", "/docs", "/dashboard/js/main.js", "/dashboard/app.css"):
        response = httpx.get(base + path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert httpx.get(f"{base}/dashboard/config.json").json() == {"token_required": True}
    for path in ("/api/tasks", "/api/health", "/openapi.json"):
        assert httpx.get(base + path).status_code == 401, path
    assert httpx.post(f"{base}/", json={}).status_code == 401
    # Sent as is (httpx would resolve the dots): a tokenless path can only reach the dashboard's
    # files, which refuse to step out of their folder.
    for raw in (
        "/dashboard/../api/tasks",
        "/dashboard/%2e%2e/api/tasks",
        "/dashboard/../../app.py",
    ):
        connection = http.client.HTTPConnection("127.0.0.1", token_system.gateway_port, timeout=10)
        connection.request("GET", raw)
        raw_response = connection.getresponse()
        assert raw_response.status == 404, raw
        assert b'"NOT_FOUND"' in raw_response.read()
        connection.close()


def test_the_page_asks_for_the_token_once_and_keeps_it_for_the_tab(
    browser: Any, token_system: System
) -> None:
    with watched_page(browser, token_system) as dashboard:
        page = dashboard.page
        page.goto(f"{token_system.base_url}/#/health")
        expect(page.locator("#token-dialog")).to_be_visible()
        dashboard.screenshot("token")
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator('tr[data-service="gateway"] .badge')).to_have_text("up")
        assert page.evaluate("sessionStorage.getItem('orchestrator.token')") == TOKEN
        page.reload()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator("#token-dialog")).to_be_hidden()
        dashboard.screenshot("token-accepted")
