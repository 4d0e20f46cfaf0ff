"""NATS stopped and restarted on the same store: nothing acknowledged is lost, clients carry on.

A Follower and a Worker in this process, and a real gateway and archive process, stay up through
the restart; none of them is restarted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from orchestrator.events import (
    Delivery,
    EventStore,
    Follower,
    RecordedEvent,
    Worker,
    WorkerConfig,
    subjects,
)
from orchestrator.events.catalog import TaskSubmitted
from orchestrator.launcher.nats_server import NatsServer
from orchestrator.launcher.supervisor import ServiceProcess
from tests.harness import eventually

from .harness import System


def health(system: System) -> dict[str, Any]:
    return dict(httpx.get(f"{system.base_url}/api/health", timeout=2).json())


async def append_tasks(store: EventStore, prefix: str, count: int) -> list[int]:
    return [
        await store.append(
            subjects.task(f"{prefix}_{i}"),
            TaskSubmitted(task_id=f"{prefix}_{i}", requirement="r", priority=5),
            expected_last_seq=0,
        )
        for i in range(count)
    ]


async def test_nats_restart_keeps_acknowledged_events_and_clients_carry_on(
    system: System, nc: NATS, js: JetStreamContext, store: EventStore
) -> None:
    nats = system.nats
    assert nats is not None
    varz: dict[str, Any] = nats.varz()
    assert varz["jetstream"]["config"]["sync_always"] is True

    # archive, not agents: agents would react to these tasks and append events of its own
    processes = system.start_all(("gateway", "archive"))
    gateway_pid = processes["gateway"].pid

    applied: list[int] = []
    follower = Follower(js, subjects.TASK_ALL, lambda r: applied.append(r.seq), poll_timeout=0.5)
    handled: list[int] = []

    async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
        handled.append(recorded.seq)

    worker = Worker(
        nc,
        js,
        WorkerConfig(durable="survivor", filter_subjects=(subjects.TASK_ALL,), ack_wait=2.0),
        handle,
    )
    await follower.start()
    await worker.start()
    try:
        before = await append_tasks(store, "before", 20)
        await follower.wait_for(before[-1], timeout=10)
        await eventually(lambda: len(handled) == len(before))
        await eventually(lambda: health(system)["nats"]["projection_seq"] == before[-1])
        consumer_before = follower.consumer_name

        await _restart(nats)

        # every acknowledged event survived, in order, exactly once
        stored = [e.seq for e in await store.read(subjects.TASK_ALL)]
        assert stored == before

        after = await append_tasks(store, "after", 10)

        # the follower rebuilt its lost ephemeral consumer from last_seq + 1: no gap, no repeat
        await follower.wait_for(after[-1], timeout=20)
        assert applied == before + after
        assert follower.consumer_name != consumer_before
        rebuilt = await js.consumer_info(subjects.EVENTS_STREAM, follower.consumer_name or "")
        assert rebuilt.config.opt_start_seq == before[-1] + 1

        # the worker's durable (file-backed) consumer survived and carries on
        await eventually(lambda: set(handled) >= set(before + after))
        assert sorted(set(handled)) == before + after
        durable = await js.consumer_info(subjects.EVENTS_STREAM, "survivor")
        assert durable.delivered.stream_seq == after[-1]

        await _the_services_carried_on(system, processes, gateway_pid, after[-1])
    finally:
        await worker.stop()
        await follower.stop()


async def _restart(nats: NatsServer) -> None:
    nats.stop()
    assert not nats.running()
    await asyncio.sleep(0.5)  # let every client notice the outage
    nats.start()
    varz = nats.varz()
    assert varz["jetstream"]["config"]["sync_always"] is True


async def _the_services_carried_on(
    system: System, processes: dict[str, ServiceProcess], gateway_pid: int | None, last: int
) -> None:
    """The real gateway process (not restarted) projects the new events, archive beats again."""
    report = await eventually(
        lambda: (
            (h := health(system))["nats"]["projection_seq"] == last
            and h["services"]["archive"]["status"] == "up"
            and h
        )
    )
    assert report["nats"]["status"] == "up"
    assert processes["gateway"].running() and processes["gateway"].pid == gateway_pid
    assert processes["archive"].running()
