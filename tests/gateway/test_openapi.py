"""The OpenAPI document a client generator reads: short operation ids, path parameter patterns
that are the routes' own checks, links that resolve, and a 405 whose Allow is the path's methods.

Built from ``create_app()`` without starting it: the document and the router's 405 need no NATS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.events.paths import UnsafePath, safe_relative_path
from orchestrator.gateway import params
from orchestrator.gateway.app import create_app

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # No ``with``: the lifespan (NATS) is not started; routing and the document need none of it.
    yield TestClient(create_app(), base_url="http://127.0.0.1:8100")


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/openapi.json").json()
    return data


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_operation_ids_are_the_route_names(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    for name in ids:
        assert re.fullmatch(r"[a-z][a-z_]*", name) and "_api_" not in name, name
    assert {"submit_requirement", "get_task", "cancel_task", "retry_task", "task_events"} <= set(
        ids
    )


def test_every_path_parameter_declares_the_pattern_its_route_checks(
    document: dict[str, Any],
) -> None:
    expected = {
        "task_id": params.TASK_ID,
        "execution_id": params.EXECUTION_ID,
        "archive_name": params.ARCHIVE_NAME,
        "filename": params.FILE_PATH,
    }
    seen = set()
    for path, _, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["pattern"] == expected[parameter["name"]], path
                seen.add(parameter["name"])
    assert seen == set(expected)


def test_issued_ids_match_their_patterns() -> None:
    from orchestrator.gateway.routes.requirements import _task_id

    assert params.matches(params.TASK_ID, _task_id(None))
    assert params.matches(params.TASK_ID, _task_id("some idempotency key"))
    assert not params.matches(params.TASK_ID, "task_nope")


PATHS = [
    "app.py", "implementation/app.py", "workspace/a/b.txt", ".env", "a/.hidden", "...", "..a",
    "a..b/c", "~x", "a/~x", "", "/abs", "a//b", "a/./b", "./a", "a/..", "../a", "a/../b", ".",
    "..", "a\\b", "a%2e", "a\x00b", "a\nb", "a\tb", "ünïcødé/файл.py", "a b/c d.py", "a/",
    "x" * 600,
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
def test_the_file_path_pattern_is_the_workspace_rule(path: str) -> None:
    try:
        safe_relative_path(path)
        safe = True
    except UnsafePath:
        safe = False
    declared = params.matches(params.FILE_PATH, path) and len(path) <= params.FILE_PATH_MAX
    assert declared == safe


def test_links_name_existing_operations_and_their_parameters(document: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(document)}
    count = 0
    for _, _, operation in operations(document):
        for name, link in operation["responses"]["200"].get("links", {}).items():
            target = by_id[link["operationId"]]
            path_params = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
            assert set(link["parameters"]) == path_params, name
            count += 1
    assert by_id["submit_requirement"]["responses"]["200"]["links"].keys() == {
        "GetTask", "TaskEvents", "CancelTask", "RetryTask",
    }  # fmt: skip
    assert "BrowseArchive" in by_id["reset_project"]["responses"]["200"]["links"]
    for steering in ("approve_task", "task_feedback"):
        back = by_id[steering]["responses"]["200"]["links"]["GetTask"]
        assert back == {
            "operationId": "get_task",
            "parameters": {"task_id": "$response.body#/task_id"},
            "description": "The task",
        }, steering
    listing = by_id["browse_archive"]["responses"]["200"]["links"]
    assert {name: link["operationId"] for name, link in listing.items()} == {
        "ViewArchivedFile": "archived_file",
        "RestoreArchivedFile": "restore_file",
    }
    for link in listing.values():
        assert link["parameters"] == {
            "archive_name": "$response.body#/archive",
            "filename": "$response.body#/files/0/path",
        }
    assert count >= 14


def test_a_405_allows_exactly_the_methods_of_its_path(
    client: TestClient, document: dict[str, Any]
) -> None:
    for path, item in document["paths"].items():
        declared = {m.upper() for m in item if m in METHODS}
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        concrete = (
            concrete.replace("/x", "/task_" + "0" * 32, 1) if "{task_id}" in path else concrete
        )
        wrong = next(m for m in ("PATCH", "PUT", "DELETE") if m not in declared)
        response = client.request(wrong, concrete)
        assert response.status_code == 405, (wrong, path)
        assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed == declared, path


def test_the_docs_and_the_dashboard_are_served_from_here(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text and "http://" not in page.text
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/dashboard/"), asset
        assert client.get(asset).status_code == 200, asset
    index = client.get("/")
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "connect-src 'self' ws://127.0.0.1:8100" in csp
    assert "<script>" not in index.text and " style=" not in index.text
