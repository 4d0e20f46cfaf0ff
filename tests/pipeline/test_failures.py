"""Missing keys, providers that are down or refuse the key, validation that fails then passes."""

from __future__ import annotations

import asyncio
import json
import time

import nats

from orchestrator.events.connection import settings_bucket
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.events.settings_document import SETTINGS_KEY, AgentProvider, StoredSettings
from tests.fakes import ANTHROPIC, OPENAI, Error, FakeLLM, RecordedRequest, Reply, Text
from tests.harness import System

from .conftest import (
    BROKEN_FILES,
    GOOD_FILES,
    Api,
    Live,
    answer,
    calls,
    stage_of,
)


def put_settings(system: System, settings: StoredSettings) -> None:
    async def put() -> None:
        assert system.nats is not None
        nc = await nats.connect(system.nats.url)
        kv = await settings_bucket(nc.jetstream(), NatsSettings())
        await kv.put(SETTINGS_KEY, settings.model_dump_json().encode())
        await nc.close()

    asyncio.run(put())


def test_missing_key_is_refused_at_submission_then_a_key_in_settings_is_used(
    pipeline: System, api: Api, fake: FakeLLM
) -> None:
    pipeline.start_all(("gateway", "agents", "workspace"), ANTHROPIC_API_KEY="", OPENAI_API_KEY="")
    # The agents' heartbeat says which agents have a key; wait until the gateway has heard it.
    response = api.http.post("/api/requirements", json={"requirement": "hello"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "API_KEY_MISSING"
    assert error["details"]["providers"] == ["anthropic", "openai"]
    assert api.http.get("/api/tasks").json()["tasks"] == []
    assert fake.requests == []

    put_settings(pipeline, StoredSettings(anthropic_api_key="sk-ant-kv", openai_api_key="sk-kv"))
    task_id = api.submit("hello")["task_id"]
    api.wait(task_id)
    assert {r.api_key for r in fake.requests_to(ANTHROPIC)} == {"sk-ant-kv"}
    assert {r.api_key for r in fake.requests_to(OPENAI)} == {"sk-kv"}
    history = json.dumps(api.events(task_id))
    assert "sk-ant-kv" not in history and "sk-kv" not in history
    assert "sk-ant-kv" not in pipeline.all_logs()


def test_settings_switch_an_agent_to_an_openai_compatible_server_without_restart(
    live: Live,
) -> None:
    system, api, fake = live.system, live.api, live.fake
    restore = StoredSettings()
    put_settings(
        system,
        StoredSettings(
            agents={
                "claude": AgentProvider(
                    provider="openai_compatible", model="local-llama", base_url=fake.openai_base_url
                )
            }
        ),
    )
    time.sleep(1.0)  # the agents re-read settings every 0.5 s; this one also reads before a stage
    task_id = api.submit("hello")["task_id"]
    task = api.wait(task_id)
    analysis = calls(fake, task_id, "analysis")
    assert [(r.endpoint, r.model) for r in analysis] == [(OPENAI, "local-llama")]
    assert task["stages"][0]["provider"] == "openai_compatible"
    assert task["stages"][0]["model"] == "local-llama"
    put_settings(system, restore)


def test_submission_is_accepted_with_no_agents_up_and_runs_when_they_come(
    pipeline: System, api: Api
) -> None:
    pipeline.start_all(("gateway",))
    task_id = api.submit("hello")["task_id"]
    assert api.task(task_id)["status"] == "created"
    pipeline.start_all(("agents", "workspace"))
    api.wait(task_id)


def test_provider_down_fails_the_stage_after_the_sdk_retries_only(live: Live) -> None:
    api, fake = live.api, live.fake
    fake.anthropic.responder = lambda r: Error(500)
    task_id = api.submit("hello")["task_id"]
    task = api.wait(task_id, lambda t: t["status"] == "failed")
    assert task["error"]["code"] == "AGENT_UNAVAILABLE"
    assert task["error"]["stage"] == "analysis"
    assert "HTTP 500" in task["error"]["message"]
    time.sleep(1.5)
    # One call plus AGENTS_LLM_MAX_RETRIES=1 by the SDK; the work queue did not retry it again.
    attempts = calls(fake, task_id, "analysis")
    assert len(attempts) == 2
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1"]
    assert api.types(task_id)[-2:] == ["StageFailed", "TaskFailed"]
    assert calls(fake, task_id, "implementation") == []


def test_a_rejected_key_fails_clearly_and_is_not_retried(live: Live) -> None:
    api, fake = live.api, live.fake
    fake.openai.required_key = "sk-other"
    task_id = api.submit("hello")["task_id"]
    task = api.wait(task_id, lambda t: t["status"] == "failed")
    assert task["error"]["code"] == "AGENT_UNAVAILABLE"
    assert task["error"]["stage"] == "implementation"
    assert "rejected the API key" in task["error"]["message"]
    assert "sk-test" not in json.dumps(task) and "sk-test" not in json.dumps(api.events(task_id))
    assert len(calls(fake, task_id, "implementation")) == 1
    assert task["results"]["analysis"]  # the completed stage keeps its result


def implementation_rounds(broken_rounds: int):  # type: ignore[no-untyped-def]
    def respond(request: RecordedRequest) -> Reply:
        if stage_of(request) != "implementation":
            return answer(stage_of(request))
        round_ = int(request.text.split("Round: ", 1)[1].split("\n", 1)[0])
        body = BROKEN_FILES if round_ <= broken_rounds else GOOD_FILES
        return Text(json.dumps(body))

    return respond


def test_validation_fails_then_passes_in_the_next_round(live: Live) -> None:
    api, fake = live.api, live.fake
    fake.openai.responder = implementation_rounds(1)
    task_id = api.submit("hello")["task_id"]
    task = api.wait(task_id)
    events = api.events(task_id)
    rejected = [e["data"] for e in events if e["type"] == "ValidationFailed"]
    assert len(rejected) == 1 and rejected[0]["round"] == 1
    assert any("SyntaxError" in f for f in rejected[0]["findings"])
    impl_rounds = [
        e["data"]["round"]
        for e in events
        if e["type"] == "StageStarted" and e["data"]["stage"] == "implementation"
    ]
    assert impl_rounds == [1, 2]
    second = calls(fake, task_id, "implementation")[1]
    assert "SyntaxError" in second.text  # the findings went back to the implementer
    # The compiler caught round 1, so the reviewer was called once, for round 2.
    assert len(calls(fake, task_id, "validation")) == 1
    assert task["validation_rounds"][0]["round"] == 1 and task["round"] == 2


def test_validation_gives_up_after_the_configured_rounds_and_a_slow_provider_times_out(
    pipeline: System, api: Api, fake: FakeLLM
) -> None:
    # One system for both (a start costs seconds): AGENTS_MAX_ROUNDS=2, a 1.5 s model timeout.
    fake.openai.responder = implementation_rounds(99)
    pipeline.start_all(
        ("gateway", "agents", "workspace"),
        AGENTS_MAX_ROUNDS="2",
        AGENTS_LLM_TIMEOUT="1.5",
        AGENTS_LLM_MAX_RETRIES="0",
    )
    task_id = api.submit("hello")["task_id"]
    task = api.wait(task_id, lambda t: t["status"] == "failed")
    assert task["error"]["code"] == "VALIDATION_FAILED"
    assert len(calls(fake, task_id, "implementation")) == 2
    assert [e["type"] for e in api.events(task_id)].count("ValidationFailed") == 1

    # A provider that answers too slowly: the stage fails, it does not hang.
    fake.anthropic.responder = lambda r: answer(stage_of(r), delay=5.0)
    slow = api.submit("slow")["task_id"]
    task = api.wait(slow, lambda t: t["status"] == "failed", timeout=30)
    assert task["error"]["code"] == "AGENT_UNAVAILABLE"
    assert "timed out" in task["error"]["message"] or "no answer" in task["error"]["message"]
    assert len(calls(fake, slow, "analysis")) == 1
