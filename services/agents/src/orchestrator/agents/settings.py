"""Agents service settings, from environment variables; bad values stop the service at start.

The provider keys and base URLs are read from the SDKs' own variables (``ANTHROPIC_API_KEY``,
``ANTHROPIC_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) so an existing setup just works;
the settings document in the key-value store, when it names a key or a base URL, wins.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from orchestrator.events.agent_providers import DEFAULT_MODEL, ProviderEnvironment
from orchestrator.events.nats_settings import NatsSettings


class AgentsSettings(NatsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "anthropic_base_url")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )

    @field_validator(
        "anthropic_api_key",
        "openai_api_key",
        "anthropic_base_url",
        "openai_base_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # ``ANTHROPIC_API_KEY=`` (set but empty) means no key, as it does for the SDKs.
        return None if value == "" else value

    agents_max_concurrency: int = Field(
        default=4, ge=1, le=256, description="stages one replica runs at once"
    )
    agents_prefetch: int = Field(
        default=64,
        ge=1,
        description="messages a replica fetches ahead and orders by priority; more orders a "
        "longer queue, fewer leaves more for other replicas",
    )
    agents_max_rounds: int = Field(
        default=3, ge=1, le=20, description="implementation rounds before validation gives up"
    )
    agents_llm_timeout: float = Field(
        default=300.0, gt=0, description="seconds one model call may take"
    )
    agents_llm_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="retries of a failed model call, done by the SDK (the only retrying layer)",
    )
    agents_max_tokens: int = Field(default=8192, ge=256, description="max output tokens per call")
    agents_min_output_tokens: int = Field(
        default=256,
        ge=1,
        description="a call the task's budget leaves fewer output tokens than this is not made",
    )
    agents_ack_wait: float = Field(
        default=30.0, gt=0, description="seconds before a silent replica's work is redelivered"
    )
    agents_settings_refresh: float = Field(
        default=1.0, gt=0, description="seconds between re-reads of the settings document"
    )
    agents_heartbeat_interval: float = Field(default=2.0, gt=0)
    agents_claude_model: str = DEFAULT_MODEL["claude"]
    agents_codex_model: str = DEFAULT_MODEL["codex"]
    agents_claude2_model: str = DEFAULT_MODEL["claude2"]
    agents_stream_output: bool = Field(
        default=True, description="stream model tokens to live.output.<task_id> while they arrive"
    )

    def provider_environment(self) -> ProviderEnvironment:
        """What this environment supplies to the shared provider resolution."""
        keys = {"anthropic": self.anthropic_api_key, "openai": self.openai_api_key}
        urls = {"anthropic": self.anthropic_base_url, "openai": self.openai_base_url}
        return ProviderEnvironment(
            keys={family: key for family, key in keys.items() if key is not None},
            base_urls={family: url for family, url in urls.items() if url},
            models={
                "claude": self.agents_claude_model,
                "codex": self.agents_codex_model,
                "claude2": self.agents_claude2_model,
            },
        )
