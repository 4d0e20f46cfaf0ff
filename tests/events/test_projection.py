"""Follower against a real nats-server: replay, live follow, rebuild, bad messages."""

from __future__ import annotations

from typing import Any

import pytest
from nats.js import JetStreamContext

from orchestrator.events import EventStore, Follower, RecordedEvent, subjects
from orchestrator.events.catalog import StageStarted, TaskCancelled, TaskSubmitted
from orchestrator.events.projection import ack_sequences


class TaskFold:
    """A read model: each task's status and the event types it saw, folded from the stream."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.seqs: list[int] = []

    def apply(self, recorded: RecordedEvent) -> None:
        self.seqs.append(recorded.seq)
        event = recorded.event
        task_id = event.task_id  # type: ignore[attr-defined]
        task = self.tasks.setdefault(task_id, {"status": None, "types": [], "version": 0})
        task["types"].append(recorded.envelope.type)
        task["version"] = recorded.seq
        if isinstance(event, TaskSubmitted):
            task["status"] = "pending"
        elif isinstance(event, StageStarted):
            task["status"] = event.stage
        elif isinstance(event, TaskCancelled):
            task["status"] = "cancelled"


async def append_task_history(store: EventStore, task_id: str) -> int:
    subject = subjects.task(task_id)
    seq = await store.append(
        subject,
        TaskSubmitted(task_id=task_id, requirement="r", priority=5),
        expected_last_seq=0,
    )
    seq = await store.append(
        subject,
        StageStarted(task_id=task_id, stage="analysis", agent="claude"),
        expected_last_seq=seq,
    )
    if task_id.endswith("0"):
        seq = await store.append(subject, TaskCancelled(task_id=task_id), expected_last_seq=seq)
    return seq


async def test_projection_rebuilt_from_scratch_equals_the_one_that_followed_live(
    store: EventStore, js: JetStreamContext
) -> None:
    # some history exists before the live follower starts, the rest arrives while it follows
    for i in range(5):
        await append_task_history(store, f"p_{i}")
    live = TaskFold()
    follower = Follower(js, subjects.TASK_ALL, live.apply, poll_timeout=0.5)
    await follower.start()
    await follower.wait_caught_up(timeout=10)
    last = 0
    for i in range(5, 40):
        last = await append_task_history(store, f"p_{i}")
    await follower.wait_for(last, timeout=10)
    await follower.stop()  # the "restart": the process holding the live model goes away

    rebuilt = TaskFold()
    async with Follower(js, subjects.TASK_ALL, rebuilt.apply) as again:
        await again.wait_caught_up(timeout=10)
        await again.wait_for(last, timeout=10)

    assert len(live.tasks) == 40
    assert rebuilt.tasks == live.tasks
    assert rebuilt.seqs == live.seqs
    assert live.seqs == sorted(set(live.seqs)), "no event applied twice or out of order"
    assert live.tasks["p_10"]["status"] == "cancelled"
    assert live.tasks["p_11"]["status"] == "analysis"


async def test_follower_resumes_from_a_checkpoint_without_repeating(
    store: EventStore, js: JetStreamContext
) -> None:
    for i in range(3):
        await append_task_history(store, f"ck_{i}")
    first = TaskFold()
    async with Follower(js, subjects.TASK_ALL, first.apply) as follower:
        await follower.wait_caught_up(timeout=10)
        checkpoint = follower.last_seq
    later = await append_task_history(store, "ck_9")

    tail = TaskFold()
    async with Follower(js, subjects.TASK_ALL, tail.apply, start_seq=checkpoint + 1) as resumed:
        await resumed.wait_for(later, timeout=10)
    assert set(tail.tasks) == {"ck_9"}
    assert tail.seqs[0] > checkpoint


async def test_undecodable_message_is_skipped_and_reported_not_fatal(
    store: EventStore, js: JetStreamContext
) -> None:
    await append_task_history(store, "bad_1")
    garbage = await js.publish(subjects.task("bad_2"), b"\x00 not json {")
    wrong_shape = await js.publish(
        subjects.task("bad_3"), b'{"type": "TaskSubmitted", "data": {"type": "NoSuchEvent"}}'
    )
    after = await append_task_history(store, "bad_4")

    fold = TaskFold()
    async with Follower(js, subjects.TASK_ALL, fold.apply) as follower:
        await follower.wait_for(after, timeout=10)
        assert {e.seq for e in follower.skipped} == {garbage.seq, wrong_shape.seq}
        # still following live after skipping
        more = await append_task_history(store, "bad_5")
        await follower.wait_for(more, timeout=10)
    assert set(fold.tasks) == {"bad_1", "bad_4", "bad_5"}


async def test_wait_for_times_out_when_the_event_never_comes(js: JetStreamContext) -> None:
    async with Follower(js, subjects.TASK_ALL, lambda r: None) as follower:
        await follower.wait_caught_up(timeout=10)
        with pytest.raises(TimeoutError):
            await follower.wait_for(10**9, timeout=0.3)


async def test_a_failing_apply_is_retried_from_the_same_event_not_skipped(
    store: EventStore, js: JetStreamContext
) -> None:
    last = 0
    for i in range(3):
        last = await append_task_history(store, f"retry_{i}")
    fold = TaskFold()
    failures: list[int] = []

    def flaky(recorded: RecordedEvent) -> None:
        if recorded.seq == 3 and not failures:  # the read model's store hiccups once
            failures.append(recorded.seq)
            raise RuntimeError("read model unavailable")
        fold.apply(recorded)

    async with Follower(js, subjects.TASK_ALL, flaky, poll_timeout=0.5) as follower:
        await follower.wait_for(last, timeout=10)
        assert follower.rebuilds >= 1
    assert failures == [3]
    assert fold.seqs == list(range(1, last + 1)), "every event applied once, in order"


def test_ack_subject_sequences_are_read_in_both_reply_formats() -> None:
    v1 = "$JS.ACK.EVENTS.follow_x.1.42.7.1700000000000000000.3"
    v2 = "$JS.ACK.hub.ACCHASH.EVENTS.follow_x.1.42.7.1700000000000000000.3.token"
    assert ack_sequences(v1) == (42, 7, 3)
    assert ack_sequences(v2) == (42, 7, 3)
    with pytest.raises((ValueError, IndexError)):
        ack_sequences("_INBOX.not.an.ack")
