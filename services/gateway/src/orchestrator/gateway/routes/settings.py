"""``POST /api/settings`` and ``GET /api/settings``: the settings document in key-value storage.

Keys live only in the KV bucket ``settings`` (key ``current``, a ``StoredSettings`` document):
never in the event stream (``SettingsChanged`` carries field names only), logs, error messages
(validation errors about a key never echo it) or responses (``GET`` shows whether each key is set
and, for keys of 12 characters or more, its last four characters; a base URL's ``user:password@``
shows as ``***@``).

``POST`` is a partial update: fields left out keep their value. A key given as ``""`` or
``null`` is cleared. ``agents`` sets, per agent (``claude``, ``codex``, ``claude2``), its
``provider``, ``model``, ``base_url`` and an ``api_key`` of its own; a field given as ``null``
goes back to the agent's default. Updates are compare-and-set on the KV revision and retried
when another writer got in between, so two concurrent saves never lose each other's fields.
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from nats.js.errors import KeyWrongLastSequenceError
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.events import EventsError, subjects
from orchestrator.events.catalog import SettingsChanged
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.settings_document import (
    SETTINGS_KEY,
    AgentProvider,
    Provider,
    StoredSettings,
    redact_url,
)

from .. import errors
from ..bootstrap import GatewayDep
from ..jsontypes import JsonBool, Priority

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


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anthropic_api_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    openai_api_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    default_priority: Priority | None = None
    auto_save: JsonBool | None = None
    agents: dict[LlmAgent, AgentSettingsUpdate] | None = None


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
    merged = StoredSettings.model_validate(data)
    return merged, changed_fields(current, merged)


def changed_fields(before: StoredSettings, after: StoredSettings) -> list[str]:
    changed = [
        name
        for name in ("anthropic_api_key", "openai_api_key", "default_priority", "auto_save")
        if getattr(before, name) != getattr(after, name)
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
