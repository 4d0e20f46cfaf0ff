"""The error contract on the real gateway: every failure is the envelope, with the right code."""

from __future__ import annotations

from typing import Any

import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orchestrator.gateway import errors
from tests.harness import System


def assert_envelope(reply: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in reply.text
    error: dict[str, Any] = body["error"]
    return error


def test_missing_requirement_is_the_contracts_example_exactly(gateway_system: System) -> None:
    reply = requests.post(
        f"{gateway_system.base_url}/api/requirements", json={"priority": 5}, timeout=10
    )
    assert reply.json() == {
        "error": {
            "code": "INVALID_REQUEST",
            "message": "Missing required field: requirement",
            "details": {"field": "requirement", "expected": "string", "received": "null"},
        }
    }
    assert reply.status_code == 400


def test_bad_input_everywhere_is_an_envelope(gateway_system: System) -> None:
    base = gateway_system.base_url
    wrong_type = assert_envelope(
        requests.post(f"{base}/api/requirements", json={"requirement": 42}, timeout=10),
        400,
        "INVALID_REQUEST",
    )
    assert wrong_type["details"]["field"] == "requirement"
    assert wrong_type["details"]["received"] == "integer"
    not_json = assert_envelope(
        requests.post(
            f"{base}/api/requirements",
            data="{",
            headers={"Content-Type": "application/json"},
            timeout=10,
        ),
        400,
        "INVALID_REQUEST",
    )
    assert not_json["details"]["field"] == "body"
    assert_envelope(requests.get(f"{base}/api/nope", timeout=10), 404, "NOT_FOUND")
    not_allowed = requests.delete(f"{base}/api/requirements", timeout=10)
    assert_envelope(not_allowed, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in not_allowed.headers["Allow"]
    assert_envelope(requests.get(f"{base}/api/tasks/task_nope", timeout=10), 404, "TASK_NOT_FOUND")
    assert_envelope(
        requests.get(f"{base}/api/archive/nope/files", timeout=10), 404, "ARCHIVE_NOT_FOUND"
    )
    assert_envelope(
        requests.post(f"{base}/api/requirements", data="x", timeout=10),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


def test_integers_beyond_64_bits_in_metadata_are_kept_exactly_and_break_nothing(
    gateway_system: System,
) -> None:
    """schemathesis found it: metadata is free-form JSON, and an ended task's frozen detail
    (orjson) failed to encode such a one, so every gateway retried that event forever and
    applied none after it."""
    base = gateway_system.base_url
    wide = {"n": 2**70, "deep": [{"m": -(2**80), "edge": 2**64 - 1}]}
    submitted = requests.post(
        f"{base}/api/requirements", json={"requirement": "count", "metadata": wide}, timeout=10
    )
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    cancelled = requests.post(f"{base}/api/tasks/{task_id}/cancel", timeout=10)
    assert cancelled.status_code == 200, cancelled.text  # an ended task is frozen
    task = requests.get(f"{base}/api/tasks/{task_id}", timeout=10).json()
    assert task["status"] == "cancelled" and task["metadata"] == wide
    after = requests.post(f"{base}/api/requirements", json={"requirement": "next"}, timeout=10)
    assert after.status_code == 200, after.text  # events after it are still applied:
    listed = requests.get(f"{base}/api/tasks/{after.json()['task_id']}", timeout=10)
    assert listed.status_code == 200, listed.text


def test_an_unexpected_exception_is_a_500_envelope_without_a_trace() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as client:
        reply = client.get("/boom")
    assert reply.status_code == 500
    assert reply.json() == {
        "error": {"code": "INTERNAL_ERROR", "message": "Internal server error", "details": {}}
    }
    assert "secret internals" not in reply.text


def test_openapi_documents_every_error(gateway_system: System) -> None:
    schema = requests.get(f"{gateway_system.base_url}/openapi.json", timeout=10).json()
    assert "ErrorResponse" in schema["components"]["schemas"]
    paths = schema["paths"]
    for path in (
        "/api/project/reset",
        "/api/archive",
        "/api/archive/{archive_name}/files",
        "/api/archive/{archive_name}/files/{filename}",
        "/api/archive/{archive_name}/restore/{filename}",
        "/api/settings",
        "/api/requirements",
    ):
        assert path in paths, path
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status in ("400", "403", "500"):
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (method, path, status)
            if "{" in path:
                assert "404" in responses, (method, path)
    assert "429" in paths["/api/requirements"]["post"]["responses"]
    assert "Retry-After" in paths["/api/requirements"]["post"]["responses"]["429"]["headers"]
