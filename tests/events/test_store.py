"""EventStore against a real nats-server: concurrency, idempotency, reads."""

from __future__ import annotations

import asyncio

import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck

from orchestrator.events import ConcurrencyConflict, Envelope, EventStore, encode, subjects
from orchestrator.events.catalog import TaskCancelled, TaskSubmitted


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
