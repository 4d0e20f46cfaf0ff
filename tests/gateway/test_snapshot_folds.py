"""Snapshots as pure folds (no NATS): a fold cut anywhere, snapshotted, encoded, decoded and
continued ends in exactly the state of the uninterrupted fold; a header that does not match is
refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.cold_start import domain_events
from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    ApprovalGranted,
    ApprovalRequested,
    Event,
    ExecutionOutput,
    ExecutionRequested,
    ExecutionStarted,
    FeedbackGiven,
    FileDeleted,
    FileWritten,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
)
from orchestrator.events.testing import history
from orchestrator.gateway import snapshots
from orchestrator.gateway.projections import ReadModels
from orchestrator.gateway.projections.tasks import FrozenTask, TaskBoard, TaskView
from orchestrator.gateway.snapshot_prefetch import StreamIdentity
from orchestrator.gateway.snapshots import Unusable

from .snapshot_builders import waiting_at_a_gate, with_header, with_models

GATED = "task_" + "9" * 32
REVIVED = f"task_{3:032x}"
"""A task that ended early in the history and is failed, retried and completed again later."""
STREAM = StreamIdentity(created="2026-12-02T10:00:00+00:00", first_seq=1)


def events() -> list[Event]:
    """A realistic history, then what a task waiting at a gate and a running execution do."""
    gated = GATED
    return [
        *domain_events(1400),
        TaskFailed(task_id=REVIVED, stage="integration", code="STAGE_FAILED", message="late"),
        *waiting_at_a_gate(gated),
        TaskRetried(task_id=REVIVED, stage="integration"),
        ExecutionRequested(execution_id="exec-live", path="implementation/app.py"),
        ExecutionStarted(
            execution_id="exec-live", path="implementation/app.py", command="python", pid=7
        ),
        ExecutionOutput(execution_id="exec-live", first_line=1, lines=("a", "b")),
        FileWritten(path="notes/todo.md", digest="c" * 64, size=3, source="user"),
        FeedbackGiven(task_id=gated, gate="plan", round=1, message="smaller"),
        ApprovalRequested(task_id=gated, gate="plan", round=2, summary="the plan again"),
        FileDeleted(path="notes/todo.md"),
        ExecutionOutput(execution_id="exec-live", first_line=3, lines=("c",)),
        ApprovalGranted(task_id=gated, gate="plan", round=2),
        TaskCompleted(task_id=REVIVED),
    ]


def fold(models: ReadModels, recorded: list[RecordedEvent]) -> ReadModels:
    for item in recorded:
        models.apply(item)
    return models


def answers(models: ReadModels) -> str:
    """Everything the routes answer from the read models, as JSON."""
    state: dict[str, Any] = {
        "tasks": models.tasks.list(),
        "page": models.tasks.page(limit=50),
        "agents": models.tasks.agents_report(),
        "outside_version": models.workspace.state.outside_version,
        "files": [
            [f.path, f.digest, f.size, f.written_at.isoformat(), f.task_id, f.source]
            for f in models.workspace.listing()
        ],
        "workspace": [models.workspace.version, models.workspace.state.refused],
        "executions": [r.to_api() for r in models.executions.listing()],
        "archives": [
            [a.name, a.path, a.created.isoformat(), a.size, a.seq]
            for a in models.archives.newest_first()
        ],
        "resets": sorted(
            (request, models.archives.on_disk(request)) for request in models.archives.by_request
        ),
        "usage": models.usage.report(),
        "spend": sorted(
            (list(key), vars(totals)) for key, totals in models.usage.by_agent_provider().items()
        ),
    }
    return json.dumps(state, sort_keys=True)


def through(models: ReadModels, seq: int) -> ReadModels:
    return snapshots.decode(
        snapshots.encode(models, seq, STREAM), seq=seq, stream=STREAM, last_seq=seq
    )


RECORDED = history(*events())
WHOLE = answers(fold(ReadModels(), RECORDED))
GATE_ASKED = next(
    i for i, r in enumerate(RECORDED) if isinstance(r.event, ApprovalRequested) and i > 1400
)
CUTS = sorted({*range(0, len(RECORDED) + 1, 137), *range(GATE_ASKED - 1, len(RECORDED) + 1)})


@pytest.mark.parametrize("cut", CUTS)
def test_a_fold_snapshotted_at_any_event_and_continued_ends_where_the_whole_fold_does(
    cut: int,
) -> None:
    restored = through(fold(ReadModels(), RECORDED[:cut]), cut)

    assert answers(fold(restored, RECORDED[cut:])) == WHOLE


def test_a_gate_waited_at_in_the_snapshot_is_answered_in_its_history_after_restore() -> None:
    cut = GATE_ASKED + 1  # the first gate asked, not yet answered
    restored = through(fold(ReadModels(), RECORDED[:cut]), cut)
    task = restored.tasks.get(GATED)
    assert task is not None and task.approval is not None
    assert task.approval is task.approvals[-1]

    fold(restored, RECORDED[cut:])

    statuses = [a["status"] for a in task.to_json()["approvals"]]
    assert statuses == ["revise", "approved"]


def whole() -> ReadModels:
    """The read models with every task held whole, as the board did before it froze any."""
    return ReadModels(tasks=TaskBoard(freeze=False))


def every_task(models: ReadModels) -> list[Any]:
    board = models.tasks
    return [
        [board.get(task_id).to_json() for task_id in board.tasks],  # type: ignore[union-attr]
        sorted(board.stage_durations()),
    ]


@pytest.mark.parametrize("cut", [0, GATE_ASKED, len(RECORDED)])
def test_ended_tasks_held_frozen_answer_byte_for_byte_like_tasks_held_whole(cut: int) -> None:
    frozen = fold(through(fold(ReadModels(), RECORDED[:cut]), cut), RECORDED[cut:])
    held_whole = fold(whole(), RECORDED)

    assert answers(frozen) == answers(held_whole) == WHOLE
    assert json.dumps(every_task(frozen)) == json.dumps(every_task(held_whole))
    ended = [t for t in frozen.tasks.tasks.values() if t.status in ("completed", "cancelled")]
    assert ended
    assert all(isinstance(t, FrozenTask) for t in ended)  # no history, files or checks held
    assert isinstance(frozen.tasks.tasks[GATED], TaskView)  # running: whole
    revived = frozen.tasks.get(REVIVED)
    assert revived is not None
    assert revived.status == "completed"
    assert revived.error is None  # failed, retried, completed: the thawed task moved on


def test_a_task_read_whole_stays_live_while_events_move_it() -> None:
    models = fold(ReadModels(), RECORDED[:GATE_ASKED])
    ended = models.tasks.get(REVIVED)
    assert ended is not None
    assert ended.status == "failed"

    fold(models, RECORDED[GATE_ASKED:])

    assert ended.status == "completed"  # the object read before is the one that moved


def test_a_page_of_frozen_tasks_does_not_keep_them_thawed() -> None:
    models = through(fold(ReadModels(), RECORDED), len(RECORDED))  # restored: none thawed
    page, _ = models.tasks.page(limit=1000)

    assert len(page) > 100
    assert not models.tasks._thawed  # a listing thaws each task for its answer only


def good() -> tuple[bytes, int]:
    models = fold(ReadModels(), RECORDED[:500])
    return snapshots.encode(models, 500, STREAM), 500


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        (lambda d: d[: len(d) // 2], "unreadable read models"),
        (lambda d: d[:-1], "unreadable read models"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "CRC-32"),
        (lambda d: with_header(d, blobs_crc32=0), "CRC-32"),
        (
            lambda d: with_models(d, lambda m: m["tasks"]["tasks"][0].update(blob=[0, 10**9])),
            "outside the snapshot",
        ),
        (lambda d: b"\x00garbage" + d, "unreadable header"),
        (lambda d: with_header(d, fingerprint="0" * 64), "other projection code"),
        (lambda d: with_header(d, format=snapshots.FORMAT + 1), "format"),
        (lambda d: with_header(d, seq=499), "its name #500"),
        (
            lambda d: with_header(
                d, stream={"created": "2026-01-01T00:00:00+00:00", "first_seq": 1}
            ),
            "another stream",
        ),
        (lambda d: with_models(d, lambda m: m["tasks"].pop("tasks")), "KeyError"),
        (
            lambda d: with_models(d, lambda m: m["tasks"]["tasks"][0].pop("status")),
            "task fields",
        ),
    ],
    ids=[
        "truncated",
        "last-byte-missing",
        "detail-altered",
        "detail-crc",
        "detail-outside",
        "garbage",
        "fingerprint",
        "format",
        "seq",
        "recreated",
        "shape",
        "task-shape",
    ],
)
def test_a_snapshot_that_does_not_match_is_refused_with_the_reason(
    variant: Any, reason: str
) -> None:
    data, seq = good()

    with pytest.raises(Unusable, match=reason):
        snapshots.decode(variant(data), seq=seq, stream=STREAM, last_seq=seq)


def test_a_snapshot_beyond_the_streams_end_is_refused() -> None:
    data, seq = good()

    with pytest.raises(Unusable, match="beyond the stream's last #499"):
        snapshots.decode(data, seq=seq, stream=STREAM, last_seq=seq - 1)


def test_the_fingerprint_covers_the_projection_code() -> None:
    names = {path.name for path in snapshots._sources()}

    assert {"tasks.py", "usage.py", "workspace.py", "workspace_files.py", "snapshots.py"} <= names
    assert snapshots.code_fingerprint() == snapshots.FINGERPRINT
