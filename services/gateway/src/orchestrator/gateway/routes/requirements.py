"""``POST /api/requirements``: submit a requirement; the agents take it from the event stream.

With an ``Idempotency-Key`` header the task id is derived from the key, so a retried submission
conflicts on the task's first event and returns the task already created, never a second one.
A provider key that no agents instance has and the settings document lacks is refused up front
(``API_KEY_MISSING``); with no agents instance up the task is accepted all the same: it is
durable and runs when the agents come up.

``budget`` (``max_cost_usd``, ``max_tokens``; else the settings' ``default_budget``) caps what the
task's model calls may spend; a cost cap on a task whose agents' models have no price is refused
(``INVALID_REQUEST`` naming the model), since it could not be held. ``approval`` (``"plan"``,
``"changes"``, both as a list, or ``"none"``; else the settings' ``require_approval``) names the
gates the task stops at for a person, ``approval_timeout_s`` how long each may wait.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
)

from orchestrator.events import ConcurrencyConflict, subjects
from orchestrator.events.agent_providers import (
    DEFAULT_MODEL,
    LLM_AGENTS,
    ProviderEnvironment,
    missing_keys,
    resolve,
)
from orchestrator.events.catalog import ROLE_AGENT, Budget, Gate, TaskSubmitted
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.errors import AppendFailed
from orchestrator.events.messages import AgentsDetails
from orchestrator.events.pricing import price_of
from orchestrator.events.settings_document import StoredSettings

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..jsontypes import NonBlank, Priority, integral

router = APIRouter(tags=["requirements"])

AGENTS_ASSIGNED = ["claude", "codex", "claude2", "ide"]
ESTIMATED_COMPLETION = "2-5 minutes"
WAITING_FOR_AGENT = (
    "waiting for an agent: no agents replica is running; the task is queued and starts when one is"
)
MAX_REQUIREMENT_CHARS = 20_000


Money = Annotated[StrictFloat, Field(gt=0, le=1_000_000)]
"""A positive number of dollars; never ``"0.5"`` or ``true``."""


class BudgetIn(BaseModel):
    """Either or both limits; a limit left out does not limit (``{}``: no budget at all, not
    even the settings' default)."""

    model_config = ConfigDict(extra="forbid")

    max_cost_usd: Money | None = None
    max_tokens: (
        Annotated[StrictInt, Field(gt=0, le=1_000_000_000), BeforeValidator(integral)] | None
    ) = None

    def budget(self) -> Budget | None:
        if self.max_cost_usd is None and self.max_tokens is None:
            return None
        return Budget(max_cost_usd=self.max_cost_usd, max_tokens=self.max_tokens)


ApprovalIn = Literal["none", "plan", "changes"] | list[Gate]


def gates_of(approval: ApprovalIn | None, stored: StoredSettings) -> tuple[Gate, ...]:
    if approval is None:
        return stored.require_approval
    if approval == "none":
        return ()
    chosen = [approval] if isinstance(approval, str) else approval
    return tuple(g for g in ("plan", "changes") if g in chosen)


class RequirementIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    requirement: NonBlank = Field(max_length=MAX_REQUIREMENT_CHARS)
    priority: Priority | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    budget: BudgetIn | None = None
    approval: ApprovalIn | None = None
    approval_timeout_s: Money | None = None


class RequirementOut(BaseModel):
    task_id: str
    status: str = "created"
    agents_assigned: list[str] = Field(default_factory=lambda: list(AGENTS_ASSIGNED))
    estimated_completion: str = ESTIMATED_COMPLETION
    priority: int
    budget: Budget | None = None
    approval: list[Gate] = Field(default_factory=list)
    follows: str | None = None


def _environment(instances: list[AgentsDetails]) -> ProviderEnvironment:
    families = tuple(sorted({f for i in instances for f in i.env_key_families}))
    models = {agent: model for i in instances for agent, model in i.default_models.items()}
    return ProviderEnvironment.as_reported(families, models or dict(DEFAULT_MODEL))


def unpriced_models(stored: StoredSettings, instances: list[AgentsDetails]) -> dict[str, str]:
    """Agents whose model has no price (agent -> model): a cost budget cannot be held on them."""
    env = _environment(instances)
    return {
        agent: model
        for agent in LLM_AGENTS
        if price_of(model := resolve(agent, stored, env).model, stored.pricing) is None
    }


def missing_keys_now(stored: StoredSettings, instances: list[AgentsDetails]) -> dict[str, str]:
    """Agents no key would serve, with their provider; empty while no agents instance is up (the
    task is durable and waits for one). One instance whose environment has a key is enough."""
    if not instances:
        return {}
    return missing_keys(stored, _environment(instances))


def _task_id(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"task_{uuid.uuid4().hex}"
    return f"task_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"


@router.post(
    "/api/requirements",
    response_model=RequirementOut,
    summary="Submit a development requirement",
)
async def submit_requirement(
    body: RequirementIn,
    gateway: GatewayDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=256)
    ] = None,
) -> RequirementOut:
    return await submit(gateway, body, idempotency_key=idempotency_key)


async def submit(
    gateway: Gateway,
    body: RequirementIn,
    *,
    idempotency_key: str | None = None,
    follows: str | None = None,
) -> RequirementOut:
    """Record a requirement as a new task (also a feedback's follow-up, which ``follows``)."""
    stored = (await gateway.settings_reader.read()).document
    instances = gateway.health.agents()
    _refuse_missing_keys(missing_keys_now(stored, instances))
    budget = body.budget.budget() if body.budget is not None else stored.default_budget
    if budget is not None and budget.max_cost_usd is not None:
        _refuse_unpriced(unpriced_models(stored, instances))
    gates = gates_of(body.approval, stored)
    timeout = body.approval_timeout_s or stored.approval_timeout_s
    priority = body.priority if body.priority is not None else stored.default_priority
    task_id = _task_id(idempotency_key)
    subject = subjects.task(task_id)
    workspace = gateway.models.workspace.state
    event = TaskSubmitted(
        task_id=task_id,
        requirement=body.requirement,
        priority=priority,
        metadata=body.metadata,
        agents=dict(ROLE_AGENT),
        idempotency_key=idempotency_key,
        project=workspace.project(),
        workspace_version=workspace.version,
        outside_version=workspace.outside_version,
        budget=budget,
        approval=gates,
        approval_timeout_s=float(timeout) if timeout is not None and gates else None,
        follows=follows,
    )
    try:
        seq = await gateway.store.append(
            subject, event, expected_last_seq=0, correlation_id=task_id
        )
    except ConcurrencyConflict:
        return await _existing(gateway, subject, body)
    except AppendFailed:
        raise errors.ApiError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The event store is unavailable; the requirement was not accepted, try again",
            503,
        ) from None
    await gateway.caught_up_to(seq, accepted={"task_id": task_id})
    return _out(gateway, event)


def _refuse_missing_keys(missing: dict[str, str]) -> None:
    """``missing``: agent -> the provider whose key it lacks."""
    if missing:
        providers = sorted(set(missing.values()))
        raise errors.ApiError(
            ErrorCode.API_KEY_MISSING,
            f"No API key configured for {', '.join(providers)}: set it with POST /api/settings "
            "or in the agents service's environment (ANTHROPIC_API_KEY / OPENAI_API_KEY)",
            400,
            {"agents": sorted(missing), "providers": providers},
        )


def _refuse_unpriced(unpriced: dict[str, str]) -> None:
    """A cost cap cannot be held where a model has no price (``unpriced``: agent -> model)."""
    if unpriced:
        models = sorted(set(unpriced.values()))
        raise errors.ApiError(
            ErrorCode.INVALID_REQUEST,
            f"budget.max_cost_usd cannot be held: no price for {', '.join(models)} "
            "(add it to the settings' pricing, or budget max_tokens instead)",
            400,
            {"field": "budget.max_cost_usd", "agents": sorted(unpriced), "models": models},
        )


def _out(gateway: Gateway, event: TaskSubmitted) -> RequirementOut:
    return RequirementOut(
        task_id=event.task_id,
        priority=event.priority,
        estimated_completion=_estimate(gateway),
        budget=event.budget,
        approval=list(event.approval),
        follows=event.follows,
    )


def _estimate(gateway: Gateway) -> str:
    return ESTIMATED_COMPLETION if gateway.health.instances("agents") else WAITING_FOR_AGENT


async def _existing(gateway: Gateway, subject: str, body: RequirementIn) -> RequirementOut:
    """The task a previous submission with the same Idempotency-Key created."""
    events = await gateway.store.read(subject)
    first = events[0].event if events else None
    if not isinstance(first, TaskSubmitted):
        raise errors.ApiError(
            ErrorCode.CONFLICT, "Idempotency-Key conflicts with another task", 409
        )
    if first.requirement != body.requirement:
        raise errors.ApiError(
            ErrorCode.CONFLICT,
            "Idempotency-Key was already used for a different requirement",
            409,
            {"task_id": first.task_id},
        )
    await gateway.caught_up_to(events[0].seq)
    return _out(gateway, first)
