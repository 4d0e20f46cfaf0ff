"""Settings round trip against the real gateway: keys go into KV and never come out."""

from __future__ import annotations

import asyncio
import json

import httpx
import nats

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import SettingsChanged
from orchestrator.events.settings_document import SETTINGS_KEY, StoredSettings
from tests.harness import System

ANTHROPIC_KEY = "sk-ant-test-0123456789-SECRETabcd"
OPENAI_KEY = "sk-test-9876543210-SECRETwxyz"
AGENT_KEY = "sk-agent-only-SECRET-5555"


async def stream_text(system: System) -> tuple[str, list[SettingsChanged]]:
    """Every stored event's raw bytes, and the SettingsChanged events."""
    assert system.nats is not None
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        store = EventStore(js)
        events = await store.read(subjects.EVENTS_ALL)
        raw = "\n".join(r.envelope.model_dump_json() for r in events)
        changed = [r.event for r in events if isinstance(r.event, SettingsChanged)]
        kv = await js.key_value(subjects.SETTINGS_BUCKET)
        stored = StoredSettings.model_validate_json((await kv.get(SETTINGS_KEY)).value or b"")
        assert stored.anthropic_api_key == ANTHROPIC_KEY  # the key is in KV, and only there
        return raw, changed
    finally:
        await nc.close()


def assert_no_secret(text: str) -> None:
    for secret in (ANTHROPIC_KEY, OPENAI_KEY, AGENT_KEY, "SECRET"):
        assert secret not in text


async def test_settings_round_trip_never_shows_a_key(gateway_system: System) -> None:
    async with httpx.AsyncClient(base_url=gateway_system.base_url, timeout=30) as client:
        saved = await client.post(
            "/api/settings",
            json={
                "anthropic_api_key": ANTHROPIC_KEY,
                "openai_api_key": OPENAI_KEY,
                "default_priority": 7,
                "auto_save": False,
                "agents": {
                    "codex": {
                        "provider": "openai_compatible",
                        "model": "llama3.1:8b",
                        "base_url": "http://127.0.0.1:11434/v1",
                        "api_key": AGENT_KEY,
                    }
                },
            },
        )
        assert saved.status_code == 200, saved.text
        assert_no_secret(saved.text)
        assert set(saved.json()["updated"]) >= {
            "anthropic_api_key",
            "openai_api_key",
            "default_priority",
            "auto_save",
            "agents.codex.api_key",
            "agents.codex.model",
        }
        loaded = await client.get("/api/settings")
        assert_no_secret(loaded.text)
        body = loaded.json()
        assert body["anthropic_api_key"] == {"configured": True, "last_four": "abcd"}
        assert body["openai_api_key"] == {"configured": True, "last_four": "wxyz"}
        assert body["default_priority"] == 7
        assert body["auto_save"] is False
        assert body["agents"]["codex"] == {
            "provider": "openai_compatible",
            "model": "llama3.1:8b",
            "base_url": "http://127.0.0.1:11434/v1",
            "api_key": {"configured": True, "last_four": "5555"},
        }

        await _bad_and_partial_updates(client)

    raw, changed = await stream_text(gateway_system)
    assert_no_secret(raw)
    assert changed, "SettingsChanged recorded"
    assert "anthropic_api_key" in changed[0].fields
    assert_no_secret(gateway_system.all_logs())


async def _bad_and_partial_updates(client: httpx.AsyncClient) -> None:
    # A bad value next to a key: the error names the field, never echoes the key.
    bad = await client.post("/api/settings", json={"openai_api_key": f"{OPENAI_KEY} with spaces"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_REQUEST"
    assert bad.json()["error"]["details"]["field"] == "openai_api_key"
    assert_no_secret(bad.text)

    # Partial update keeps the other fields; "" clears a key.
    partial = await client.post("/api/settings", json={"openai_api_key": ""})
    assert partial.json()["updated"] == ["openai_api_key"]
    after = (await client.get("/api/settings")).json()
    assert after["openai_api_key"] == {"configured": False, "last_four": None}
    assert after["anthropic_api_key"]["configured"] is True
    assert after["default_priority"] == 7


async def test_concurrent_saves_lose_no_field(gateway_system: System) -> None:
    async with httpx.AsyncClient(base_url=gateway_system.base_url, timeout=30) as client:
        models = {"claude": "model-a", "codex": "model-b", "claude2": "model-c"}
        replies = await asyncio.gather(
            *(
                client.post("/api/settings", json={"agents": {agent: {"model": model}}})
                for agent, model in models.items()
            ),
            client.post("/api/settings", json={"default_priority": 3}),
        )
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
        body = (await client.get("/api/settings")).json()
        assert {a: body["agents"][a]["model"] for a in models} == models
        assert body["default_priority"] == 3


def test_settings_validation_errors_use_the_envelope(gateway_system: System) -> None:
    base = gateway_system.base_url
    cases = [
        ({"default_priority": 11}, "default_priority"),
        ({"default_priority": "high"}, "default_priority"),
        ({"auto_save": "maybe"}, "auto_save"),
        ({"agents": {"ide": {"model": "x"}}}, "agents.ide"),
        ({"agents": {"codex": {"base_url": "file:///etc/passwd"}}}, "agents.codex.base_url"),
        ({"agents": {"codex": {"provider": "mystery"}}}, "agents.codex.provider"),
        ({"unknown_field": 1}, "unknown_field"),
    ]
    for payload, field in cases:
        reply = httpx.post(f"{base}/api/settings", json=payload)
        assert reply.status_code == 400, (payload, reply.text)
        error = reply.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert error["details"]["field"].startswith(field), (payload, error)
    not_json = httpx.post(
        f"{base}/api/settings", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["details"]["field"] == "body"
    assert json.dumps(not_json.json()).count("not json") == 0


def test_a_key_in_a_misnamed_field_is_not_echoed(gateway_system: System) -> None:
    reply = httpx.post(f"{gateway_system.base_url}/api/settings", json={"anthropic": ANTHROPIC_KEY})
    assert reply.status_code == 400
    assert reply.json()["error"]["details"]["field"] == "anthropic"
    assert reply.json()["error"]["details"]["received"] == "string"
    assert_no_secret(reply.text)
