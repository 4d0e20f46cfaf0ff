"""Budgets, approval gates and the no-progress stop in the agents' pure logic. No NATS."""

from __future__ import annotations

import pytest

from orchestrator.agents.budget import BudgetExceeded, Meter, estimate_tokens, spent_of
from orchestrator.agents.domain import (
    RequestApproval,
    RunStage,
    decide,
    fold,
    repeated_findings,
    unchanged_files,
)
from orchestrator.events.catalog import (
    ApprovalGranted,
    ApprovalRequested,
    Budget,
    FeedbackGiven,
    FileRef,
    Spend,
    StageCompleted,
    TaskCancelled,
    TaskSubmitted,
    Usage,
    ValidationFailed,
)
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.pricing import Price
from orchestrator.events.testing import history

T = "task_g"
A = FileRef(path="app.py", digest="a" * 64, size=1)
B = FileRef(path="app.py", digest="b" * 64, size=1)


def submitted(**fields: object) -> TaskSubmitted:
    return TaskSubmitted(task_id=T, requirement="r", priority=5, **fields)


def done(stage: str, round_: int = 1, **fields: object) -> StageCompleted:
    agent = {"analysis": "claude", "implementation": "codex", "validation": "claude2"}[stage]
    return StageCompleted(
        task_id=T,
        stage=stage,
        agent=agent,
        round=round_,
        summary=stage,
        **fields,
    )


def meter(
    budget: Budget | None, *, spent: Spend | None = None, price: Price | None = None
) -> Meter:
    return Meter(
        budget=budget,
        spent_before=spent or Spend(),
        price=price,
        provider="anthropic",
        model="m",
        max_tokens=8192,
        min_output=256,
    )


# -- budget ----------------------------------------------------------------------------------


def test_no_budget_leaves_the_configured_max_tokens() -> None:
    assert meter(None).allowance("x" * 10_000) == 8192


def test_a_token_budget_cuts_max_tokens_to_what_remains_after_the_prompt() -> None:
    m = meter(Budget(max_tokens=3000), spent=Spend(tokens=1000))
    prompt = "x" * 400  # ~100 tokens
    assert m.allowance(prompt) == 3000 - 1000 - estimate_tokens(prompt)


def test_a_call_the_budget_cannot_fit_is_refused_with_what_the_stage_spent() -> None:
    m = meter(Budget(max_tokens=2000))
    m.record(1500, 300)
    with pytest.raises(BudgetExceeded) as refused:
        m.allowance("x" * 400)
    assert refused.value.code == ErrorCode.BUDGET_EXCEEDED
    assert refused.value.usage.input_tokens == 1500 and refused.value.usage.calls == 1
    assert "1800 of 2000 tokens" in refused.value.message


def test_a_cost_budget_cuts_by_price_and_an_unknown_price_cannot_be_held() -> None:
    price = Price(input=1.0, output=10.0)  # $ per million
    m = meter(Budget(max_cost_usd=0.01), price=price)
    # $0.01 less ~100 input tokens ($0.0001) leaves $0.0099: 990 output tokens at $10/M
    assert m.allowance("x" * 400) == 990
    with pytest.raises(BudgetExceeded, match="no price for m"):
        meter(Budget(max_cost_usd=0.01)).allowance("x")


def test_spend_with_an_unknown_price_is_unknown_never_zero() -> None:
    m = meter(None)
    m.record(10, 10)
    assert m.usage.cost_usd is None
    spent = spent_of([Usage(input_tokens=1, cost_usd=0.5), m.usage])
    assert spent == Spend(tokens=21, cost_usd=None)
    priced = meter(None, price=Price(input=1.0, output=1.0))
    priced.record(500_000, 500_000)
    assert priced.usage.cost_usd == 1.0 and priced.spent.tokens == 1_000_000


def test_the_task_state_sums_every_recorded_usage() -> None:
    events = history(
        submitted(budget=Budget(max_tokens=100)),
        done("analysis", usage=Usage(input_tokens=10, output_tokens=5, cost_usd=0.1)),
        ValidationFailed(task_id=T, round=1, findings=("f",), usage=Usage(input_tokens=1)),
    )
    state = fold(events)
    assert state.budget == Budget(max_tokens=100)
    assert spent_of(state.usages) == Spend(tokens=16, cost_usd=0.1)


# -- approval gates --------------------------------------------------------------------------


def test_the_plan_gate_stops_after_analysis_and_approval_makes_implementation_due() -> None:
    events = history(submitted(approval=("plan",)), done("analysis"))
    state = fold(events)
    assert decide(state, 2) == RequestApproval("plan", 1)
    events = history(
        submitted(approval=("plan",)),
        done("analysis"),
        ApprovalRequested(task_id=T, gate="plan", round=1),
    )
    state = fold(events)
    assert state.status == "awaiting_approval" and state.awaiting == ("plan", 1)
    assert decide(state, 2) is None and decide(state, 3) is None  # waits, holding nothing
    state = fold([*events, *history(ApprovalGranted(task_id=T, gate="plan", round=1), start=4)])
    assert state.status == "in_progress"
    assert decide(state, 4) == RunStage("implementation", 1)


def test_feedback_on_the_plan_sends_it_back_to_the_analyst_with_the_message() -> None:
    plan = {"summary": "a CLI", "files": []}
    events = history(
        submitted(approval=("plan",)),
        done("analysis", detail={"plan": plan}),
        ApprovalRequested(task_id=T, gate="plan", round=1),
        FeedbackGiven(task_id=T, gate="plan", round=1, message="make it a web app"),
    )
    state = fold(events)
    assert decide(state, 4) == RunStage("analysis", 2)
    assert state.plan_revisions == ((plan, "make it a web app"),)
    again = fold([*events, *history(done("analysis"), start=5)])
    assert decide(again, 5) == RequestApproval("plan", 2)


def test_the_changes_gate_stops_after_validation_and_feedback_is_a_new_round() -> None:
    events = history(
        submitted(approval=("changes",)),
        done("analysis"),
        done("implementation", files=(A,)),
        done("validation"),
    )
    assert decide(fold(events[:2]), 2) == RunStage("implementation", 1)  # no plan gate
    assert decide(fold(events), 4) == RequestApproval("changes", 1)
    events = [
        *events,
        *history(
            ApprovalRequested(task_id=T, gate="changes", round=1),
            FeedbackGiven(task_id=T, gate="changes", round=1, message="blue, not red"),
            start=5,
        ),
    ]
    state = fold(events)
    assert decide(state, 6) == RunStage("implementation", 2)
    assert state.change_feedback == ("blue, not red",)
    assert state.rounds_failed == 0  # a person's feedback is not a failed validation


def test_a_cancelled_waiting_task_requests_nothing() -> None:
    events = history(
        submitted(approval=("plan",)),
        done("analysis"),
        TaskCancelled(task_id=T),
    )
    assert decide(fold(events), 2) is None


# -- no progress -----------------------------------------------------------------------------


def test_the_same_findings_twice_in_a_row_is_no_progress() -> None:
    events = history(
        submitted(),
        done("analysis"),
        done("implementation", files=(A,)),
        ValidationFailed(task_id=T, round=1, findings=("x is undefined",)),
        done("implementation", 2, files=(B,)),
    )
    state = fold(events)
    assert repeated_findings(state, ("x is undefined",))
    assert not repeated_findings(state, ("y is undefined",))
    assert not unchanged_files(state)


def test_the_same_files_as_the_round_before_is_no_progress() -> None:
    events = history(
        submitted(),
        done("analysis"),
        done("implementation", files=(A,)),
        ValidationFailed(task_id=T, round=1, findings=("x",)),
        done("implementation", 2, files=(A,)),
    )
    assert unchanged_files(fold(events))
    first_round = history(submitted(), done("analysis"), done("implementation", files=(A,)))
    assert not unchanged_files(fold(first_round))
