"""A gateway (with its NATS) shared by the tests of a module: starting one takes a second or two."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import System


@pytest.fixture(scope="module")
def gateway_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = System(root=tmp_path_factory.mktemp("gateway"), env={"HEALTH_INTERVAL": "0.5"})
    system.start_nats()
    try:
        system.start_all(("gateway",))
        yield system
    finally:
        system.stop()
