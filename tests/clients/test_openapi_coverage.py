"""Every operation of the gateway's OpenAPI document has a method on both clients.

Operations are matched by method and path (path parameter names ignored), not by operation id,
so renaming ids does not break the match; a new route without a client method fails here.
"""

from __future__ import annotations

import re

import httpx

from orchestrator_client import AsyncClient, Client
from orchestrator_client._operations import ROUTES
from tests.harness import System

METHODS = {"get", "post", "put", "patch", "delete"}


def shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def operations(system: System) -> set[tuple[str, str]]:
    document = httpx.get(f"{system.base_url}/openapi.json", timeout=10).json()
    return {
        (method.upper(), shape(path))
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_operation_of_the_openapi_document_has_a_client_method(system: System) -> None:
    routes = {(method, shape(path)): name for (method, path), name in ROUTES.items()}
    missing = sorted(op for op in operations(system) if op not in routes)
    assert not missing, f"operations without a client method: {missing}"
    for name in routes.values():
        assert callable(getattr(Client, name)), name
        assert callable(getattr(AsyncClient, name)), name


def test_every_client_operation_is_still_in_the_openapi_document(system: System) -> None:
    stale = sorted(set((m, shape(p)) for m, p in ROUTES) - operations(system))
    assert not stale, f"client methods for operations the gateway no longer has: {stale}"
