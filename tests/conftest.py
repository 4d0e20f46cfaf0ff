"""Fixtures that start real things: nats-server, service processes, NATS clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from orchestrator.events import EventStore
from orchestrator.events.connection import provision
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.launcher.nats_server import NatsServer

from .harness import System


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    """A nats-server of the test's own; start services on it with ``system.start(...)``."""
    sys_ = System(root=tmp_path)
    sys_.start_nats()
    try:
        yield sys_
    finally:
        sys_.stop()


@pytest.fixture
def nats_server(system: System) -> NatsServer:
    assert system.nats is not None
    return system.nats


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield client
    await client.close()


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    context = nc.jetstream(timeout=5)
    await provision(context, NatsSettings())
    return context


@pytest.fixture
def store(js: JetStreamContext) -> EventStore:
    return EventStore(js)
