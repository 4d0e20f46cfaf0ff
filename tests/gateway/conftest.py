"""Fixtures of the gateway tests: a gateway shared by a module, and a scripted fake LLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeLLM
from tests.harness import System, running

from .llm_script import happy


@pytest.fixture(scope="module")
def gateway_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running(
        tmp_path_factory.mktemp("gateway"), ("gateway",), {"HEALTH_INTERVAL": "0.5"}
    ) as system:
        yield system


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    """The fake LLM server, answering every stage of a hello-script task."""
    with FakeLLM() as server:
        yield server.answer_with(happy)
