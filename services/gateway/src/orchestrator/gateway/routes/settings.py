"""``POST /api/settings`` and ``GET /api/settings``: the settings document in key-value storage.

Keys live only in the KV bucket ``settings`` (key ``current``, a ``StoredSettings`` document):
never in the event stream (``SettingsChanged`` carries field names only), logs, error messages
(validation errors about a key never echo it) or responses (``GET`` shows whether each key is set
and, for keys of 12 characters or more, its last four characters; a base URL's ``user:password@``
shows as ``***@``).

``POST`` is a partial update: fields left out keep their value. A key given as ``""`` or
``null`` is cleared. ``agents`` sets, per agent (``claude``, ``codex``, ``claude2``), its
``provider``, ``model``, ``base_url`` and an ``api_key`` of its own; a field given as ``null``
goes back to the agent's default. ``pricing`` (model-name prefix -> ``{"input", "output"}`` USD
per million tokens; an entry given as ``null`` is removed), ``default_budget``,
``require_approval``, ``approval_timeout_s`` and ``max_feedback_rounds`` steer spending and
approval (``null`` clears them). Updates are compare-and-set on the KV revision and retried
when another writer got in between, so two concurrent saves never lose each other's fields.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from nats.js.errors import KeyWrongLastSequenceError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictInt

from orchestrator.events import EventsError, subjects
from orchestrator.events.catalog import Budget, Gate, SettingsChanged
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.pricing import DEFAULT_PRICES, Price
from orchestrator.events.settings_document import (
    SETTINGS_KEY,
    AgentProvider,
    Provider,
    StoredSettings,
    redact_url,
)

from .. import errors
from ..bootstrap import GatewayDep
from ..jsontypes import JsonBool, Priority, integral
from .requirements import BudgetIn, Money

log = logging.getLogger(__name__)

router = APIRouter(tags=["settings"])

LlmAgent = Literal["claude", "codex", "claude2"]
KEY_PATTERN = r"^[\x21-\x7e]{0,500}$"  # printable ASCII, no spaces: what provider keys are
MODEL_PATTERN = r"^[A-Za-z0-9._:/@+-]{1,200}$"
URL_PATTERN = r"^https?://[^\s]{1,490}$"
SHOW_SUFFIX_FROM = 12
CAS_ATTEMPTS = 10


class AgentSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider | None = None
    model: str | None = Field(default=None, pattern=MODEL_PATTERN)
    base_url: str | None = Field(default=None, pattern=URL_PATTERN)
    api_key: str | None = Field(default=None, pattern=KEY_PATTERN)


FeedbackRounds = Annotated[StrictInt, Field(ge=0, le=20), BeforeValidator(integral)]


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Annotated[StrictFloat, Field(ge=0, le=100_000)]
    output: Annotated[StrictFloat, Field(ge=0, le=100_000)]


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anthropic_api_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    openai_api_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    default_priority: Priority | None = None
    auto_save: JsonBool | None = None
    agents: dict[LlmAgent, AgentSettingsUpdate] | None = None
    pricing: dict[str, PriceIn | None] | None = Field(
        default=None,
        description="model-name prefix -> price (the longest matching prefix applies; "
        '"" prices every model nothing else prices); null removes an entry',
    )
    default_budget: BudgetIn | None = None
    require_approval: list[Gate] | None = None
    approval_timeout_s: Money | None = None
    max_feedback_rounds: FeedbackRounds | None = None


class KeyStatus(BaseModel):
    configured: bool
    last_four: str | None = None


class AgentSettingsView(BaseModel):
    provider: Provider | None
    model: str | None
    base_url: str | None
    api_key: KeyStatus


class SettingsView(BaseModel):
    anthropic_api_key: KeyStatus
    openai_api_key: KeyStatus
    default_priority: int
    auto_save: bool
    agents: dict[str, AgentSettingsView]
    pricing: dict[str, Price] = Field(description="the settings' prices over the shipped ones")
    default_budget: Budget | None = None
    require_approval: list[Gate] = Field(default_factory=list)
    approval_timeout_s: float | None = None
    max_feedback_rounds: int = 3
    problem: str | None = None
    """Set when the stored document is unreadable (the defaults apply until the next save)."""


class SettingsSaved(BaseModel):
    status: Literal["saved"]
    updated: list[str]
    settings: SettingsView


def key_status(key: str | None) -> KeyStatus:
    if not key:
        return KeyStatus(configured=False)
    return KeyStatus(configured=True, last_four=key[-4:] if len(key) >= SHOW_SUFFIX_FROM else None)


def view(stored: StoredSettings, problem: str | None = None) -> SettingsView:
    return SettingsView(
        problem=problem,
        anthropic_api_key=key_status(stored.anthropic_api_key),
        openai_api_key=key_status(stored.openai_api_key),
        default_priority=stored.default_priority,
        auto_save=stored.auto_save,
        agents={
            name: AgentSettingsView(
                provider=agent.provider,
                model=agent.model,
                base_url=redact_url(agent.base_url),
                api_key=key_status(agent.api_key),
            )
            for name, agent in sorted(stored.agents.items())
        },
        pricing=dict(sorted({**DEFAULT_PRICES, **stored.pricing}.items())),
        default_budget=stored.default_budget,
        require_approval=list(stored.require_approval),
        approval_timeout_s=stored.approval_timeout_s,
        max_feedback_rounds=stored.max_feedback_rounds,
    )


def merge(current: StoredSettings, update: SettingsUpdate) -> tuple[StoredSettings, list[str]]:
    """The document after ``update``, and the names of the fields that changed. Pure."""
    given = update.model_fields_set
    data = current.model_dump()
    for name in ("anthropic_api_key", "openai_api_key"):
        if name in given:
            data[name] = getattr(update, name) or None
    for name in ("default_priority", "auto_save"):
        if name in given and getattr(update, name) is not None:
            data[name] = getattr(update, name)
    if "agents" in given and update.agents:
        agents = dict(data["agents"])
        for agent, change in update.agents.items():
            entry = dict(agents.get(agent) or {})
            for name in change.model_fields_set:
                value = getattr(change, name)
                if name == "base_url" and value and value == redact_url(entry.get(name)):
                    continue  # the masked URL GET showed, sent back: keep the real one
                entry[name] = value or None
            agents[agent] = entry
        data["agents"] = {
            name: entry
            for name, entry in agents.items()
            if any(v is not None for v in entry.values())
        }
    _merge_steering(data, update, given)
    merged = StoredSettings.model_validate(data)
    return merged, changed_fields(current, merged)


def _merge_steering(data: dict[str, Any], update: SettingsUpdate, given: set[str]) -> None:
    """Prices, the default budget and the approval defaults, merged into ``data``."""
    if "pricing" in given and update.pricing:
        prices = dict(data["pricing"])
        for model, price in update.pricing.items():
            if price is None:
                prices.pop(model, None)
            else:
                prices[model] = {"input": float(price.input), "output": float(price.output)}
        data["pricing"] = prices
    if "default_budget" in given:
        budget = update.default_budget
        chosen = budget.budget() if budget is not None else None
        data["default_budget"] = chosen.model_dump() if chosen is not None else None
    if "require_approval" in given:
        data["require_approval"] = tuple(update.require_approval or ())
    if "approval_timeout_s" in given:
        data["approval_timeout_s"] = update.approval_timeout_s
    if "max_feedback_rounds" in given and update.max_feedback_rounds is not None:
        data["max_feedback_rounds"] = update.max_feedback_rounds


def changed_fields(before: StoredSettings, after: StoredSettings) -> list[str]:
    changed = [
        name
        for name in (
            "anthropic_api_key",
            "openai_api_key",
            "default_priority",
            "auto_save",
            "default_budget",
            "require_approval",
            "approval_timeout_s",
            "max_feedback_rounds",
        )
        if getattr(before, name) != getattr(after, name)
    ]
    changed += [
        f"pricing.{model}"
        for model in sorted(set(before.pricing) | set(after.pricing))
        if before.pricing.get(model) != after.pricing.get(model)
    ]
    empty = AgentProvider()
    for agent in sorted(set(before.agents) | set(after.agents)):
        old, new = before.agents.get(agent, empty), after.agents.get(agent, empty)
        changed += [
            f"agents.{agent}.{name}"
            for name in ("provider", "model", "base_url", "api_key")
            if getattr(old, name) != getattr(new, name)
        ]
    return changed


@router.get("/api/settings", response_model=SettingsView, summary="Load settings (keys masked)")
async def get_settings(gateway: GatewayDep) -> SettingsView:
    read = await gateway.settings_reader.read()
    return view(read.document, read.problem)


@router.post(
    "/api/settings",
    response_model=SettingsSaved,
    responses=errors.responses(409),
    summary="Save settings (partial update)",
)
async def save_settings(update: SettingsUpdate, gateway: GatewayDep) -> SettingsSaved:
    kv = gateway.settings_kv
    for _ in range(CAS_ATTEMPTS):
        read = await gateway.settings_reader.read()
        current, revision = read.document, read.revision
        merged, changed = merge(current, update)
        if not changed:
            return SettingsSaved(status="saved", updated=[], settings=view(merged))
        data = merged.model_dump_json().encode()
        try:
            if revision is None:
                await kv.create(SETTINGS_KEY, data)
            else:
                await kv.update(SETTINGS_KEY, data, last=revision)
        except KeyWrongLastSequenceError:
            continue  # someone saved meanwhile: merge into theirs
        break
    else:
        raise errors.ApiError(
            ErrorCode.CONFLICT, "Settings kept changing while saving; retry", 409, {}
        )
    try:
        await gateway.store.append(subjects.SETTINGS, SettingsChanged(fields=tuple(changed)))
    except EventsError:
        # The settings are saved (KV is their only home); the event only tells watchers.
        log.warning("settings saved but SettingsChanged not recorded: %s", changed)
    return SettingsSaved(status="saved", updated=changed, settings=view(merged))
