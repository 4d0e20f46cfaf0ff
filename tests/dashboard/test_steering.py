"""Steering from the page: a gate's summary, feedback that sends it back, approval, a refused
answer shown as the gateway's message, and feedback on a finished task as a follow-up."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import WebSocketRoute, expect

from tests.dashboard.conftest import Dashboard, Script
from tests.fakes import FakeLLM, RecordedRequest, Reply, Text
from tests.harness import wait_until
from tests.pipeline.conftest import PLAN, answer, calls, stage_of

TASK_URL = re.compile(r"#/task/(task_[0-9a-f]{32})$")


def api_task(dashboard: Dashboard, task_id: str) -> dict[str, Any]:
    response = httpx.get(f"{dashboard.system.base_url}/api/tasks/{task_id}", timeout=10)
    response.raise_for_status()
    task: dict[str, Any] = response.json()
    return task


def submit_by_api(dashboard: Dashboard, **body: Any) -> str:
    response = httpx.post(
        f"{dashboard.system.base_url}/api/requirements",
        json={"requirement": "I want a script that prints hello world", **body},
        timeout=10,
    )
    response.raise_for_status()
    task_id: str = response.json()["task_id"]
    return task_id


def submit_from_form(
    page: Any, requirement: str, approval: str, inputs: dict[str, str] | None = None
) -> str:
    """Submit ``requirement`` from the home page's form, with ``inputs`` (more fields, by
    selector) and the ``approval`` gates; the id of the task whose page the form opens."""
    page.fill("#requirement", requirement)
    for selector, value in (inputs or {}).items():
        page.fill(selector, value)
    page.select_option("#approval", approval)
    page.click("#submit")
    page.wait_for_url(TASK_URL)
    return opened_task(page)


def opened_task(page: Any) -> str:
    match = TASK_URL.search(page.url)
    assert match, page.url
    return match.group(1)


def finished(dashboard: Dashboard, task_id: str) -> dict[str, Any]:
    """The task once it is over, so the next test finds the shared system idle."""
    task: dict[str, Any] = wait_until(
        lambda: (t := api_task(dashboard, task_id))["status"] in ("completed", "failed") and t,
        what=f"{task_id} to finish",
        timeout=60,
    )
    return task


def test_a_plan_gate_from_the_form_waits_is_sent_back_waits_again_and_completes_once_approved(
    dashboard: Dashboard, fake_llm: FakeLLM
) -> None:
    page = dashboard.open()
    task_id = submit_from_form(
        page, "I want a script that prints hello world, plan approved first", "plan"
    )

    # Waiting at the plan gate: marked in the list, and its page shows the plan to approve.
    header_badge = page.locator(".task-header .badge")
    expect(header_badge).to_have_text("awaiting approval", timeout=60_000)
    page.click("#nav >> text=Tasks")
    row = page.locator(f"tr[data-task-id={task_id}]")
    expect(row).to_have_attribute("data-status", "awaiting_approval")
    expect(row).to_have_class(re.compile(r"\bwaiting\b"))
    expect(row.locator(".gate-pill")).to_have_text("plan")
    dashboard.screenshot("tasks-awaiting-approval")
    row.locator("a").first.click()
    steering = page.locator("#steering[data-asked=waiting]")
    expect(steering.locator(".gate-pill")).to_have_text("plan")
    expect(page.locator("#approval-summary")).to_have_text(PLAN["summary"])
    expect(page.locator("#approval-meta")).to_contain_text("round 1")
    expect(page.locator(".step[data-stage=analysis]")).to_have_attribute(
        "data-status", "awaiting_approval"
    )
    assert api_task(dashboard, task_id)["approval"]["summary"] == PLAN["summary"]
    dashboard.screenshot("task-awaiting-plan")

    # Feedback sends the plan back to the analyst; the task waits again, at round 2.
    page.fill("#feedback", "greet in French, not English")
    page.click("#send-feedback")
    expect(page.locator("#approval-meta")).to_contain_text("round 2", timeout=60_000)
    expect(page.locator("#approvals li")).to_have_count(2)
    expect(page.locator("#approvals li").first).to_have_attribute("data-status", "revise")
    expect(page.locator("#approvals li").first).to_contain_text("greet in French, not English")
    assert "greet in French, not English" in calls(fake_llm, task_id, "analysis")[1].text
    expect(page.locator("#feedback")).to_have_value("")

    page.click("#approve")
    expect(header_badge).to_have_text("completed", timeout=60_000)
    expect(page.locator("#steering")).to_have_attribute("data-asked", "completed")
    task = api_task(dashboard, task_id)
    assert [a["status"] for a in task["approvals"]] == ["revise", "approved"]
    expect(page.locator("#approvals li .approval-status")).to_have_text(["revise", "approved"])
    expect(page.locator("#steer-error")).to_be_hidden()
    dashboard.screenshot("task-approved-completed")
    dashboard.guard.check()


def test_the_changes_gate_shows_the_diffs_to_be_written_and_writes_them_once_approved(
    dashboard: Dashboard, script: Script
) -> None:
    marker = uuid.uuid4().hex  # bytes no earlier test wrote, so the file is a change here

    def implement(request: RecordedRequest) -> Reply:
        if stage_of(request) != "implementation":
            return answer(stage_of(request))
        content = f"print('Hello, World!')  # {marker}\n"
        files = {"summary": "s", "files": [{"path": "hello_world.py", "content": content}]}
        return Text(json.dumps(files))

    script(implement)
    page = dashboard.open()
    task_id = submit_from_form(
        page, "I want a script that prints hello world, changes approved first", "changes"
    )
    expect(page.locator("#steering .gate-pill")).to_have_text("changes", timeout=60_000)

    task = api_task(dashboard, task_id)
    expect(page.locator("#approval-summary")).to_have_text(task["approval"]["summary"])
    changes = httpx.get(
        f"{dashboard.system.base_url}/api/tasks/{task_id}/changes", timeout=10
    ).json()["changes"]
    assert changes
    shown = page.locator("#approval-changes .change")
    expect(shown).to_have_count(len(changes))
    for change in changes:
        entry = page.locator(f'#approval-changes .change[data-path="{change["path"]}"]')
        expect(entry).to_have_attribute("data-change", change["change"])
        expect(entry.locator(".diff")).to_contain_text(f"+print('Hello, World!')  # {marker}")
    dashboard.screenshot("task-awaiting-changes")

    page.click("#approve")
    expect(page.locator(".task-header .badge")).to_have_text("completed", timeout=60_000)
    assert [a["status"] for a in api_task(dashboard, task_id)["approvals"]] == ["approved"]
    dashboard.guard.check()


def test_an_approve_on_a_task_that_no_longer_waits_shows_the_gateways_message(
    dashboard: Dashboard,
) -> None:
    """The page still shows the gate (its live feed is held back at the network) when someone
    else's approval wins: its own is refused, and the envelope's message is what it shows."""
    held = {"frames": False}

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: None if held["frames"] else ws.send(message))
        ws.on_message(server.send)

    dashboard.page.context.route_web_socket(re.compile(r"/ws(\?.*)?$"), relay)
    task_id = submit_by_api(dashboard, approval="plan")
    page = dashboard.open(f"#/task/{task_id}")
    expect(page.locator("#approve")).to_be_visible(timeout=60_000)

    held["frames"] = True
    approved = httpx.post(f"{dashboard.system.base_url}/api/tasks/{task_id}/approve", timeout=10)
    assert approved.status_code == 200, approved.text
    dashboard.guard.expect_refusal(409)
    page.click("#approve")
    error = page.locator("#steer-error")
    shown = re.compile(
        rf"^Task {task_id} is (in_progress|completed), not awaiting approval: nothing to approve$"
    )
    expect(error).to_have_text(shown)
    # The page read the task again: the gate it offered is gone, the message stays.
    expect(page.locator("#approve")).to_have_count(0)
    expect(error).to_be_visible()
    dashboard.screenshot("task-approve-refused")
    held["frames"] = False
    finished(dashboard, task_id)
    dashboard.guard.check()


def test_feedback_on_a_completed_task_opens_the_follow_up_it_submitted(
    dashboard: Dashboard,
) -> None:
    first = submit_by_api(dashboard)
    assert finished(dashboard, first)["status"] == "completed"
    page = dashboard.open(f"#/task/{first}")
    expect(page.locator("#steering")).to_have_attribute("data-asked", "completed")
    page.fill("#follow-up-message", "the greeting should name the user")
    page.click("#give-feedback")

    page.wait_for_url(lambda url: bool(TASK_URL.search(url)) and first not in url)
    follow_up = opened_task(page)
    assert api_task(dashboard, follow_up)["follows"] == first
    follows = page.locator(".task-header .follows a")
    expect(follows).to_have_attribute("href", f"#/task/{first}")
    expect(page.locator(".task-header h2")).to_contain_text("the greeting should name the user")
    expect(page.locator(".task-header .badge")).to_have_text("completed", timeout=60_000)
    page.click("#nav >> text=Tasks")
    expect(page.locator(f"tr[data-task-id={follow_up}] .pill")).to_have_text("follow-up")
    dashboard.guard.check()
