"""Provider resolution as the gateway sees it (from heartbeats) agrees with the agents' own."""

from __future__ import annotations

from pydantic import SecretStr

from orchestrator.events.agent_providers import (
    ProviderEnvironment,
    missing_keys,
    resolve,
)
from orchestrator.events.settings_document import AgentProvider, StoredSettings


def test_a_heartbeat_view_of_the_environment_resolves_like_the_environment() -> None:
    real = ProviderEnvironment(keys={"openai": SecretStr("sk-real")}, models={"codex": "gpt-x"})
    reported = ProviderEnvironment.as_reported(("openai",), {"codex": "gpt-x"})
    for stored in (
        StoredSettings(),
        StoredSettings(anthropic_api_key="kv-a"),
        StoredSettings(agents={"claude": AgentProvider(provider="openai")}),
        StoredSettings(agents={"claude2": AgentProvider(provider="openai_compatible")}),
    ):
        assert missing_keys(stored, real) == missing_keys(stored, reported), stored
    assert resolve("codex", StoredSettings(), reported).model == "gpt-x"
    assert "sk-real" not in str(resolve("codex", StoredSettings(), real).public())


def test_missing_keys_names_each_agent_with_its_provider() -> None:
    nothing = ProviderEnvironment()
    assert missing_keys(StoredSettings(), nothing) == {
        "claude": "anthropic",
        "codex": "openai",
        "claude2": "anthropic",
    }
    stored = StoredSettings(
        openai_api_key="kv-o", agents={"claude2": AgentProvider(api_key="own-key")}
    )
    assert missing_keys(stored, nothing) == {"claude": "anthropic"}
    local = StoredSettings(agents={"claude": AgentProvider(provider="openai_compatible")})
    assert "claude" not in missing_keys(local, nothing)
