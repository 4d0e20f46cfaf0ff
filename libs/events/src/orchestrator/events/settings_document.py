"""The settings document kept in the ``settings`` key-value bucket, and how it is read.

It is the only place API keys live: never in the event stream, logs, error messages or the
environment of executed code. The gateway writes it (``POST /api/settings``), the agents service
reads it before each model call, so a new key takes effect without a restart.

What a bad document means, for every reader: a stored document that does not validate is
unusable. It is read as if nothing were stored (the defaults and the agents' environment apply),
the reader logs once per revision that it is unreadable (never its content: it holds keys), and
says so in :attr:`SettingsRead.problem` so the gateway can show it; the next save replaces it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .catalog import Budget, Gate
from .pricing import Price

log = logging.getLogger(__name__)

SETTINGS_KEY = "current"

Provider = Literal["anthropic", "openai", "openai_compatible"]


class AgentProvider(BaseModel):
    """Which model serves one agent; unset fields fall back to the agent's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = Field(default=None, description="a key for this agent alone")


class StoredSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    anthropic_api_key: str | None = None
    openai_api_key: str | None = None
    default_priority: int = Field(default=5, ge=1, le=10)
    auto_save: bool = True
    agents: dict[str, AgentProvider] = Field(default_factory=dict)
    pricing: dict[str, Price] = Field(
        default_factory=dict,
        description="USD per million tokens by model-name prefix; adds to the shipped prices",
    )
    default_budget: Budget | None = None
    require_approval: tuple[Gate, ...] = ()
    """The gates a requirement that names none stops at."""
    approval_timeout_s: float | None = Field(default=None, gt=0)
    max_feedback_rounds: int = Field(default=3, ge=0, le=20)


@dataclass(frozen=True)
class SettingsRead:
    document: StoredSettings
    revision: int | None
    """The KV revision read (None: nothing was ever saved); a save compares-and-sets on it."""
    problem: str | None = None
    """Why the stored document could not be used, when it could not (never its content)."""


class SettingsReader:
    """Reads the document with the one answer to a bad document (see the module docstring)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self._reported: int | None = None

    async def read(self) -> SettingsRead:
        try:
            entry = await self.kv.get(SETTINGS_KEY)
        except (KeyNotFoundError, NotFoundError):
            return SettingsRead(StoredSettings(), None)
        try:
            return SettingsRead(
                StoredSettings.model_validate_json(entry.value or b"{}"), entry.revision
            )
        except ValidationError as exc:
            fields = sorted(
                {".".join(str(p) for p in e["loc"]) or "document" for e in exc.errors()}
            )
            problem = f"the stored settings document is unreadable ({', '.join(fields)})"
            if entry.revision != self._reported:
                self._reported = entry.revision
                log.error("%s; using the defaults until it is saved again", problem)
            return SettingsRead(StoredSettings(), entry.revision, problem)


def redact_url(url: str | None) -> str | None:
    """A base URL as it may be shown: a ``user:password@`` part (credentials) masked."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


__all__ = [
    "SETTINGS_KEY",
    "AgentProvider",
    "Provider",
    "SettingsRead",
    "SettingsReader",
    "StoredSettings",
    "redact_url",
]
