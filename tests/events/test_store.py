"""EventStore against a real nats-server: concurrency, idempotency, reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError

from orchestrator.events import ConcurrencyConflict, Envelope, EventStore, encode, subjects
from orchestrator.events.catalog import TaskCancelled, TaskSubmitted
from orchestrator.launcher.nats_server import NatsServer
from tests.harness import eventually


def submitted(task_id: str) -> TaskSubmitted:
    return TaskSubmitted(task_id=task_id, requirement="print hello", priority=5)


async def test_ten_concurrent_appenders_on_one_expected_sequence_one_wins(
    store: EventStore,
) -> None:
    subject = subjects.task("race")
    base = await store.append(subject, submitted("race"), expected_last_seq=0)

    results = await asyncio.gather(
        *(
            store.append(
                subject, TaskCancelled(task_id="race", reason=f"writer {i}"), expected_last_seq=base
            )
            for i in range(10)
        ),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, int)]
    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1, results
    assert len(conflicts) == 9, results
    events, version = await store.load(subject)
    assert [e.envelope.type for e in events] == ["TaskSubmitted", "TaskCancelled"]
    assert version == winners[0]


async def append_losing_the_ack(
    js: JetStreamContext, subject: str, envelope: Envelope, expected_last_seq: int
) -> PubAck:
    """The first attempt of an append that reaches the server but whose ack never reaches the
    store: published as the store would, the ack kept from it."""
    body, headers = encode(envelope)
    headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_last_seq)
    return await js.publish(subject, body, headers=headers)


async def test_append_retried_after_lost_ack_succeeds_and_is_stored_once(
    store: EventStore, js: JetStreamContext
) -> None:
    subject = subjects.task("lostack")
    first = await store.append(subject, submitted("lostack"), expected_last_seq=0)
    envelope = Envelope.wrap(TaskCancelled(task_id="lostack"))

    stored = await append_losing_the_ack(js, subject, envelope, first)
    retried = await store.append_envelope(subject, envelope, expected_last_seq=first)

    assert retried == stored.seq
    events, _ = await store.load(subject)
    assert [e.id for e in events].count(envelope.id) == 1


async def test_retry_after_lost_ack_is_found_even_when_another_event_followed(
    store: EventStore, js: JetStreamContext
) -> None:
    subject = subjects.task("lostack2")
    first = await store.append(subject, submitted("lostack2"), expected_last_seq=0)
    envelope = Envelope.wrap(TaskCancelled(task_id="lostack2"))
    stored = await append_losing_the_ack(js, subject, envelope, first)
    await store.append(subject, TaskCancelled(task_id="lostack2", reason="later"))

    assert await store.append_envelope(subject, envelope, expected_last_seq=first) == stored.seq


async def test_a_stale_expected_sequence_is_a_typed_conflict(store: EventStore) -> None:
    subject = subjects.task("stale")
    await store.append(subject, submitted("stale"), expected_last_seq=0)
    with pytest.raises(ConcurrencyConflict) as raised:
        await store.append(subject, submitted("stale"), expected_last_seq=0)
    assert raised.value.subject == subject


async def test_same_event_id_without_expectation_is_deduplicated(store: EventStore) -> None:
    subject = subjects.task("dedupe")
    a = await store.append(subject, submitted("dedupe"), event_id="evt_fixed")
    b = await store.append(subject, submitted("dedupe"), event_id="evt_fixed")
    assert a == b
    events, _ = await store.load(subject)
    assert len(events) == 1


async def test_last_seq_of_an_empty_subject_is_zero(store: EventStore) -> None:
    assert await store.last_seq(subjects.task("nobody")) == 0


async def test_seq_after_names_the_first_event_of_the_subject_past_a_sequence(
    store: EventStore,
) -> None:
    subject = subjects.task("after")
    first = await store.append(subject, submitted("after"))
    await store.append(subjects.task("other"), submitted("other"))  # between, elsewhere
    second = await store.append(subject, TaskCancelled(task_id="after", reason="done"))
    assert await store.seq_after(subject, 0) == first
    assert await store.seq_after(subject, first) == second
    assert await store.seq_after(subject, second) == 0


async def test_load_versions_past_an_undecodable_last_event_so_appends_can_go_on(
    store: EventStore, js: JetStreamContext
) -> None:
    subject = subjects.task("garbled")
    first = await store.append(subject, submitted("garbled"), expected_last_seq=0)
    garbage = await js.publish(subject, b"not an event")

    events, version = await store.load(subject)

    assert [e.seq for e in events] == [first]
    assert version == garbage.seq
    appended = await store.append(
        subject, TaskCancelled(task_id="garbled"), expected_last_seq=version
    )
    assert appended > garbage.seq


async def test_a_read_whose_consumer_vanishes_midway_reads_on_with_a_new_one(
    store: EventStore, js: JetStreamContext, nats_server: NatsServer
) -> None:
    """A read's consumer the server no longer has (its node restarted; on a cluster, one a node
    has not heard of yet) answers its next fetch with no responders: the read goes on from
    where it stopped with a new consumer, every event once and in order."""
    subject = subjects.task("vanishing")
    acks = await asyncio.gather(
        *(js.publish(subject, encode(Envelope.wrap(submitted(str(i))))[0]) for i in range(4 * 512))
    )
    published = sorted(ack.seq for ack in acks)

    # A second connection sees every message delivered to the reader's inbox: on the first,
    # it deletes the consumer delivering it, while the read has three batches to go.
    spy = await nats.connect(nats_server.url)
    readers: list[str] = []
    deleted: list[bool] = []

    async def delete_the_first_reader(msg: Msg) -> None:
        if not msg.reply.startswith("$JS.ACK."):
            return
        reader = msg.reply.split(".")[3]
        if reader not in readers:
            readers.append(reader)
        if not deleted:
            deleted.append(False)
            with contextlib.suppress(NotFoundError):
                deleted[0] = await spy.jetstream().delete_consumer(store.stream, reader)

    await spy.subscribe("_INBOX.>", cb=delete_the_first_reader)
    try:
        events = await store.read(subject)
    finally:
        await spy.close()

    assert deleted == [True], "the first reader was gone before the spy could delete it"
    assert len(readers) >= 2, readers
    assert [e.seq for e in events] == published


@contextlib.asynccontextmanager
async def one_message_reads(url: str) -> AsyncIterator[list[str]]:
    """How the store's one-message reads reach JetStream meanwhile, as seen by a second
    connection: ``direct`` (the stream answers, any replica may) or ``api`` (the leader)."""
    seen: list[str] = []
    spy = await nats.connect(url)

    async def note(msg: Msg) -> None:
        seen.append("direct" if msg.subject.startswith("$JS.API.DIRECT.GET.") else "api")

    await spy.subscribe("$JS.API.DIRECT.GET.>", cb=note)
    await spy.subscribe("$JS.API.STREAM.MSG.GET.>", cb=note)
    await spy.flush()
    try:
        yield seen
    finally:
        await spy.close()


async def read_last_and_next(store: EventStore, seen: list[str], task_id: str) -> list[str]:
    """Append one event, look it up the two one-message ways; what ``seen`` saw of both."""
    subject = subjects.task(task_id)
    seq = await store.append(subject, submitted(task_id), expected_last_seq=0)
    assert await store.last_of(subject) == (seq, "TaskSubmitted")
    assert await store.seq_after(subject, 0) == seq
    await eventually(lambda: len(seen) >= 2, "both reads seen")
    return seen


async def test_one_message_reads_are_direct_gets_where_the_stream_has_one_replica(
    store: EventStore, nats_server: NatsServer
) -> None:
    async with one_message_reads(nats_server.url) as seen:
        assert await read_last_and_next(store, seen, "direct") == ["direct", "direct"]
