"""The gateway's read models and frames as pure folds of events (no NATS, no HTTP)."""

from __future__ import annotations

import pytest

from orchestrator.events.catalog import (
    ArchiveMaterialised,
    ExecutionRequested,
    ExecutionStarted,
    FileDeleted,
    FileRef,
    FileWritten,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
    TaskSubmitted,
    Usage,
    ValidationFailed,
    WorkspaceArchived,
)
from orchestrator.events.testing import history, recorded
from orchestrator.gateway.projections import ReadModels, ws_messages
from orchestrator.gateway.projections.workspace import AmbiguousName

T = "task_1"
FILES = (FileRef(path="app.py", digest="a" * 64, size=5),)


def started(stage: str, agent: str, round_: int = 1) -> StageStarted:
    return StageStarted(task_id=T, stage=stage, agent=agent, round=round_)


def completed(stage: str, agent: str, cost: float = 0.0, **kw: object) -> StageCompleted:
    usage = Usage(input_tokens=10, output_tokens=5, cost_usd=cost)
    return StageCompleted(
        task_id=T,
        stage=stage,
        agent=agent,
        summary=f"{stage} done",
        usage=usage,
        **kw,
    )


def board(*events: object) -> ReadModels:
    models = ReadModels()
    for item in history(*events):  # type: ignore[arg-type]
        models.apply(item)
    return models


def test_a_task_moves_through_its_stages_to_completed_with_its_cost() -> None:
    models = board(
        TaskSubmitted(task_id=T, requirement="r", priority=7),
        started("analysis", "claude"),
        completed("analysis", "claude", cost=0.01),
        started("implementation", "codex"),
        completed("implementation", "codex", cost=0.02, files=FILES),
        started("validation", "claude2"),
    )
    task = models.tasks.get(T)
    assert task is not None
    view = task.to_json()
    assert (view["status"], view["stage"], view["progress"]) == ("in_progress", "validation", 50)
    assert view["cost_usd"] == pytest.approx(0.03)
    assert view["files"] == [{"path": "app.py", "digest": "a" * 64, "size": 5}]
    agents = models.tasks.agents_report()
    assert agents["claude2"]["status"] == "active" and agents["claude2"]["current_task"] == T
    assert agents["claude"]["status"] == "idle" and agents["claude"]["stages_completed"] == 1
    assert models.tasks.active_count() == 1 and models.tasks.queue_length() == 0


def test_a_rejected_validation_round_sends_progress_back_and_is_listed() -> None:
    models = board(
        TaskSubmitted(task_id=T, requirement="r", priority=5),
        started("validation", "claude2"),
        ValidationFailed(task_id=T, round=1, findings=("x is wrong",)),
    )
    view = models.tasks.list()[0]
    assert view["validation_rounds"] == [{"round": 1, "findings": ["x is wrong"]}]
    assert view["progress"] == 25 and view["stages"][-1]["status"] == "rejected"


def test_failure_retry_and_cancel_are_reflected_and_release_the_agents() -> None:
    failed = board(
        TaskSubmitted(task_id=T, requirement="r", priority=5),
        started("implementation", "codex"),
        StageFailed(
            task_id=T, stage="implementation", agent="codex", code="AGENT_UNAVAILABLE", message="m"
        ),
        TaskFailed(task_id=T, stage="implementation", code="AGENT_UNAVAILABLE", message="m"),
    )
    task = failed.tasks.get(T)
    assert task is not None and task.status == "failed"
    assert task.error == {"code": "AGENT_UNAVAILABLE", "message": "m", "stage": "implementation"}
    retried = recorded(TaskRetried(task_id=T, stage="implementation"), 5)
    failed.apply(retried)
    assert task.status == "in_progress" and task.error is None and task.progress == 25
    failed.apply(recorded(started("implementation", "codex"), 6))
    failed.apply(recorded(TaskCancelled(task_id=T, progress=25), 7))
    assert task.status == "cancelled" and task.history[-1]["status"] == "cancelled"
    assert failed.tasks.agents_report()["codex"]["status"] == "idle"


def test_events_of_an_unknown_task_change_nothing() -> None:
    models = board(completed("analysis", "claude"), TaskCompleted(task_id=T))
    assert models.tasks.list() == []


def test_the_workspace_view_folds_files_and_resolves_names() -> None:
    models = board(
        FileWritten(path="implementation/app.py", digest="1" * 64, size=1),
        FileWritten(path="tests/app.py", digest="2" * 64, size=2),
        FileWritten(path="../escape.py", digest="3" * 64, size=3),
        FileWritten(path="implementation/old.py", digest="4" * 64, size=4),
        FileDeleted(path="implementation/old.py"),
    )
    workspace = models.workspace
    assert [f.path for f in workspace.listing()] == ["implementation/app.py", "tests/app.py"]
    assert workspace.state.refused == ["../escape.py"]
    found = workspace.resolve("workspace/implementation/app.py")
    assert found is not None and found.digest == "1" * 64
    with pytest.raises(AmbiguousName):
        workspace.resolve("app.py")
    models.apply(
        recorded(
            WorkspaceArchived(
                archive_name="project_1",
                archive_path="completed_archive/project_1",
                files=(),
                request_id="r1",
            ),
            9,
        )
    )
    assert workspace.listing() == [] and workspace.version == 9


def test_an_archive_is_on_disk_once_recorded_and_materialised() -> None:
    models = board(
        WorkspaceArchived(
            archive_name="project_1",
            archive_path="completed_archive/project_1",
            files=FILES,
            request_id="r1",
        )
    )
    assert not models.archives.on_disk("r1")
    models.apply(
        recorded(
            ArchiveMaterialised(
                archive_name="project_1", archive_path="completed_archive/project_1", files=1
            ),
            2,
        )
    )
    assert models.archives.on_disk("r1") and not models.archives.on_disk("r2")


def test_an_execution_is_decided_once_started() -> None:
    models = board(ExecutionRequested(execution_id="exec_1", path="app.py"))
    assert not models.executions.decided("exec_1")
    models.apply(
        recorded(ExecutionStarted(execution_id="exec_1", path="app.py", command="c", pid=3), 2)
    )
    assert models.executions.decided("exec_1")
    record = models.executions.get("exec_1")
    assert record is not None and record.status == "running"


def test_frames_are_a_function_of_the_event() -> None:
    submitted = recorded(TaskSubmitted(task_id=T, requirement="r", priority=5), 1)
    frames = ws_messages(submitted)
    assert [f["type"] for f in frames] == ["task_update"]
    assert frames[0]["status"] == "created" and frames[0]["progress"] == 0
    begun = ws_messages(recorded(started("analysis", "claude"), 2))
    assert [(f["type"], f.get("status")) for f in begun] == [
        ("task_update", "in_progress"),
        ("agent_status", "active"),
    ]
    assert ws_messages(submitted) == frames


def test_changes_are_added_modified_deleted_with_a_unified_diff() -> None:
    from orchestrator.gateway.projections.changes import changes, needed

    base = (
        FileRef(path="app.py", digest="old", size=2),
        FileRef(path="gone.py", digest="g", size=1),
        FileRef(path="same.py", digest="s", size=1),
    )
    writes = (
        FileRef(path="app.py", digest="new", size=2),
        FileRef(path="new.py", digest="n", size=1),
        FileRef(path="same.py", digest="s", size=1),
    )
    contents = {"old": b"a = 1\n", "new": b"a = 2\n", "n": b"x\n", "g": b"bye\n"}
    assert needed(base, writes, ()) == {"old", "new", "n"}
    # A deleted file's diff is its removed lines: what it held is read too.
    assert needed(base, writes, ("gone.py",)) == {"old", "new", "n", "g"}
    found = {c["path"]: c for c in changes(base, writes, ("gone.py",), contents)}
    assert set(found) == {
        "workspace/implementation/app.py",
        "workspace/implementation/new.py",
        "workspace/implementation/gone.py",
    }
    modified = found["workspace/implementation/app.py"]
    assert modified["change"] == "modified"
    assert "-a = 1\n+a = 2\n" in modified["diff"]
    assert found["workspace/implementation/new.py"]["change"] == "added"
    assert found["workspace/implementation/gone.py"]["diff"].endswith("-bye\n")


def test_tasks_page_newest_first_with_a_cursor_to_the_next_page() -> None:
    models = board(
        *(TaskSubmitted(task_id=f"task_{i}", requirement="r", priority=5) for i in range(5))
    )
    first, cursor = models.tasks.page(limit=2)
    assert [t["id"] for t in first] == ["task_4", "task_3"] and cursor == 4
    second, cursor = models.tasks.page(limit=2, before=cursor)
    assert [t["id"] for t in second] == ["task_2", "task_1"]
    last, cursor = models.tasks.page(limit=2, before=cursor)
    assert [t["id"] for t in last] == ["task_0"] and cursor is None
    everything, none = models.tasks.page(limit=1000)
    assert len(everything) == 5 and none is None
