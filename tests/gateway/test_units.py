"""Pure parts of the gateway: settings merge, key masking, sizes, Host parsing."""

from __future__ import annotations

from orchestrator.events.settings_document import AgentProvider, StoredSettings
from orchestrator.gateway.projections.archives import human_size
from orchestrator.gateway.routes.settings import SettingsUpdate, key_status, merge
from orchestrator.gateway.security import host_name


def test_merge_is_partial_and_names_what_changed() -> None:
    current = StoredSettings(
        anthropic_api_key="sk-ant-aaaaaaaaaaaa",
        agents={"codex": AgentProvider(model="m1", base_url="http://x")},
    )
    update = SettingsUpdate.model_validate(
        {"default_priority": 9, "agents": {"codex": {"model": None}, "claude": {"model": "c"}}}
    )
    merged, changed = merge(current, update)
    assert merged.anthropic_api_key == "sk-ant-aaaaaaaaaaaa"
    assert merged.default_priority == 9
    assert merged.agents["codex"] == AgentProvider(base_url="http://x")
    assert merged.agents["claude"].model == "c"
    assert changed == ["default_priority", "agents.claude.model", "agents.codex.model"]
    cleared, changed = merge(merged, SettingsUpdate.model_validate({"anthropic_api_key": None}))
    assert cleared.anthropic_api_key is None
    assert changed == ["anthropic_api_key"]
    _, nothing = merge(cleared, SettingsUpdate.model_validate({}))
    assert nothing == []


def test_key_status_shows_only_the_last_four_of_long_keys() -> None:
    assert key_status(None).model_dump() == {"configured": False, "last_four": None}
    assert key_status("sk-0123456789abcd").model_dump() == {
        "configured": True,
        "last_four": "abcd",
    }
    assert key_status("short").model_dump() == {"configured": True, "last_four": None}


def test_sizes_as_the_contract_writes_them() -> None:
    assert human_size(0) == "0B"
    assert human_size(1023) == "1023B"
    assert human_size(15565) == "15.2KB"
    assert human_size(3 * 1024 * 1024) == "3.0MB"


def test_host_name() -> None:
    assert host_name("localhost:8100") == "localhost"
    assert host_name("[::1]:8100") == "[::1]"
    assert host_name("EVIL.example") == "evil.example"
    assert host_name("127.0.0.1") == "127.0.0.1"
