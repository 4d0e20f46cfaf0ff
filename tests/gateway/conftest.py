"""Fixtures of the gateway tests: a gateway shared by a module, and a scripted fake LLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeLLM
from tests.harness import System

from .llm_script import happy


@pytest.fixture(scope="module")
def gateway_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = System(root=tmp_path_factory.mktemp("gateway"), env={"HEALTH_INTERVAL": "0.5"})
    system.start_nats()
    try:
        system.start_all(("gateway",))
        yield system
    finally:
        system.stop()


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    """The fake LLM server, answering every stage of a hello-script task."""
    with FakeLLM() as server:
        server.anthropic.responder = happy
        server.openai.responder = happy
        yield server
