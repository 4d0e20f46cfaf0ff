"""``POST /api/requirements``: submit a requirement; the agents take it from the event stream.

With an ``Idempotency-Key`` header the task id is derived from the key, so a retried submission
conflicts on the task's first event and returns the task already created, never a second one.
A provider key that no agents instance has and the settings document lacks is refused up front
(``API_KEY_MISSING``); with no agents instance up the task is accepted all the same: it is
durable and runs when the agents come up.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.events import ConcurrencyConflict, subjects
from orchestrator.events.agent_providers import ProviderEnvironment, missing_keys
from orchestrator.events.catalog import ROLE_AGENT, TaskSubmitted
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.errors import AppendFailed
from orchestrator.events.messages import AgentsDetails
from orchestrator.events.settings_document import StoredSettings

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..jsontypes import Priority

router = APIRouter(tags=["requirements"])

AGENTS_ASSIGNED = ["claude", "codex", "claude2", "ide"]
ESTIMATED_COMPLETION = "2-5 minutes"
WAITING_FOR_AGENT = (
    "waiting for an agent: no agents replica is running; the task is queued and starts when one is"
)
MAX_REQUIREMENT_CHARS = 20_000
NOT_BLANK = r"[^\x00-\x20\x7f]"  # explicit: regex engines disagree on what \\s is


class RequirementIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # The pattern documents what ``_not_blank`` checks: some character that is not whitespace.
    requirement: str = Field(
        min_length=1, max_length=MAX_REQUIREMENT_CHARS, json_schema_extra={"pattern": NOT_BLANK}
    )
    priority: Priority | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("requirement")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not re.search(NOT_BLANK, value):
            raise ValueError("requirement must not be blank")
        return value


class RequirementOut(BaseModel):
    task_id: str
    status: str = "created"
    agents_assigned: list[str] = Field(default_factory=lambda: list(AGENTS_ASSIGNED))
    estimated_completion: str = ESTIMATED_COMPLETION
    priority: int


def missing_keys_now(stored: StoredSettings, instances: list[AgentsDetails]) -> dict[str, str]:
    """Agents no key would serve, with their provider; empty while no agents instance is up (the
    task is durable and waits for one). One instance whose environment has a key is enough."""
    if not instances:
        return {}
    families = tuple(sorted({f for i in instances for f in i.env_key_families}))
    models = {agent: model for i in instances for agent, model in i.default_models.items()}
    return missing_keys(stored, ProviderEnvironment.as_reported(families, models))


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
    stored = (await gateway.settings_reader.read()).document
    missing = missing_keys_now(stored, gateway.health.agents())
    if missing:
        providers = sorted(set(missing.values()))
        raise errors.ApiError(
            ErrorCode.API_KEY_MISSING,
            f"No API key configured for {', '.join(providers)}: set it with POST /api/settings "
            "or in the agents service's environment (ANTHROPIC_API_KEY / OPENAI_API_KEY)",
            400,
            {"agents": sorted(missing), "providers": providers},
        )
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
    return RequirementOut(
        task_id=task_id, priority=priority, estimated_completion=_estimate(gateway)
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
    return RequirementOut(
        task_id=first.task_id, priority=first.priority, estimated_completion=_estimate(gateway)
    )
