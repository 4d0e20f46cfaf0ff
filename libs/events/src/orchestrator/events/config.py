"""The settings document kept in the ``settings`` key-value bucket.

It is the only place API keys live: never in the event stream, logs, error messages or the
environment of executed code. The gateway writes it (``POST /api/settings``), the agents service
watches it, so a new key takes effect on the next model call without a restart.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

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


def redact_url(url: str | None) -> str | None:
    """A base URL as it may be shown: a ``user:password@`` part (credentials) masked."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
