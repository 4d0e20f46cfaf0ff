"""The shared counts against a real nats-server: replicas racing for one budget."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import api

from orchestrator.events import subjects
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.gateway.rate_windows import WindowCounts
from orchestrator.gateway.ratelimit_store import (
    BUCKET_TTL,
    SharedWindows,
    WindowsUnavailable,
    open_bucket,
)
from orchestrator.launcher.nats_server import NatsServer

NOW = 600.0 + 30  # half-way through minute 10: no boundary falls inside a test


async def replica(url: str) -> tuple[NATS, SharedWindows]:
    """One gateway's view of the counts: a connection and a bucket of its own."""
    nc = await nats.connect(url)
    kv = await open_bucket(nc, nc.jetstream(timeout=10), NatsSettings(nats_url=url))
    return nc, SharedWindows(nc, kv, clock=lambda: NOW)


async def test_two_replicas_racing_admit_exactly_the_limit(nats_server: NatsServer) -> None:
    (nc_a, a), (nc_b, b) = await asyncio.gather(replica(nats_server.url), replica(nats_server.url))
    try:
        hits = [(a if n % 2 else b).hit("requirements.client", 10) for n in range(40)]
        decisions = await asyncio.gather(*hits)
        assert sum(d.allowed for d in decisions) == 10
        assert all(d.retry_after == 30 for d in decisions if not d.allowed)
        stored = await nc_a.jetstream().key_value(subjects.RATE_LIMIT_BUCKET)
        value = (await stored.get("requirements.client")).value or b""
        assert WindowCounts.decode(value) == WindowCounts(window=10, current=10)
        assert (await a.hit("requirements.other", 10)).allowed  # another client, its own budget
    finally:
        await nc_a.close()
        await nc_b.close()


async def test_a_refund_gives_one_request_back_to_the_budget(nats_server: NatsServer) -> None:
    nc, windows = await replica(nats_server.url)
    try:
        decisions = [await windows.hit("archive.client", 2) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
        assert await windows.refund("archive.client", window=10)
        assert (await windows.hit("archive.client", 2)).allowed
        assert not (await windows.hit("archive.client", 2)).allowed
        assert await windows.refund("archive.never-seen", window=10)  # nothing to take back
    finally:
        await nc.close()


async def test_the_bucket_forgets_on_its_own_and_keeps_one_value_in_memory(
    nats_server: NatsServer,
) -> None:
    nc, _ = await replica(nats_server.url)
    try:
        info = await nc.jetstream().stream_info(f"KV_{subjects.RATE_LIMIT_BUCKET}")
        assert info.config.max_age == BUCKET_TTL
        assert info.config.max_msgs_per_subject == 1
        assert info.config.storage == api.StorageType.MEMORY
        assert not info.config.allow_direct
    finally:
        await nc.close()


async def test_without_nats_a_hit_says_the_counts_are_unavailable(nats_server: NatsServer) -> None:
    nc, windows = await replica(nats_server.url)
    try:
        await nc.close()
        with pytest.raises(WindowsUnavailable, match="not connected"):
            await windows.hit("files.client", 3)
    finally:
        await nc.close()
