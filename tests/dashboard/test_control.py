"""The task page's controls and what a bumpy run shows: retry, cancel, validation findings."""

from __future__ import annotations

import json
import re
import threading

from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard, Script
from tests.fakes import Error, RecordedRequest, Reply, Text
from tests.pipeline.conftest import GOOD_FILES, REVIEW_OK, answer, stage_of


def submit(dashboard: Dashboard, requirement: str) -> str:
    page = dashboard.open()
    page.fill("#requirement", requirement)
    page.click("#submit")
    page.wait_for_url(re.compile(r"#/task/task_[0-9a-f]{32}$"))
    return str(page.url).rsplit("/", 1)[-1]


def test_a_failed_task_is_retried_from_the_page(dashboard: Dashboard, script: Script) -> None:
    provider_up = threading.Event()

    def flaky(request: RecordedRequest) -> Reply:
        if stage_of(request) == "implementation" and not provider_up.is_set():
            return Error(500)
        return answer(stage_of(request))

    script(flaky)
    submit(dashboard, "a script, while the implementer's provider is down")
    page = dashboard.page
    badge = page.locator(".task-header .badge")
    expect(badge).to_have_text("failed", timeout=30_000)
    expect(page.locator(".task-header .error")).to_contain_text("implementation")
    expect(page.locator(".step[data-stage=implementation]")).to_have_attribute(
        "data-status", "failed"
    )
    dashboard.screenshot("task-failed")
    provider_up.set()
    page.click("#retry")
    expect(badge).to_have_text("completed", timeout=30_000)
    expect(page.locator("#retry")).to_be_disabled()
    dashboard.guard.check()


def test_a_running_task_is_cancelled_from_the_page(dashboard: Dashboard, script: Script) -> None:
    def slow_implementation(request: RecordedRequest) -> Reply:
        if stage_of(request) == "implementation":
            return Text(json.dumps(GOOD_FILES), chunk_size=1, chunk_delay=0.3)
        return answer(stage_of(request))

    script(slow_implementation)
    submit(dashboard, "a script written slowly")
    page = dashboard.page
    # The implementer's tokens arrive one by one; cancel while they do.
    expect(page.locator(".model-output[data-stage=implementation]")).to_contain_text("summary")
    page.click("#cancel")
    expect(page.locator(".task-header .badge")).to_have_text("cancelled")
    expect(page.locator("#cancel")).to_be_disabled()
    expect(page.locator(".step[data-stage=implementation]")).to_have_attribute(
        "data-status", "cancelled"
    )
    dashboard.guard.check()


def test_validation_findings_are_shown_round_by_round(dashboard: Dashboard, script: Script) -> None:
    reviews = iter([{"passed": False, "summary": "not yet", "findings": ["greets nobody by name"]}])
    implemented: list[int] = []

    def picky(request: RecordedRequest) -> Reply:
        if stage_of(request) == "validation":
            return Text(json.dumps(next(reviews, REVIEW_OK)))
        if stage_of(request) == "implementation":
            # Other files each round: the same files twice would stop the task (no progress).
            implemented.append(1)
            content = f"print('Hello, World!')  # round {len(implemented)}\n"
            files = {"summary": "s", "files": [{"path": "hello_world.py", "content": content}]}
            return Text(json.dumps(files))
        return answer(stage_of(request))

    script(picky)
    submit(dashboard, "a greeting that a reviewer rejects once")
    page = dashboard.page
    expect(page.locator(".task-header .badge")).to_have_text("completed", timeout=30_000)
    rounds = page.locator(".rounds > li")
    expect(rounds).to_have_count(1)
    expect(rounds.first).to_contain_text("Round 1")
    expect(rounds.first).to_contain_text("greets nobody by name")
    expect(page.locator("#timeline li.timeline-rejected")).to_have_count(1)
    dashboard.screenshot("task-validation-rounds")
    dashboard.guard.check()
