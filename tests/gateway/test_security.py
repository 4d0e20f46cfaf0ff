"""Localhost safety against the real gateway process, with real HTTP and WebSocket clients.

What a browser page on another site could send is refused; what the contract's SDK (``requests``,
``websocket-client``, no ``Origin``) sends works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket

from orchestrator.launcher.nats_server import free_port
from tests.harness import System

EVIL = "http://evil.example"


def test_cross_site_post_is_refused_and_the_same_post_from_the_sdk_works(
    gateway_system: System,
) -> None:
    url = f"{gateway_system.base_url}/api/settings"
    # A form a page on another site could auto-submit: no preflight, text/plain body.
    for headers, body in [
        ({"Origin": EVIL, "Content-Type": "text/plain"}, '{"default_priority": 2}'),
        ({"Origin": EVIL, "Content-Type": "application/json"}, '{"default_priority": 2}'),
        ({"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"}, "a=1"),
    ]:
        reply = requests.post(url, data=body, headers=headers, timeout=10)
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["code"] == "FORBIDDEN"
        assert "access-control-allow-origin" not in {k.lower() for k in reply.headers}
    # Same site, but not JSON: refused before any route sees it.
    plain = requests.post(
        url, data='{"default_priority": 2}', headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert plain.status_code == 415
    assert plain.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    # The settings did not change.
    assert requests.get(url, timeout=10).json()["default_priority"] != 2
    # The SDK's way: requests.post(json=...), no Origin.
    ok = requests.post(url, json={"default_priority": 2}, timeout=10)
    assert ok.status_code == 200, ok.text
    # The gateway's own origin (its UI) is allowed.
    own = requests.post(
        url,
        json={"default_priority": 4},
        headers={"Origin": f"http://localhost:{gateway_system.gateway_port}"},
        timeout=10,
    )
    assert own.status_code == 200, own.text


def test_rebound_host_is_refused(gateway_system: System) -> None:
    port = gateway_system.gateway_port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        reply = requests.get(
            f"{gateway_system.base_url}/api/health", headers={"Host": host}, timeout=10
        )
        assert reply.status_code == 403, host
        assert reply.json()["error"] == {
            "code": "FORBIDDEN",
            "message": "Host not allowed",
            "details": {},
        }
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        reply = requests.get(
            f"{gateway_system.base_url}/api/health", headers={"Host": host}, timeout=10
        )
        assert reply.status_code == 200, host
    ws_reply = websocket.WebSocket()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ws_reply.connect(  # type: ignore[no-untyped-call]  # websocket-client: untyped
            f"{gateway_system.ws_url}/ws", host=f"evil.example:{port}", timeout=10
        )
    assert refused.value.status_code == 403


def test_foreign_origin_websocket_is_refused_and_the_sdk_websocket_works(
    gateway_system: System,
) -> None:
    url = f"{gateway_system.ws_url}/ws"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, origin=EVIL, timeout=10)
    assert refused.value.status_code == 403
    # websocket-client as the SDK imports it (no Origin unless asked): accepted, and it gets
    # system_health frames.
    ws = websocket.create_connection(url, timeout=10, suppress_origin=True)
    try:
        frame = _next_frame(ws, "system_health")
    finally:
        ws.close()
    assert set(frame) >= {"type", "cpu_usage", "memory_usage", "active_tasks", "queue_length"}
    assert 0 <= frame["cpu_usage"] <= 100
    assert 0 < frame["memory_usage"] <= 100
    assert isinstance(frame["active_tasks"], int)
    assert isinstance(frame["queue_length"], int)
    # A browser on the gateway's own origin is allowed too.
    own = websocket.create_connection(
        url, origin=f"http://127.0.0.1:{gateway_system.gateway_port}", timeout=10
    )
    own.close()


def _next_frame(ws: websocket.WebSocket, kind: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame: dict[str, Any] = json.loads(ws.recv())
        if frame.get("type") == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


def test_oversized_body_is_refused(gateway_system: System) -> None:
    url = f"{gateway_system.base_url}/api/requirements"
    big = {"requirement": "x" * 2_000_000}
    reply = requests.post(url, json=big, timeout=30)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(40):
            yield b"x" * 65536

    chunked = requests.post(
        url, data=chunks(), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert chunked.status_code == 413


@pytest.fixture(scope="module")
def token_system(tmp_path_factory: pytest.TempPathFactory) -> object:
    system = System(root=tmp_path_factory.mktemp("token"), env={"HEALTH_INTERVAL": "0.5"})
    system.start_nats()
    process = system.start("gateway", GATEWAY_TOKEN="s3cret-token-value")
    system.wait_ready({"gateway": process}, token="s3cret-token-value")
    yield system
    system.stop()


def test_token_locks_every_route(token_system: System) -> None:
    base = token_system.base_url
    for method, path in [("get", "/api/health"), ("get", "/api/tasks"), ("get", "/openapi.json")]:
        reply = requests.request(method, f"{base}{path}", timeout=10)
        assert reply.status_code == 401, path
        assert reply.json()["error"]["code"] == "UNAUTHORIZED"
        assert reply.headers["WWW-Authenticate"] == "Bearer"
        wrong = requests.request(
            method, f"{base}{path}", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 401
        good = requests.request(
            method,
            f"{base}{path}",
            headers={"Authorization": "Bearer s3cret-token-value"},
            timeout=10,
        )
        assert good.status_code == 200, path
    assert "s3cret-token-value" not in token_system.all_logs()


def test_token_for_websocket_by_header_or_first_message(token_system: System) -> None:
    url = f"{token_system.ws_url}/ws"
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(url, header=["Authorization: Bearer nope"], timeout=10)
    by_header = websocket.create_connection(
        url, header=["Authorization: Bearer s3cret-token-value"], timeout=10
    )
    assert _next_frame(by_header, "system_health")
    by_header.close()

    by_message = websocket.create_connection(url, timeout=10)
    by_message.send(json.dumps({"type": "auth", "token": "s3cret-token-value"}))
    assert _next_frame(by_message, "system_health")
    by_message.close()

    wrong = websocket.create_connection(url, timeout=10)
    wrong.send(json.dumps({"type": "auth", "token": "guess"}))
    opcode, data = wrong.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1008
    wrong.close()


def test_non_loopback_bind_without_token_is_refused_at_start() -> None:
    env = {**os.environ, "GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": str(free_port())}
    env.pop("GATEWAY_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.gateway"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "GATEWAY_TOKEN" in result.stderr


def test_oversized_websocket_message_closes_the_socket(gateway_system: System) -> None:
    ws = websocket.create_connection(f"{gateway_system.ws_url}/ws", timeout=10)
    try:
        ws.send("x" * (1024 * 1024 + 1))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                assert int.from_bytes(data[:2], "big") == 1009
                return
        raise AssertionError("socket not closed")
    finally:
        ws.close()
