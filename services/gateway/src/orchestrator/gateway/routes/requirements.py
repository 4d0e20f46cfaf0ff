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
from nats.js.errors import KeyNotFoundError, NotFoundError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.events import ConcurrencyConflict, subjects
from orchestrator.events.catalog import ROLE_AGENT, TaskSubmitted
from orchestrator.events.config import SETTINGS_KEY, StoredSettings
from orchestrator.events.errors import AppendFailed

from .. import errors
from ..backbone import Gateway, GatewayDep
from ..jsontypes import Priority

router = APIRouter(tags=["requirements"])

AGENTS_ASSIGNED = ["claude", "codex", "claude2", "ide"]
ESTIMATED_COMPLETION = "2-5 minutes"
DEFAULT_PROVIDER = {"claude": "anthropic", "codex": "openai", "claude2": "anthropic"}
MAX_REQUIREMENT_CHARS = 20_000
NOT_BLANK = r"\S"


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


async def stored_settings(gateway: Gateway) -> StoredSettings:
    try:
        entry = await gateway.settings_kv.get(SETTINGS_KEY)
    except (KeyNotFoundError, NotFoundError):
        return StoredSettings()
    try:
        return StoredSettings.model_validate_json(entry.value or b"{}")
    except ValidationError:
        return StoredSettings()


def missing_keys(stored: StoredSettings, instances: list[dict[str, Any]]) -> dict[str, str]:
    """Agents with no key anywhere, with their provider; empty when no agents instance is up."""
    if not instances:
        return {}
    missing: dict[str, str] = {}
    for agent, default in DEFAULT_PROVIDER.items():
        reported = [d.get("agents", {}).get(agent, {}) for d in instances]
        if any(r.get("key_configured") for r in reported):
            continue
        entry = stored.agents.get(agent)
        provider: str = (entry.provider if entry else None) or next(
            (str(r["provider"]) for r in reported if r.get("provider")), default
        )
        if provider == "openai_compatible":
            continue
        key: str | None = (entry.api_key if entry else None) or (
            stored.anthropic_api_key if provider == "anthropic" else stored.openai_api_key
        )
        if not key:
            missing[agent] = provider
    return missing


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
    stored = await stored_settings(gateway)
    missing = missing_keys(stored, gateway.health.details("agents"))
    if missing:
        providers = sorted(set(missing.values()))
        raise errors.ApiError(
            errors.API_KEY_MISSING,
            f"No API key configured for {', '.join(providers)}: set it with POST /api/settings "
            "or in the agents service's environment (ANTHROPIC_API_KEY / OPENAI_API_KEY)",
            400,
            {"agents": sorted(missing), "providers": providers},
        )
    priority = body.priority if body.priority is not None else stored.default_priority
    task_id = _task_id(idempotency_key)
    subject = subjects.task(task_id)
    event = TaskSubmitted(
        task_id=task_id,
        requirement=body.requirement,
        priority=priority,
        metadata=body.metadata,
        agents=dict(ROLE_AGENT),
        idempotency_key=idempotency_key,
    )
    try:
        seq = await gateway.store.append(
            subject, event, expected_last_seq=0, correlation_id=task_id
        )
    except ConcurrencyConflict:
        return await _existing(gateway, subject, body)
    except AppendFailed:
        raise errors.ApiError(
            errors.SERVICE_UNAVAILABLE,
            "The event store is unavailable; the requirement was not accepted, try again",
            503,
        ) from None
    await gateway.caught_up_to(seq, accepted={"task_id": task_id})
    return RequirementOut(task_id=task_id, priority=priority)


async def _existing(gateway: Gateway, subject: str, body: RequirementIn) -> RequirementOut:
    """The task a previous submission with the same Idempotency-Key created."""
    events = await gateway.store.read(subject)
    first = events[0].event if events else None
    if not isinstance(first, TaskSubmitted):
        raise errors.ApiError(errors.CONFLICT, "Idempotency-Key conflicts with another task", 409)
    if first.requirement != body.requirement:
        raise errors.ApiError(
            errors.CONFLICT,
            "Idempotency-Key was already used for a different requirement",
            409,
            {"task_id": first.task_id},
        )
    await gateway.caught_up_to(events[0].seq)
    return RequirementOut(task_id=first.task_id, priority=first.priority)
