"""The 3-node cluster of docker-compose.yml, run from deploy/nats/*.conf on loopback.

The configs are the ones the containers use, with host names and ports rewritten for one machine;
the backbone's guarantees are checked again on R3 streams, where the server orders its checks
differently (a retried append is de-duplicated before its expected sequence is checked).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from orchestrator.events import ConcurrencyConflict, Envelope, EventStore, subjects
from orchestrator.events.catalog import TaskCancelled, TaskSubmitted
from orchestrator.events.connection import provision
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.gateway.ratelimit_store import SharedWindows, open_bucket
from orchestrator.launcher.cluster import LocalCluster
from tests.events.test_store import append_losing_the_ack, one_message_reads, read_last_and_next
from tests.harness import eventually

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nats"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[str]]:
    """The nodes of ``make cluster`` (the launcher's loopback rewrite of the deploy configs)."""
    nodes = LocalCluster(config_dir=DEPLOY, data_dir=tmp_path, logs=tmp_path).start()
    try:
        yield nodes.urls
    finally:
        nodes.stop()


@pytest.fixture
async def cluster_store(cluster: list[str]) -> AsyncIterator[EventStore]:
    settings = NatsSettings(nats_url=",".join(cluster), nats_replicas=3)
    nc: NATS = await nats.connect(servers=settings.servers, max_reconnect_attempts=-1)
    js = nc.jetstream(timeout=10)

    async def provisioned() -> bool:
        await provision(js, settings)
        return True

    # The meta leader may still be being elected.
    await eventually(provisioned, "the R3 streams provisioned", timeout=30, interval=0.3)
    info = await js.stream_info(subjects.EVENTS_STREAM)
    assert info.config.num_replicas == 3
    output = await js.stream_info(subjects.OUTPUT_STREAM)
    assert output.config.num_replicas == 3  # run output is replicated like the domain events
    yield EventStore(js)
    await nc.close()


async def test_r3_one_message_reads_go_to_the_leader_never_to_a_replica_behind_it(
    cluster: list[str], cluster_store: EventStore
) -> None:
    """A direct get may be answered by a follower not yet caught up with the append just
    acknowledged; the reads that decide what to append next must not be."""
    async with one_message_reads(cluster[1]) as seen:
        assert await read_last_and_next(cluster_store, seen, "leader") == ["api", "api"]


async def test_r3_ten_appenders_one_winner_and_retried_append_stored_once(
    cluster_store: EventStore,
) -> None:
    store = cluster_store
    subject = subjects.task("r3")
    base = await store.append(
        subject, TaskSubmitted(task_id="r3", requirement="r", priority=5), expected_last_seq=0
    )
    results = await asyncio.gather(
        *(
            store.append(
                subject, TaskCancelled(task_id="r3", reason=str(i)), expected_last_seq=base
            )
            for i in range(10)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyConflict) for r in results if not isinstance(r, int)), (
        results
    )

    # lost ack on R3: the first attempt is stored, its ack never arrives; the retry succeeds
    envelope = Envelope.wrap(TaskCancelled(task_id="r3", reason="retried"))
    stored = await append_losing_the_ack(store.js, subject, envelope, winners[0])
    assert await store.append_envelope(subject, envelope, expected_last_seq=winners[0]) == (
        stored.seq
    )
    events, _ = await store.load(subject)
    assert [e.id for e in events].count(envelope.id) == 1


async def test_r3_rate_limit_counts_shared_by_replicas_on_different_nodes(
    cluster: list[str],
) -> None:
    """Two gateways' counts, each connected to another node of the R3 bucket: reads go to the
    stream leader, so racing for one budget they admit exactly the limit."""
    settings = NatsSettings(nats_url=",".join(cluster), nats_replicas=3)
    first: NATS = await nats.connect(servers=[cluster[0]])
    last: NATS = await nats.connect(servers=[cluster[2]])
    try:
        kv = await eventually(  # the meta leader may still be being elected
            lambda: open_bucket(first, first.jetstream(timeout=10), settings),
            "the R3 rate-limit bucket",
            timeout=30,
            interval=0.3,
        )
        info = await first.jetstream().stream_info(f"KV_{subjects.RATE_LIMIT_BUCKET}")
        assert info.config.num_replicas == 3

        # A new R3 stream takes writes from a node once it has a leader and the node has heard
        # of its subjects; before that a count fails open (no responders), which is the rule,
        # but not what this test counts. So each connection first writes a key of its own.
        for n, nc in enumerate((first, last)):
            bucket = await open_bucket(nc, nc.jetstream(), settings)
            await eventually(
                partial(bucket.put, f"ready.{n}", b"1"), "the bucket taking writes", timeout=30
            )
        now = 630.0  # half-way through a minute, whenever the test runs
        a = SharedWindows(first, kv, clock=lambda: now)
        b = SharedWindows(last, await open_bucket(last, last.jetstream(), settings), lambda: now)
        decisions = await asyncio.gather(*((a, b)[n % 2].hit("files.c", 10) for n in range(40)))
        assert sum(d.allowed for d in decisions) == 10
    finally:
        await first.close()
        await last.close()
