"""Submitting a requirement through the form and following it to ``completed``."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard

STAGES = ("analysis", "implementation", "validation", "integration")


def test_a_requirement_submitted_in_the_form_is_followed_live_to_completed(
    dashboard: Dashboard,
) -> None:
    page = dashboard.open()
    dashboard.screenshot("home-empty")
    page.fill("#requirement", "I want a script that prints hello world")
    page.fill("#priority", "7")
    page.click("#submit")

    page.wait_for_url(re.compile(r"#/task/task_[0-9a-f]{32}$"))
    task_id = page.url.rsplit("/", 1)[-1]
    header = page.locator(".task-header")
    expect(header.locator(".badge")).to_have_text("completed", timeout=60_000)
    for stage in STAGES:
        expect(page.locator(f".step[data-stage={stage}]")).to_have_attribute(
            "data-status", "completed"
        )
    # The plan, the files and a cost per stage are shown, as the API reports them.
    task = httpx.get(f"{dashboard.system.base_url}/api/tasks/{task_id}").json()
    assert task["status"] == "completed" and task["priority"] == 7
    expect(page.locator(".plan")).to_have_text(task["results"]["analysis"])
    expect(page.locator("#task-files a")).to_have_text([f["path"] for f in task["files"]])
    for stage in task["usage"]:
        expect(page.locator(f".usage[data-stage={stage}]")).to_be_visible()
    expect(page.locator("#timeline li")).to_have_count(len(task["stages"]))
    # What the sandbox said of the code, as the task records it.
    assert task["validation"]["checks"]
    for check in task["validation"]["checks"]:
        shown = f"{check['name']} {check['status'].replace('_', ' ')}"
        expect(page.locator(f"#checks .check-{check['status']}", has_text=shown)).to_have_count(1)
    # The model's tokens streamed into the analysis stage's pane.
    expect(page.locator(".model-output[data-stage=analysis]")).to_contain_text("hello world")
    dashboard.screenshot("task-completed")

    page.click("text=Tasks")
    row = page.locator(f"tr[data-task-id={task_id}]")
    expect(row.locator(".cell-status")).to_have_text("completed")
    expect(row.locator(".cell-stage")).to_have_text("integration")
    dashboard.screenshot("tasks")
    dashboard.guard.check()
