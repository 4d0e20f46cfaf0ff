"""The agents' view of the workspace outside the project, as of a task's workspace version, on a
real nats-server: versions asked in any order (tasks in flight together) give the same answer as
a fold of the stream up to each, and a project file's write never shows."""

from __future__ import annotations

from orchestrator.agents.workspace_view import FEW, WorkspaceView
from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileDeleted, FileWritten, WorkspaceArchived
from orchestrator.events.workspace_files import WorkspaceFiles


async def _write(store: EventStore, path: str) -> int:
    event = FileWritten(path=path, digest="0" * 64, size=len(path), source="user")
    return await store.append(subjects.WORKSPACE, event)


async def _paths(view: WorkspaceView, version: int) -> list[str]:
    return [ref.path for ref in await view.outside_project(version)]


async def test_versions_in_any_order_see_the_workspace_as_it_stood(store: EventStore) -> None:
    a = await _write(store, "notes/a.md")
    project = await _write(store, "implementation/app.py")
    b = await _write(store, "notes/b.md")
    deleted = await store.append(subjects.WORKSPACE, FileDeleted(path="notes/a.md"))
    view = WorkspaceView(store)
    assert await _paths(view, deleted) == ["notes/b.md"]
    assert await _paths(view, a) == ["notes/a.md"]  # older than the last asked
    assert await _paths(view, project) == ["notes/a.md"]
    assert await _paths(view, b) == ["notes/a.md", "notes/b.md"]
    c = await _write(store, "notes/c.md")  # past everything read so far
    assert await _paths(view, c) == ["notes/b.md", "notes/c.md"]
    archived = await store.append(
        subjects.WORKSPACE,
        WorkspaceArchived(archive_name="x", archive_path="archives/x", files=(), request_id="r"),
    )
    d = await _write(store, "notes/d.md")
    assert await _paths(view, archived) == []
    assert await _paths(view, d) == ["notes/d.md"]
    assert await _paths(view, deleted) == ["notes/b.md"]
    assert await _paths(view, 0) == []


async def test_a_long_catch_up_is_read_whole(store: EventStore) -> None:
    """More events to catch up on than are read one by one: the rest are read with a reader."""
    first = await _write(store, "notes/first.md")
    for i in range(FEW + 3):
        await _write(store, f"implementation/m{i}.py")
    last = await _write(store, "notes/last.md")
    view = WorkspaceView(store)
    assert await _paths(view, last) == ["notes/first.md", "notes/last.md"]
    assert await _paths(view, first) == ["notes/first.md"]


async def test_a_task_naming_the_last_outside_change_is_answered_without_reading_past_it(
    store: EventStore,
) -> None:
    """``outside_version`` says where the last change outside the project before the task's
    version was. Once the view has read that far it reads no further: to show that it does not,
    the stream below holds an outside write the (deliberately wrong) claim leaves out."""
    a = await _write(store, "notes/a.md")
    view = WorkspaceView(store)
    assert [r.path for r in await view.outside_project(a, a)] == ["notes/a.md"]
    project = [await _write(store, f"implementation/m{i}.py") for i in range(3)]
    assert [r.path for r in await view.outside_project(project[-1], a)] == ["notes/a.md"]
    hidden = await _write(store, "notes/hidden.md")
    claimed = await view.outside_project(hidden, a)  # says nothing changed outside since a
    assert [r.path for r in claimed] == ["notes/a.md"]
    # Not known (an older event): read up to the version as before, and the write is there.
    assert [r.path for r in await view.outside_project(hidden)] == ["notes/a.md", "notes/hidden.md"]
    # A claim past what was read is read up to the version; 0 means none ever changed.
    b = await _write(store, "notes/b.md")
    assert [r.path for r in await view.outside_project(b, b)] == [
        "notes/a.md",
        "notes/b.md",
        "notes/hidden.md",
    ]
    assert await view.outside_project(b, 0) == ()


async def test_the_shared_fold_keeps_the_last_outside_change_as_it_goes(store: EventStore) -> None:
    """The fold the gateway submits from keeps ``outside_version`` as it goes."""
    events = [
        await _write(store, "implementation/app.py"),
        await _write(store, "notes/a.md"),
        await _write(store, "implementation/b.py"),
    ]
    fold = WorkspaceFiles()
    assert fold.outside_version == 0
    for recorded in await store.read(subjects.WORKSPACE):
        fold.apply(recorded)
    assert fold.version == events[2] and fold.outside_version == events[1]
