"""A key set over ``POST /api/settings`` is the key the next task's model calls carry, with no
restart: the real agents service, the real SDKs, the fake LLM server recording what arrives."""

from __future__ import annotations

import httpx

from tests.fakes import FakeLLM
from tests.harness import System, wait_until

ANTHROPIC_KEY_1 = "sk-ant-from-settings-AAAA1111"
OPENAI_KEY_1 = "sk-from-settings-BBBB2222"
ANTHROPIC_KEY_2 = "sk-ant-rotated-CCCC3333"


def test_a_key_set_over_the_api_is_used_by_the_next_tasks_model_calls(
    system: System, fake: FakeLLM
) -> None:
    # No key anywhere in the environment: only the settings document can supply one.
    system.env.update(
        {
            **fake.env(anthropic_key=None, openai_key=None),
            "AGENTS_SETTINGS_REFRESH": "0.5",
            "AGENTS_HEARTBEAT_INTERVAL": "0.5",
            "AGENTS_LLM_MAX_RETRIES": "1",
        }
    )
    system.start_all(("gateway", "agents", "workspace"))
    http = httpx.Client(base_url=system.base_url, timeout=30)

    def submit() -> httpx.Response:
        return http.post("/api/requirements", json={"requirement": "print hello"})

    refused = submit()
    assert refused.status_code in (400, 503), refused.text
    assert refused.json()["error"]["code"] == "API_KEY_MISSING"

    saved = http.post(
        "/api/settings",
        json={"anthropic_api_key": ANTHROPIC_KEY_1, "openai_api_key": OPENAI_KEY_1},
    )
    assert saved.status_code == 200, saved.text

    def run_task() -> str:
        reply = wait_until(lambda: (r := submit()).status_code == 200 and r, "task accepted")
        task_id: str = reply.json()["task_id"]
        wait_until(
            lambda: http.get(f"/api/tasks/{task_id}").json()["status"] == "completed",
            f"{task_id} completed",
        )
        return task_id

    def keys_for(task_id: str) -> dict[str, set[str | None]]:
        seen: dict[str, set[str | None]] = {}
        for request in fake.matching(task_id):
            seen.setdefault(request.endpoint, set()).add(request.api_key)
        return seen

    first = run_task()
    assert keys_for(first) == {"anthropic": {ANTHROPIC_KEY_1}, "openai": {OPENAI_KEY_1}}

    # Rotate one key: the next task carries it, no restart.
    rotated = http.post("/api/settings", json={"anthropic_api_key": ANTHROPIC_KEY_2})
    assert rotated.status_code == 200
    second = run_task()
    assert keys_for(second) == {"anthropic": {ANTHROPIC_KEY_2}, "openai": {OPENAI_KEY_1}}

    # The keys are nowhere but KV and the provider's wire: not in events, frames or logs.
    history = http.get(f"/api/tasks/{second}/events").text + http.get("/api/tasks").text
    health = http.get("/api/health").text
    for key in (ANTHROPIC_KEY_1, OPENAI_KEY_1, ANTHROPIC_KEY_2):
        assert key not in history
        assert key not in health
        assert key not in system.all_logs()
