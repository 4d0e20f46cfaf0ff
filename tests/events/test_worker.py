"""Worker against a real nats-server: crash redelivery, dead letters, bad messages."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from orchestrator.events import (
    Delivery,
    EventStore,
    PermanentFailure,
    RecordedEvent,
    Worker,
    WorkerConfig,
    subjects,
)
from orchestrator.events.catalog import TaskSubmitted
from orchestrator.launcher.nats_server import NatsServer
from tests.harness import eventually

from .worker_process import crash_config

WORKER_SCRIPT = Path(__file__).with_name("worker_process.py")


def submitted(task_id: str) -> TaskSubmitted:
    return TaskSubmitted(task_id=task_id, requirement="r", priority=5)


async def dead_letters(js: JetStreamContext, durable: str) -> list[dict[str, Any]]:
    """Every dead-letter entry recorded for ``durable``, oldest first."""
    entries: list[dict[str, Any]] = []
    try:
        info = await js.stream_info(subjects.DEAD_LETTER_STREAM)
    except NotFoundError:
        return entries
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(subjects.DEAD_LETTER_STREAM, seq)
        except NotFoundError:
            continue
        if msg.subject == subjects.dead_letter(durable):
            entries.append(json.loads(msg.data or b"{}"))
    return entries


async def test_worker_killed_mid_message_gets_it_redelivered_to_another_worker(
    nats_server: NatsServer, nc: NATS, js: JetStreamContext, store: EventStore, tmp_path: Path
) -> None:
    ack_wait = 1.0
    seq = await store.append(subjects.task("crash"), submitted("crash"))
    marker = tmp_path / "taken.json"
    victim = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER_SCRIPT),
        nats_server.url,
        "crashers",
        str(ack_wait),
        str(marker),
        start_new_session=True,
    )
    try:
        await eventually(marker.exists, timeout=15)
        assert json.loads(marker.read_text()) == {"seq": seq, "attempt": 1}

        got: list[tuple[int, int]] = []

        async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
            got.append((recorded.seq, delivery.attempt))

        successor = Worker(nc, js, crash_config("crashers", ack_wait), handle)
        await successor.start()
        try:
            # while the victim is alive it keeps the message in progress past ack_wait
            await asyncio.sleep(ack_wait * 2.5)
            assert got == [], "redelivered while the first worker was still working on it"
            assert victim.returncode is None

            victim.kill()
            await asyncio.wait_for(victim.wait(), 5)
            await eventually(lambda: got, timeout=10)
            assert got == [(seq, 2)]
        finally:
            await successor.stop()
        info = await js.consumer_info(subjects.EVENTS_STREAM, "crashers")
        assert info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        if victim.returncode is None:
            victim.kill()
            await asyncio.wait_for(victim.wait(), 5)


async def test_poison_message_is_dead_lettered_after_max_attempts_without_blocking_others(
    nc: NATS, js: JetStreamContext, store: EventStore
) -> None:
    poison = await store.append(subjects.task("poison"), submitted("poison"))
    good = [
        await store.append(subjects.task(f"good_{i}"), submitted(f"good_{i}")) for i in range(5)
    ]
    attempts: list[int] = []
    handled: list[int] = []

    async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
        if recorded.seq == poison:
            attempts.append(delivery.attempt)
            raise RuntimeError("this message always breaks its handler")
        handled.append(recorded.seq)

    config = WorkerConfig(
        durable="poisoned",
        filter_subjects=(subjects.TASK_ALL,),
        max_deliver=3,
        backoff=(0.3,),
        ack_wait=5.0,
        max_concurrency=1,  # one at a time: the good ones must still get past the poison
    )
    worker = Worker(nc, js, config, handle)
    await worker.start()
    try:
        await eventually(lambda: len(handled) == len(good), timeout=10)
        assert len(attempts) < 3, "the good messages waited for the poison one to give up"
        entries = await eventually(lambda: dead_letters(js, "poisoned"), timeout=10)
    finally:
        await worker.stop()
    assert sorted(handled) == good
    assert attempts == [1, 2, 3]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["stream_seq"] == poison
    assert entry["subject"] == subjects.task("poison")
    assert entry["attempts"] == 3
    assert "always breaks" in entry["reason"]
    assert json.loads(entry["data"])["data"]["task_id"] == "poison"

    async def nothing_left() -> bool:
        info = await js.consumer_info(subjects.EVENTS_STREAM, "poisoned")
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    # Acks are not confirmed (a plain ack, no reply awaited), and the server applies them apart
    # from the API's requests: the poison's last ack may be seen a moment after the worker stops.
    await eventually(nothing_left, "the poison acknowledged for good", timeout=10)


async def test_permanent_failure_is_dead_lettered_at_once(
    nc: NATS, js: JetStreamContext, store: EventStore
) -> None:
    seq = await store.append(subjects.task("hopeless"), submitted("hopeless"))
    calls: list[int] = []

    async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
        calls.append(delivery.attempt)
        raise PermanentFailure("the requirement can never be met")

    config = WorkerConfig(durable="permanent", filter_subjects=(subjects.TASK_ALL,), max_deliver=5)
    worker = Worker(nc, js, config, handle)
    await worker.start()
    try:
        entries = await eventually(lambda: dead_letters(js, "permanent"), timeout=10)
    finally:
        await worker.stop()
    assert calls == [1]
    assert entries[0]["stream_seq"] == seq and entries[0]["attempts"] == 1


async def test_undecodable_message_is_reported_and_skipped_not_a_crash(
    nc: NATS, js: JetStreamContext, store: EventStore
) -> None:
    garbage = await js.publish(subjects.task("garbled"), b"{ definitely not an event")
    after = await store.append(subjects.task("fine"), submitted("fine"))
    handled: list[int] = []

    async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
        handled.append(recorded.seq)

    config = WorkerConfig(durable="garbled", filter_subjects=(subjects.TASK_ALL,))
    worker = Worker(nc, js, config, handle)
    await worker.start()
    try:
        await eventually(lambda: handled, timeout=10)
        entries = await eventually(lambda: dead_letters(js, "garbled"), timeout=10)
        later = await store.append(subjects.task("later"), submitted("later"))
        await eventually(lambda: later in handled, timeout=10)
    finally:
        await worker.stop()
    assert handled == [after, later]
    assert entries[0]["stream_seq"] == garbage.seq
    assert entries[0]["reason"].startswith("undecodable")


async def test_a_message_whose_workers_keep_dying_is_dead_lettered_by_the_advisory(
    nats_server: NatsServer, nc: NATS, js: JetStreamContext, store: EventStore, tmp_path: Path
) -> None:
    """No handler ever gets to record a failure: the server's max-deliveries advisory does."""
    ack_wait = 1.0
    seq = await store.append(subjects.task("doomed"), submitted("doomed"))
    config = crash_config("doomed", ack_wait, max_deliver=2)
    handled: list[int] = []

    async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
        handled.append(recorded.seq)

    # the survivor listens for the advisory (core NATS, not stored) before the last death
    survivor = Worker(nc, js, config, handle)
    try:
        for attempt in (1, 2):
            marker = tmp_path / f"taken{attempt}.json"
            victim = await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER_SCRIPT),
                nats_server.url,
                "doomed",
                str(ack_wait),
                str(marker),
                "2",
                start_new_session=True,
            )
            try:
                await eventually(marker.exists, timeout=15)
                assert json.loads(marker.read_text()) == {"seq": seq, "attempt": attempt}
                if attempt == 2:
                    await survivor.start()
            finally:
                victim.kill()
                await asyncio.wait_for(victim.wait(), 5)
        entries = await eventually(lambda: dead_letters(js, "doomed"), timeout=15)
    finally:
        await survivor.stop()
    assert handled == [], "a message past max_deliver must not be handed out again"
    assert entries[0]["stream_seq"] == seq
    assert entries[0]["attempts"] == 2
    assert "max deliveries" in entries[0]["reason"]
