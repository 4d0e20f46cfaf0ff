"""Which provider, model, base URL and key serve each LLM agent: one rule for every service.

Resolution, pure: the settings document's entry for the agent, then the document's key for the
provider, then the agents service's environment (``ANTHROPIC_*`` / ``OPENAI_*``), then the
agent's defaults. The agents service resolves with its real environment; the gateway, which must
refuse a submission no key could serve, resolves with what the agents' heartbeats say their
environment holds (which providers have a key, never the key), so both apply the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from .settings_document import Provider, StoredSettings, redact_url

LLM_AGENTS: tuple[str, ...] = ("claude", "codex", "claude2")
DEFAULT_PROVIDER: dict[str, Provider] = {
    "claude": "anthropic",
    "codex": "openai",
    "claude2": "anthropic",
}
DEFAULT_MODEL: dict[str, str] = {
    "claude": "claude-sonnet-4-6",
    "codex": "gpt-4.1",
    "claude2": "claude-sonnet-4-6",
}
KEY_FAMILY: dict[Provider, str] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "openai_compatible": "openai",
}
"""Whose environment key and base URL a provider falls back to."""


@dataclass(frozen=True)
class ProviderEnvironment:
    """What the agents service's environment supplies: keys and base URLs by key family
    (``anthropic``, ``openai``) and each agent's default model."""

    keys: Mapping[str, SecretStr] = field(default_factory=dict)
    base_urls: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MODEL))

    @classmethod
    def as_reported(
        cls, key_families: tuple[str, ...], models: Mapping[str, str]
    ) -> ProviderEnvironment:
        """An environment known only by which families have a key (a heartbeat's view)."""
        return cls(
            keys={f: SecretStr("(set in the agents' environment)") for f in key_families},
            models=models,
        )


@dataclass(frozen=True)
class ResolvedProvider:
    agent: str
    provider: Provider
    model: str
    base_url: str | None
    api_key: SecretStr | None

    @property
    def key_configured(self) -> bool:
        # A local OpenAI-compatible server usually needs no key at all.
        return self.api_key is not None or self.provider == "openai_compatible"

    def public(self) -> dict[str, Any]:
        """What may be shown anywhere: everything but the key."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": redact_url(self.base_url),
            "key_configured": self.key_configured,
        }


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def resolve(agent: str, stored: StoredSettings, env: ProviderEnvironment) -> ResolvedProvider:
    entry = stored.agents.get(agent)
    provider: Provider = (entry.provider if entry else None) or DEFAULT_PROVIDER[agent]
    model = (entry.model if entry else None) or env.models.get(agent) or DEFAULT_MODEL[agent]
    family = KEY_FAMILY[provider]
    stored_key = stored.anthropic_api_key if family == "anthropic" else stored.openai_api_key
    key = _secret(stored_key) or env.keys.get(family)
    base_url = env.base_urls.get(family)
    if entry is not None and entry.api_key:
        key = SecretStr(entry.api_key)
    if entry is not None and entry.base_url:
        base_url = entry.base_url
    return ResolvedProvider(agent, provider, model, base_url, key)


def missing_keys(stored: StoredSettings, env: ProviderEnvironment) -> dict[str, str]:
    """The LLM agents no key would serve, with their provider."""
    missing: dict[str, str] = {}
    for agent in LLM_AGENTS:
        resolved = resolve(agent, stored, env)
        if not resolved.key_configured:
            missing[agent] = resolved.provider
    return missing


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PROVIDER",
    "LLM_AGENTS",
    "ProviderEnvironment",
    "ResolvedProvider",
    "missing_keys",
    "resolve",
]
