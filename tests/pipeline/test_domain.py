"""The agents' pure logic: state from events, the next step, checks, paths, providers. No NATS."""

from __future__ import annotations

from pydantic import SecretStr

from orchestrator.agents.domain import FailTask, RunStage, decide, fold, validation_outcome
from orchestrator.agents.providers import parse_json
from orchestrator.agents.settings import AgentsSettings
from orchestrator.agents.static_checks import run_checks
from orchestrator.events.agent_providers import resolve
from orchestrator.events.catalog import (
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskRetried,
    TaskSubmitted,
    ValidationFailed,
)
from orchestrator.events.pricing import Price, cost_usd, price_of
from orchestrator.events.settings_document import AgentProvider, StoredSettings, redact_url
from orchestrator.events.testing import history

T = "task_1"


SUBMITTED = TaskSubmitted(task_id=T, requirement="r", priority=5)


def done(stage: str, round_: int = 1) -> StageCompleted:
    agent = {"analysis": "claude", "implementation": "codex", "validation": "claude2"}[stage]
    return StageCompleted(task_id=T, stage=stage, agent=agent, round=round_, summary=stage)


def test_only_the_message_that_made_a_step_due_runs_it() -> None:
    events = history(SUBMITTED)
    assert decide(fold(events), 1) == RunStage("analysis", 1)
    events = history(SUBMITTED, StageStarted(task_id=T, stage="analysis", agent="claude"))
    state = fold(events)
    assert decide(state, 2) is None  # StageStarted is noise
    assert decide(state, 1) == RunStage("analysis", 1)  # redelivered after a crash: run again


def test_a_completed_stage_is_never_due_again() -> None:
    events = history(
        SUBMITTED,
        StageStarted(task_id=T, stage="analysis", agent="claude"),
        done("analysis"),
    )
    state = fold(events)
    assert decide(state, 1) is None  # TaskSubmitted redelivered: analysis is done
    assert decide(state, 3) == RunStage("implementation", 1)


def test_validation_failure_sends_work_back_for_another_round() -> None:
    events = history(
        SUBMITTED,
        done("analysis"),
        done("implementation"),
        ValidationFailed(task_id=T, round=1, findings=("x.py:1: SyntaxError",)),
    )
    state = fold(events)
    assert decide(state, 4) == RunStage("implementation", 2)
    assert state.findings == ("x.py:1: SyntaxError",)
    assert state.last_implementation is not None
    assert validation_outcome(False, state, max_rounds=3) == "retry"
    assert validation_outcome(False, state, max_rounds=2) == "exhausted"
    assert validation_outcome(True, state, max_rounds=1) == "passed"


def test_after_validation_the_integration_is_not_ours() -> None:
    state = fold(history(SUBMITTED, done("analysis"), done("implementation"), done("validation")))
    assert state.due == ("integration", 1)
    assert decide(state, 4) is None


def test_cancelled_task_runs_nothing() -> None:
    state = fold(history(SUBMITTED, TaskCancelled(task_id=T)))
    assert decide(state, 1) is None


def test_stage_failure_becomes_task_failure_then_retry_restarts_that_stage() -> None:
    failed = StageFailed(
        task_id=T, stage="implementation", agent="codex", code="AGENT_UNAVAILABLE", message="down"
    )
    state = fold(history(SUBMITTED, done("analysis"), failed))
    assert decide(state, 3) == FailTask(failed)
    from orchestrator.events.catalog import TaskFailed

    state = fold(
        history(
            SUBMITTED,
            done("analysis"),
            failed,
            TaskFailed(task_id=T, stage="implementation", code="AGENT_UNAVAILABLE", message="down"),
            TaskRetried(task_id=T, stage="implementation"),
        )
    )
    assert decide(state, 3) is None
    assert decide(state, 5) == RunStage("implementation", 1)
    assert "analysis" in state.completed


def test_checks_compile_python_and_parse_json() -> None:
    report = run_checks(
        {"a.py": b"print(1)\n", "b.py": b"def f(:\n", "c.json": b"{", "d.txt": b"ok"}
    )
    assert not report.passed
    assert any(f.startswith("b.py:1: SyntaxError") for f in report.findings)
    assert any(f.startswith("c.json: invalid JSON") for f in report.findings)
    assert report.compiled == 1 and report.checked == 4
    assert run_checks({"a.py": b"x = 1\n"}).passed
    assert not run_checks({}).passed


def test_provider_resolution_prefers_the_settings_document_over_the_environment() -> None:
    env = AgentsSettings(
        ANTHROPIC_API_KEY="env-a", OPENAI_API_KEY="env-o", OPENAI_BASE_URL="http://env/v1"
    ).provider_environment()
    plain = resolve("codex", StoredSettings(), env)
    assert (plain.provider, plain.api_key, plain.base_url) == (
        "openai",
        SecretStr("env-o"),
        "http://env/v1",
    )
    stored = StoredSettings(
        anthropic_api_key="kv-a",
        agents={
            "codex": AgentProvider(
                provider="openai_compatible", model="llama", base_url="http://local/v1"
            )
        },
    )
    claude = resolve("claude", stored, env)
    assert claude.api_key is not None and claude.api_key.get_secret_value() == "kv-a"
    codex = resolve("codex", stored, env)
    assert (codex.provider, codex.model, codex.base_url) == (
        "openai_compatible",
        "llama",
        "http://local/v1",
    )
    assert "env-o" not in str(codex.public()) and codex.public()["key_configured"] is True
    nokey = resolve(
        "claude", StoredSettings(), AgentsSettings(ANTHROPIC_API_KEY="").provider_environment()
    )
    assert nokey.key_configured is False


def test_json_answers_are_read_through_code_fences() -> None:
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json('Sure: {"a": 2} done') == {"a": 2}
    assert parse_json("no json") is None


def test_cost_is_priced_by_model_prefix_and_an_unlisted_model_costs_unknown() -> None:
    assert cost_usd(price_of("claude-sonnet-4-5"), 1_000_000, 0) == 3.0
    assert cost_usd(price_of("gpt-4.1-mini"), 0, 1_000_000) == 1.6
    assert price_of("local-llama") is None
    assert cost_usd(price_of("local-llama"), 10, 10) is None
    mine = {"local-llama": Price(input=1.0, output=2.0), "gpt-4.1": Price(input=0, output=0)}
    assert cost_usd(price_of("local-llama-3", mine), 1_000_000, 1_000_000) == 3.0
    assert price_of("gpt-4.1-mini", mine) == Price(input=0, output=0)  # settings win


def test_a_base_url_with_credentials_is_shown_without_them() -> None:
    assert redact_url("https://u:secret@proxy.local/v1") == "https://***@proxy.local/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url(None) is None
