"""The public surface of ``orchestrator_client`` is exactly ``__all__`` (as httpx pins its own)."""

from __future__ import annotations

import types

import orchestrator_client


def test_all_public_members_are_in_all_and_sorted() -> None:
    public = sorted(
        name
        for name, value in vars(orchestrator_client).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )
    assert orchestrator_client.__all__ == public


def test_the_clients_and_the_error_base_are_exported() -> None:
    for name in ("Client", "AsyncClient", "OrchestratorError", "RateLimited", "TaskNotFound"):
        assert name in orchestrator_client.__all__
    assert issubclass(orchestrator_client.ConnectionFailed, orchestrator_client.OrchestratorError)
