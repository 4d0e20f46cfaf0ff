"""Spend and steering, end to end: budgets that stop a task, approval gates that wait through
anything, feedback, and the no-progress stop.

Everything is real but the models: the fake LLM reports the usage each test scripts, and the
tests count the calls it saw."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fakes import FakeLLM, RecordedRequest, Reply, Text
from tests.harness import System, wait_until

from .conftest import (
    GOOD_FILES,
    PLAN,
    REVIEW_OK,
    Api,
    calls,
    recorded_frames,
    stage_of,
    workspace_file,
)

USAGE = {"analysis": (1200, 300), "implementation": (2000, 500), "validation": (1500, 100)}
"""What the fake reports per call of each stage: (input, output) tokens."""


def reporting(
    body: dict[str, Any] | None = None, usage: dict[str, tuple[int, int]] | None = None
) -> Callable[[RecordedRequest], Reply]:
    """A happy fake whose every answer reports ``usage`` for its stage."""
    answers = {"analysis": PLAN, "implementation": GOOD_FILES, "validation": REVIEW_OK}
    answers.update(body or {})
    counts = usage or USAGE

    def respond(request: RecordedRequest) -> Reply:
        stage = stage_of(request) or "analysis"
        inp, out = counts[stage]
        return Text(json.dumps(answers[stage]), input_tokens=inp, output_tokens=out)

    return respond


def script(fake: FakeLLM, responder: Callable[[RecordedRequest], Reply]) -> None:
    fake.anthropic.responder = fake.openai.responder = responder


@pytest.fixture
def api(pipeline: System) -> Iterator[Api]:
    """The gateway's client, with gateway, agents and workspace started on the fake."""
    pipeline.start_all(("gateway", "agents", "workspace"))
    client = Api(pipeline)
    yield client
    client.http.close()


def terminal(task: dict[str, Any]) -> bool:
    return task["status"] in ("completed", "failed", "cancelled")


def waiting(task: dict[str, Any]) -> bool:
    return bool(task["status"] == "awaiting_approval")


# -- budgets ---------------------------------------------------------------------------------


def test_a_budget_the_second_call_would_exceed_fails_the_task_and_no_call_follows(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    # Analysis reports 7,900 tokens: 100 are left, too few for implementation's prompt alone.
    script(fake, reporting(usage={**USAGE, "analysis": (7000, 900)}))
    task_id = api.submit("print hello world", budget={"max_tokens": 8000})["task_id"]
    task = api.wait(task_id, until=terminal, timeout=60)

    assert task["status"] == "failed", task
    assert task["error"]["code"] == "BUDGET_EXCEEDED"
    assert task["error"]["stage"] == "implementation"
    assert "7900 of 8000 tokens" in task["error"]["message"]
    seen = calls(fake, task_id)
    assert [stage_of(r) for r in seen] == ["analysis"]  # nothing after the refusal
    # The first call's max_tokens was cut to what the budget left after its prompt.
    first_cap = seen[0].body["max_tokens"]
    assert 7000 < first_cap < 8000, first_cap
    # What the finished stage produced is kept, and what it spent is counted.
    assert task["results"]["analysis"] == PLAN["summary"]
    assert task["tokens"]["total"] == 7900
    assert task["budget"] == {"max_cost_usd": None, "max_tokens": 8000}


def test_an_answer_cut_short_by_the_budget_fails_the_task_rather_than_half_a_plan(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    script(fake, reporting(usage={**USAGE, "analysis": (100, 5000)}))  # a long plan
    task_id = api.submit("print hello world", budget={"max_tokens": 2000})["task_id"]
    task = api.wait(task_id, until=terminal, timeout=60)
    assert task["error"]["code"] == "BUDGET_EXCEEDED", task["error"]
    assert "cut at the budget" in task["error"]["message"]
    (request,) = calls(fake, task_id)
    cap = request.body["max_tokens"]
    assert cap < 2000
    assert task["usage"]["analysis"]["output_tokens"] == cap  # what the provider reported


def test_a_budget_that_fits_completes_and_usage_is_the_sum_the_fake_reported(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    script(fake, reporting())
    with recorded_frames(pipeline) as frames:
        task_id = api.submit("print hello world", budget={"max_cost_usd": 0.5})["task_id"]
        task = api.wait(task_id, timeout=60)

    # The shipped prices (USD per million tokens): claude-sonnet 3/15 for analysis and
    # validation, gpt-4.1 2/8 for implementation.
    expected_cost = round(
        (1200 * 3 + 300 * 15) / 1e6 + (2000 * 2 + 500 * 8) / 1e6 + (1500 * 3 + 100 * 15) / 1e6, 6
    )
    reported = [USAGE[stage_of(r) or ""] for r in fake.requests]
    assert len(reported) == 3
    assert task["cost_usd"] == expected_cost
    usage = httpx.get(f"{pipeline.base_url}/api/usage", timeout=5).json()
    assert usage["total"]["input_tokens"] == sum(i for i, _ in reported)
    assert usage["total"]["output_tokens"] == sum(o for _, o in reported)
    assert usage["total"]["calls"] == 3
    assert usage["total"]["cost_usd"] == expected_cost
    assert set(usage["by_agent"]) == {"claude", "codex", "claude2"}
    assert usage["by_provider"]["openai"]["input_tokens"] == USAGE["implementation"][0]
    assert usage["by_model"]["gpt-4.1"]["calls"] == 1
    assert [d["total"]["calls"] for d in usage["days"]] == [3]
    # Spend was live: the frames after each model stage carried the running totals.
    spend = [
        (f["tokens"], f["cost_usd"])
        for f in frames
        if f.get("type") == "task_update" and f.get("task_id") == task_id and "tokens" in f
    ]
    totals = [sum(sum(USAGE[s]) for s in list(USAGE)[: i + 1]) for i in range(3)]
    assert [t for t, _ in spend] == totals
    assert spend[-1][1] == expected_cost


def test_an_unpriced_model_has_unknown_cost_and_refuses_a_cost_budget(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    saved = api.http.post("/api/settings", json={"agents": {"codex": {"model": "local-llama"}}})
    assert saved.status_code == 200, saved.text
    refused = api.http.post(
        "/api/requirements", json={"requirement": "r", "budget": {"max_cost_usd": 1}}
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "INVALID_REQUEST" and "local-llama" in error["message"]
    assert error["details"]["agents"] == ["codex"]

    script(fake, reporting())
    task = api.wait(api.submit("print hello world")["task_id"], timeout=60)
    assert task["cost_usd"] is None  # unknown, never 0
    assert task["usage"]["implementation"]["cost_usd"] is None
    assert task["usage"]["analysis"]["cost_usd"] > 0
    usage = httpx.get(f"{pipeline.base_url}/api/usage", timeout=5).json()
    assert usage["by_model"]["local-llama"]["cost_usd"] is None
    assert usage["by_model"]["local-llama"]["unpriced_calls"] == 1
    assert usage["total"]["cost_usd"] is None

    # Priced in settings, it is costed from then on, and a cost budget is accepted.
    priced = api.http.post(
        "/api/settings", json={"pricing": {"local-llama": {"input": 1, "output": 2}}}
    )
    assert priced.status_code == 200, priced.text
    assert priced.json()["settings"]["pricing"]["local-llama"] == {"input": 1.0, "output": 2.0}
    again = api.wait(
        api.submit("print hello world", budget={"max_cost_usd": 1})["task_id"], timeout=60
    )
    assert again["usage"]["implementation"]["cost_usd"] == round((2000 + 500 * 2) / 1e6, 6)


def test_bad_budgets_and_answers_to_a_task_that_does_not_wait_are_refused_clearly(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    for budget, field in (
        ({"max_cost_usd": -1}, "budget.max_cost_usd"),
        ({"max_cost_usd": 0}, "budget.max_cost_usd"),
        ({"max_tokens": "lots"}, "budget.max_tokens"),
        ({"max_cost_usd": True}, "budget.max_cost_usd"),
        ({"max_cost_usd": "0.5"}, "budget.max_cost_usd"),
        ({"max_tokens": 1.5}, "budget.max_tokens"),
    ):
        response = api.http.post("/api/requirements", json={"requirement": "r", "budget": budget})
        assert response.status_code == 400, (budget, response.text)
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert field in (error["details"].get("field") or "") or field in error["message"], error

    script(fake, reporting())
    done = api.wait(api.submit("print hello world")["task_id"], timeout=60)
    approve = api.http.post(f"/api/tasks/{done['id']}/approve")
    assert approve.status_code == 409
    assert approve.json()["error"]["code"] == "CONFLICT"
    assert "completed" in approve.json()["error"]["message"]
    assert approve.json()["error"]["details"]["status"] == "completed"
    for body in ({}, {"message": ""}, {"message": "   "}):
        response = api.http.post(f"/api/tasks/{done['id']}/feedback", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "INVALID_REQUEST"
    huge = api.http.post(f"/api/tasks/{done['id']}/feedback", json={"message": "x" * 2_000_000})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    missing = api.http.post("/api/tasks/task_0123456789abcdef0123456789abcdef/approve")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "TASK_NOT_FOUND"


# -- approval gates --------------------------------------------------------------------------


def test_a_plan_gate_waits_through_a_kill_of_everything_and_nats_then_approve_completes(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    script(fake, reporting())
    task_id = api.submit("print hello world", approval="plan")["task_id"]
    task = api.wait(task_id, until=waiting, timeout=60)
    assert task["approval"]["gate"] == "plan"
    assert task["approval"]["summary"] == PLAN["summary"]
    assert task["progress"] == 25
    assert [stage_of(r) for r in calls(fake, task_id)] == ["analysis"]

    def agents_running() -> int:
        health = httpx.get(f"{pipeline.base_url}/api/health", timeout=5).json()
        return int(health["services"]["agents"]["details"]["running"])

    # Waiting holds no slot (the count is the agents' heartbeat's, every interval).
    wait_until(lambda: agents_running() == 0, "the waiting task to free its agent slot")
    assert api.task(task_id)["status"] == task["status"]

    for process in pipeline.processes:
        process.kill()  # SIGKILL, every service
    assert pipeline.nats is not None
    pipeline.nats.stop()
    pipeline.start_nats()
    pipeline.start_all(("gateway", "agents", "workspace"))
    assert api.task(task_id)["status"] == "awaiting_approval"  # still waiting, from events

    # Two answers at once: exactly one is recorded.
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: api.http.post(f"/api/tasks/{task_id}/approve").status_code, [0, 1])
        )
    assert sorted(answers) == [200, 409], answers
    task = api.wait(task_id, timeout=60)
    assert task["status"] == "completed"
    assert [stage_of(r) for r in calls(fake, task_id)] == [
        "analysis",
        "implementation",
        "validation",
    ]
    assert task["approvals"][0]["status"] == "approved"
    types = api.types(task_id)
    assert types.count("ApprovalRequested") == 1 and types.count("ApprovalGranted") == 1


def test_feedback_on_the_plan_reaches_the_analyst_and_the_frames_say_so(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    script(fake, reporting())
    with recorded_frames(pipeline) as frames:
        task_id = api.submit("print hello world", approval="plan")["task_id"]
        api.wait(task_id, until=waiting, timeout=60)

        sent = api.http.post(
            f"/api/tasks/{task_id}/feedback", json={"message": "greet in French, not English"}
        )
        assert sent.status_code == 200, sent.text
        task = api.wait(
            task_id, until=lambda t: waiting(t) and t["approval"]["round"] == 2, timeout=60
        )
        analyses = calls(fake, task_id, "analysis")
        assert len(analyses) == 2
        assert "greet in French, not English" in analyses[1].text
        # The plan it sent back is shown to the analyst beside the feedback.
        assert str(PLAN["summary"]) in analyses[1].text
        assert [a["status"] for a in task["approvals"]] == ["revise", "waiting"]

        assert api.http.post(f"/api/tasks/{task_id}/approve").status_code == 200
        api.wait(task_id, timeout=60)
    kinds = [
        (f["type"], f.get("decision"))
        for f in frames
        if f.get("task_id") == task_id and f["type"].startswith("approval_")
    ]
    assert kinds == [
        ("approval_requested", None),
        ("approval_resolved", "feedback"),
        ("approval_requested", None),
        ("approval_resolved", "approved"),
    ]


def test_a_changes_gate_rejected_once_goes_back_to_the_implementer_and_writes_after_approval(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    rounds: list[str] = []

    def implement(request: RecordedRequest) -> Reply:
        if stage_of(request) != "implementation":
            return reporting()(request)
        rounds.append(request.text)
        text = "print('Bonjour')\n" if len(rounds) > 1 else "print('Hello, World!')\n"
        body = {"summary": "s", "files": [{"path": "hello_world.py", "content": text}]}
        return Text(json.dumps(body))

    script(fake, implement)
    task_id = api.submit("print hello world", approval="changes")["task_id"]
    task = api.wait(task_id, until=waiting, timeout=60)
    assert task["approval"]["gate"] == "changes" and task["progress"] == 75
    assert "hello_world.py" in task["approval"]["summary"]
    on_disk = workspace_file(pipeline, "implementation/hello_world.py")
    assert not on_disk.exists()  # nothing is written before the changes are approved
    changes = api.http.get(f"/api/tasks/{task_id}/changes").json()["changes"]
    assert [c["path"].rsplit("/", 1)[-1] for c in changes] == ["hello_world.py"]

    sent = api.http.post(f"/api/tasks/{task_id}/feedback", json={"message": "say Bonjour"})
    assert sent.status_code == 200, sent.text
    task = api.wait(task_id, until=lambda t: waiting(t) and t["approval"]["round"] == 2, timeout=60)
    assert len(rounds) == 2 and "say Bonjour" in rounds[1]
    assert api.http.post(f"/api/tasks/{task_id}/approve").status_code == 200
    api.wait(task_id, timeout=60)
    wait_until(on_disk.exists, what=str(on_disk))
    assert on_disk.read_text() == "print('Bonjour')\n"


def test_an_unanswered_gate_is_cancelled_by_its_recorded_deadline(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    script(fake, reporting())
    task_id = api.submit("print hello world", approval="plan", approval_timeout_s=3)["task_id"]
    api.wait(task_id, until=waiting, timeout=60)
    # The agents restart while it waits: the deadline is the server's to redeliver, not memory.
    for process in pipeline.processes:
        if process.service == "agents":
            process.kill()
    pipeline.start_all(("agents",))
    task = api.wait(task_id, until=lambda t: t["status"] == "cancelled", timeout=30)
    assert task["approvals"][0]["status"] == "cancelled"
    cancelled = [e for e in api.events(task_id) if e["type"] == "TaskCancelled"]
    assert len(cancelled) == 1 and "within 3s" in cancelled[0]["data"]["reason"]
    assert cancelled[0]["data"]["progress"] == 25


def test_feedback_on_a_completed_task_is_a_follow_up_on_the_same_project(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    script(fake, reporting())
    first = api.wait(api.submit("print hello world")["task_id"], timeout=60)
    sent = api.http.post(
        f"/api/tasks/{first['id']}/feedback", json={"message": "the greeting is the wrong colour"}
    )
    assert sent.status_code == 200, sent.text
    follow_up = sent.json()["follow_up"]
    assert follow_up["follows"] == first["id"]
    second = api.wait(follow_up["task_id"], timeout=60)
    assert second["follows"] == first["id"]
    analysis = calls(fake, second["id"], "analysis")[0].text
    assert "the greeting is the wrong colour" in analysis
    assert "hello_world.py" in analysis  # it sees the project the first task built


# -- no progress -----------------------------------------------------------------------------


def test_the_same_findings_twice_stop_the_task_and_save_the_rounds_left(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    implemented: list[int] = []

    def respond(request: RecordedRequest) -> Reply:
        stage = stage_of(request)
        if stage == "implementation":
            implemented.append(1)  # different files each round, the same problem each time
            content = f"print('Hello, World!')  # take {len(implemented)}\n"
            return Text(
                json.dumps(
                    {"summary": "s", "files": [{"path": "hello_world.py", "content": content}]}
                )
            )
        if stage == "validation":
            return Text(json.dumps({"passed": False, "summary": "no", "findings": ["no tests"]}))
        return Text(json.dumps(PLAN))

    script(fake, respond)
    task = api.wait(api.submit("print hello world")["task_id"], until=terminal, timeout=90)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "VALIDATION_FAILED"
    assert task["error"]["message"].startswith("no progress after 2 round(s)")
    # Two rounds, not the three AGENTS_MAX_ROUNDS allows: one implementation and one review saved.
    assert len(calls(fake, task["id"], "implementation")) == 2
    assert len(calls(fake, task["id"], "validation")) == 2


def test_the_same_files_as_the_round_before_stop_the_task_before_running_them(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    findings = iter(["first problem", "second problem", "third problem"])

    def respond(request: RecordedRequest) -> Reply:
        stage = stage_of(request)
        if stage == "validation":
            body = {"passed": False, "summary": "no", "findings": [next(findings)]}
            return Text(json.dumps(body))
        return reporting()(request)

    script(fake, respond)
    task = api.wait(api.submit("print hello world")["task_id"], until=terminal, timeout=90)
    assert task["error"]["code"] == "VALIDATION_FAILED"
    assert "same files" in task["error"]["message"]
    assert len(calls(fake, task["id"], "implementation")) == 2
    assert len(calls(fake, task["id"], "validation")) == 1  # round 2 was not reviewed
    assert len(task["validation"]["rounds"]) == 1  # nor run in the sandbox


def test_the_settings_defaults_apply_to_a_requirement_that_names_none(
    pipeline: System, fake: FakeLLM, api: Api
) -> None:
    saved = api.http.post(
        "/api/settings",
        json={
            "default_budget": {"max_tokens": 90000},
            "require_approval": ["changes"],
            "max_feedback_rounds": 0,
        },
    )
    assert saved.status_code == 200, saved.text
    assert set(saved.json()["updated"]) == {
        "default_budget",
        "require_approval",
        "max_feedback_rounds",
    }
    script(fake, reporting())
    submitted = api.submit("print hello world")
    assert submitted["budget"] == {"max_cost_usd": None, "max_tokens": 90000}
    assert submitted["approval"] == ["changes"]
    task = api.wait(submitted["task_id"], until=waiting, timeout=60)
    assert task["approval"]["gate"] == "changes"
    refused = api.http.post(f"/api/tasks/{task['id']}/feedback", json={"message": "again"})
    assert refused.status_code == 409  # no feedback rounds allowed by the settings
    assert "max_feedback_rounds" in refused.json()["error"]["message"]
    # A requirement can opt out of the default gates, and of the default budget.
    plain = api.submit("print hello world", approval="none", budget={})
    assert plain["approval"] == [] and plain["budget"] is None
    assert api.wait(plain["task_id"], timeout=60)["status"] == "completed"
