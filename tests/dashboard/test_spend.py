"""Spend on the page: a task's cost, tokens and budget as the API reports them (mid-task too),
an unpriced model's cost shown as unknown, and the usage page's totals."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Locator, expect

from tests.dashboard.conftest import Dashboard
from tests.dashboard.test_steering import api_task, finished, submit_by_api, submit_from_form
from tests.harness import wait_until

SPENDING = frozenset({"created", "in_progress"})
"""Statuses in which a task may still call a model."""


def money(value: float) -> str:
    """What the dashboard shows for a known cost (dom.js ``money``)."""
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 0.01 else f"${value:.2f}"


def expect_spend(page_part: Locator, task: dict[str, Any]) -> None:
    """The cost and tokens shown in ``page_part`` are the task's as the API reports them."""
    cost = page_part.locator(".spend-cost")
    if task["cost_usd"] is None:
        expect(cost).to_have_text("unknown")
        expect(cost).to_have_attribute("data-cost-usd", "null")
    else:
        expect(cost).to_have_text(money(task["cost_usd"]))
        # The exact number, not its rounding (JavaScript and Python spell small floats apart).
        wait_until(
            lambda: float(cost.get_attribute("data-cost-usd") or "nan") == task["cost_usd"],
            what=f"the page's cost to be {task['cost_usd']}",
        )
    expect(page_part.locator(".spend-tokens")).to_have_attribute(
        "data-tokens", str(task["tokens"]["total"])
    )


def test_a_tasks_cost_tokens_and_budget_are_the_apis_while_it_waits_and_once_done(
    dashboard: Dashboard,
) -> None:
    page = dashboard.open()
    task_id = submit_from_form(
        page,
        "I want a script that prints hello world, on a budget",
        "plan",
        {"#budget-cost": "0.5", "#budget-tokens": "100000"},
    )
    header = page.locator(".task-header")
    expect(header.locator(".badge")).to_have_text("awaiting approval", timeout=60_000)

    # After analysis, before anything else runs: what the page was told live is the API's.
    waiting = api_task(dashboard, task_id)
    assert waiting["budget"] == {"max_cost_usd": 0.5, "max_tokens": 100000}
    assert waiting["tokens"]["total"] > 0
    expect_spend(header, waiting)
    tokens = waiting["tokens"]
    expect(header.locator(".spend-tokens")).to_have_text(
        f"{tokens['total']} tokens ({tokens['input']} in / {tokens['output']} out)"
    )
    expect(page.locator("#task-budget")).to_have_text("budget $0.50 · 100000 tokens")

    page.click("#approve")
    expect(header.locator(".badge")).to_have_text("completed", timeout=60_000)
    done = api_task(dashboard, task_id)
    assert done["tokens"]["total"] > waiting["tokens"]["total"]
    expect_spend(header, done)
    tokens = done["tokens"]
    expect(header.locator(".spend-tokens")).to_have_text(
        f"{tokens['total']} tokens ({tokens['input']} in / {tokens['output']} out)"
    )
    expect(page.locator(".costs tfoot .num")).to_have_text(money(done["cost_usd"]))
    page.click("#nav >> text=Tasks")
    expect_spend(page.locator(f"tr[data-task-id={task_id}]"), done)
    dashboard.screenshot("task-spend")
    dashboard.guard.check()


def test_a_model_without_a_price_makes_the_cost_unknown_not_zero(dashboard: Dashboard) -> None:
    base = dashboard.system.base_url
    saved = httpx.post(f"{base}/api/settings", json={"agents": {"codex": {"model": "local-llama"}}})
    assert saved.status_code == 200, saved.text
    try:
        task_id = submit_by_api(dashboard)
        task = finished(dashboard, task_id)
    finally:
        reset = {"agents": {"codex": {"model": None}}}
        httpx.post(f"{base}/api/settings", json=reset).raise_for_status()
    assert task["cost_usd"] is None
    page = dashboard.open(f"#/task/{task_id}")
    expect(page.locator(".task-header .badge")).to_have_text("completed")
    expect_spend(page.locator(".task-header"), task)
    expect(page.locator(".usage[data-stage=implementation]")).to_contain_text("unknown")
    expect(page.locator(".costs tfoot .num")).to_have_text("unknown")
    page.click("#nav >> text=Tasks")
    expect_spend(page.locator(f"tr[data-task-id={task_id}]"), task)
    dashboard.guard.check()


def quiet(dashboard: Dashboard) -> list[dict[str, Any]]:
    """Every task, once none of them can still spend (a waiting one does not)."""

    def tasks() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = httpx.get(
            f"{dashboard.system.base_url}/api/tasks", timeout=10
        ).json()["tasks"]
        return None if any(t["status"] in SPENDING for t in found) else found

    settled: list[dict[str, Any]] = wait_until(tasks, what="no task running", timeout=60)
    return settled


def expect_totals(row: Locator, totals: dict[str, Any]) -> None:
    for field in ("calls", "input_tokens", "output_tokens", "tokens", "unpriced_calls"):
        expect(row.locator(f"[data-field={field}]")).to_have_text(str(totals[field]))
    shown = "unknown" if totals["cost_usd"] is None else money(totals["cost_usd"])
    expect(row.locator("[data-field=cost_usd]")).to_have_text(shown)


def test_the_usage_page_shows_the_totals_of_the_api_by_agent_provider_and_model(
    dashboard: Dashboard,
) -> None:
    finished(dashboard, submit_by_api(dashboard))  # at least one task's calls to count
    quiet(dashboard)
    usage = httpx.get(f"{dashboard.system.base_url}/api/usage", timeout=10).json()
    assert usage["total"]["calls"] > 0

    page = dashboard.open("#/usage")
    expect(page.locator("#usage[data-loaded=true]")).to_be_visible()
    expect_totals(page.locator("#usage-total tbody tr"), usage["total"])
    for group in ("by_agent", "by_provider", "by_model"):
        rows = page.locator(f"#usage-{group} tbody tr")
        expect(rows).to_have_count(len(usage[group]))
        for name, totals in usage[group].items():
            expect_totals(page.locator(f'#usage-{group} tr[data-key="{name}"]'), totals)
    expect(page.locator("#usage-days tbody tr")).to_have_count(len(usage["days"]))
    expect(page.locator("#nav a.active")).to_have_text(re.compile("Usage"))
    dashboard.screenshot("usage")
    dashboard.guard.check()
