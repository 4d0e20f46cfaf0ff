"""Workspace files end to end: events in, listed with metadata, read back byte for byte,
materialised on disk, rebuilt on an empty disk, and traversal refused."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
from pathlib import Path

from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import (
    Event,
    FileRef,
    FileWritten,
    StageCompleted,
    StageStarted,
    TaskCompleted,
    TaskSubmitted,
    WorkspaceArchived,
)
from tests.harness import System, eventually

from .conftest import (
    HELLO_API,
    api,
    append_in_order,
    listed,
    put_content,
    wait_listed,
    workspace_dir,
    write_file,
)

SCRIPT = b'print("hi")\n\nif __name__ == "__main__":\n    print("main")\n'
TESTS = b"def test_one():\n    assert 1 + 1 == 2\n"
LIBRARY = b"def helper():\n    return 1\n"
BINARY = bytes(range(256)) * 4


async def test_files_written_through_events_are_listed_with_metadata_and_read_back_exactly(
    ws_system: System, wjs: JetStreamContext
) -> None:
    files = {
        "implementation/hello_world.py": HELLO_API,
        "implementation/tools/run_me.py": SCRIPT,
        "implementation/tests/test_math.py": TESTS,
        "implementation/lib/helpers.py": LIBRARY,
        "implementation/data/blob.bin": BINARY,
    }
    digests = {path: await write_file(wjs, path, data) for path, data in files.items()}
    for path, digest in digests.items():
        await wait_listed(ws_system, "workspace/" + path, digest)

    entries = await listed(ws_system)
    hello = entries["workspace/implementation/hello_world.py"]
    assert hello["name"] == "hello_world.py"
    assert hello["size"] == len(HELLO_API)
    assert hello["runnable"] is True
    assert hello["metadata"] == {
        "command": "python hello_world.py",
        "port": 8000,
        "estimated_startup": "2s",
        "kind": "python_server",
        "reason": None,
    }
    assert hello["created"]
    script = entries["workspace/implementation/tools/run_me.py"]
    assert script["runnable"] is True
    assert script["metadata"]["command"] == "python run_me.py"
    assert script["metadata"]["port"] is None
    tests = entries["workspace/implementation/tests/test_math.py"]
    assert tests["runnable"] is True
    assert "pytest" in tests["metadata"]["command"]
    assert entries["workspace/implementation/lib/helpers.py"]["runnable"] is False
    assert entries["workspace/implementation/data/blob.bin"]["runnable"] is False

    for path, data in files.items():
        by_path = await api(ws_system, "GET", f"/api/workspace/files/{path}")
        assert by_path.status_code == 200, by_path.text
        assert by_path.content == data
        with_prefix = await api(ws_system, "GET", f"/api/workspace/files/workspace/{path}")
        assert with_prefix.content == data
    bare = await api(ws_system, "GET", "/api/workspace/files/hello_world.py")
    assert bare.content == HELLO_API
    assert bare.headers["content-type"].startswith("text/x-python")
    blob = await api(ws_system, "GET", "/api/workspace/files/implementation/data/blob.bin")
    assert blob.headers["content-type"] == "application/octet-stream"

    # The service materialised the same bytes on disk, nested folders included.
    root = workspace_dir(ws_system)
    for path, data in files.items():
        target = root / path

        def on_disk(target: Path = target, data: bytes = data) -> bool:
            return bool(target.read_bytes() == data)

        await eventually(on_disk, what=path)


async def test_missing_file_is_404_in_the_envelope(ws_system: System) -> None:
    response = await api(ws_system, "GET", "/api/workspace/files/nope.py")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "FILE_NOT_FOUND"


def exists(path: str) -> bool:
    return os.path.lexists(path)


def raw_get(system: System, path: str) -> tuple[int, dict[str, object]]:
    """A request whose path goes out exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", system.gateway_port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {"raw": body[:200].decode(errors="replace")}
    return response.status, parsed


async def test_traversal_attempts_are_refused_and_read_nothing(
    ws_system: System, wjs: JetStreamContext
) -> None:
    await write_file(wjs, "implementation/safe.py", b"x = 1\n")
    prefix = "/api/workspace/files/"
    attempts = [
        "../../../../etc/passwd",
        "implementation/../../etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "%252e%252e/%252e%252e/etc/passwd",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "implementation/..\\..\\etc\\passwd",
        "implementation/%00safe.py",
        "./implementation/safe.py",
    ]
    for attempt in attempts:
        status, body = raw_get(ws_system, prefix + attempt)
        assert status in (400, 404), (attempt, status, body)
        error = body.get("error")
        assert isinstance(error, dict), (attempt, body)
        assert error["code"] in (
            "INVALID_REQUEST",
            "WORKSPACE_ERROR",
            "FILE_NOT_FOUND",
            "NOT_FOUND",
        )
        assert "root:" not in str(body)
    # An explicit traversal is INVALID_REQUEST (not a quiet 404).
    status, body = raw_get(ws_system, prefix + "implementation/../../etc/passwd")
    assert status == 400 and body["error"]["code"] == "INVALID_REQUEST"  # type: ignore[index]
    status, body = raw_get(ws_system, prefix + "%2e%2e/%2e%2e/etc/passwd")
    assert status == 400 and body["error"]["code"] == "INVALID_REQUEST"  # type: ignore[index]
    # Run refuses the same way.
    run = await api(ws_system, "POST", "/api/workspace/run/implementation%2F..%2F..%2Fetc%2Fpasswd")
    assert run.status_code == 400 and run.json()["error"]["code"] == "INVALID_REQUEST"


async def test_unsafe_paths_in_events_are_never_materialised(
    ws_system: System, wjs: JetStreamContext
) -> None:
    outside = ws_system.root / "outside-target.txt"
    digest = await put_content(wjs, b"pwned")
    store = EventStore(wjs)
    for bad in ("../outside-target.txt", "/tmp/abs-target.txt", "implementation/../../x"):
        await store.append(
            subjects.WORKSPACE, FileWritten(path=bad, digest=digest, size=5, source="api")
        )
    marker = await write_file(wjs, "implementation/after_bad.py", b"y = 2\n")
    await wait_listed(ws_system, "workspace/implementation/after_bad.py", marker)
    root = workspace_dir(ws_system)
    await eventually((root / "implementation/after_bad.py").exists, what="marker")
    assert not outside.exists()
    assert not exists("/tmp/abs-target.txt")


async def test_a_planted_symlink_in_the_workspace_is_replaced_not_followed(
    ws_system: System, wjs: JetStreamContext
) -> None:
    root = workspace_dir(ws_system)
    target = ws_system.root / "symlink-target"
    target.mkdir()
    (root / "implementation").mkdir(parents=True, exist_ok=True)
    link = root / "implementation" / "planted"
    os.symlink(target, link)
    file_link = root / "implementation" / "file_link.py"
    os.symlink(target / "victim.txt", file_link)

    await write_file(wjs, "implementation/planted/inside.py", b"z = 3\n")
    await write_file(wjs, "implementation/file_link.py", b"w = 4\n")

    await eventually(
        lambda: (
            (root / "implementation/planted").is_dir()
            and not (root / "implementation/planted").is_symlink()
            and (root / "implementation/planted/inside.py").read_bytes() == b"z = 3\n"
        ),
        what="planted symlink replaced by a directory",
    )
    await eventually(
        lambda: not file_link.is_symlink() and file_link.read_bytes() == b"w = 4\n",
        what="file symlink replaced",
    )
    assert list(target.iterdir()) == []


def _validated_task(task_id: str, refs: tuple[FileRef, ...]) -> list[Event]:
    """A task's events through a passed validation, the implementation of ``refs``."""
    task: list[Event] = [TaskSubmitted(task_id=task_id, requirement="calc", priority=5)]
    for stage, agent in (("analysis", "claude"), ("implementation", "codex")):
        task += [
            StageStarted(task_id=task_id, stage=stage, agent=agent),
            StageCompleted(
                task_id=task_id,
                stage=stage,
                agent=agent,
                summary="done",
                files=refs if stage == "implementation" else (),
            ),
        ]
    task += [
        StageStarted(task_id=task_id, stage="validation", agent="claude2"),
        StageCompleted(task_id=task_id, stage="validation", agent="claude2", summary="ok"),
    ]
    return task


async def test_integration_stage_writes_the_implementation_into_the_workspace(
    ws_system: System, wjs: JetStreamContext
) -> None:
    store = EventStore(wjs)
    task_id = f"task_{int(time.time() * 1000):x}"
    subject = subjects.task(task_id)
    main = b'if __name__ == "__main__":\n    print("integrated")\n'
    nested = b"VALUE = 42\n"
    refs = (
        FileRef(path="calc.py", digest=await put_content(wjs, main), size=len(main)),
        FileRef(path="pkg/values.py", digest=await put_content(wjs, nested), size=len(nested)),
    )
    await append_in_order(store, subject, *_validated_task(task_id, refs))

    async def completed() -> list[object] | None:
        events, _ = await store.load(subject)
        types = [e.event.type for e in events]  # type: ignore[attr-defined]
        return events if "TaskCompleted" in types else None  # type: ignore[return-value]

    events = await eventually(completed, what="TaskCompleted")
    types = [e.event.type for e in events]
    assert types[-3:] == ["StageStarted", "StageCompleted", "TaskCompleted"]
    stage_done = events[-2].event
    assert isinstance(stage_done, StageCompleted) and stage_done.stage == "integration"
    assert stage_done.agent == "ide"
    assert {f.path for f in stage_done.files} == {
        "implementation/calc.py",
        "implementation/pkg/values.py",
    }
    described = {d["path"]: d for d in stage_done.detail["files"]}
    assert described["workspace/implementation/calc.py"]["command"] == "python calc.py"
    task_done = events[-1].event
    assert isinstance(task_done, TaskCompleted) and len(task_done.files) == 2

    written = [
        e.event
        for e in await store.read(subjects.WORKSPACE)
        if isinstance(e.event, FileWritten) and e.event.task_id == task_id
    ]
    assert {(w.path, w.source) for w in written} == {
        ("implementation/calc.py", "agent"),
        ("implementation/pkg/values.py", "agent"),
    }
    root = workspace_dir(ws_system)
    await eventually(lambda: (root / "implementation/calc.py").read_bytes() == main, what="calc")
    await eventually(
        lambda: (root / "implementation/pkg/values.py").read_bytes() == nested, what="nested"
    )


async def test_an_archived_workspace_is_empty_and_a_restored_file_comes_back(
    ws_system: System, wjs: JetStreamContext
) -> None:
    store = EventStore(wjs)
    data = b'if __name__ == "__main__":\n    print("restored")\n'
    digest = await write_file(wjs, "implementation/keep.py", data)
    await wait_listed(ws_system, "workspace/implementation/keep.py", digest)
    root = workspace_dir(ws_system)
    await eventually((root / "implementation/keep.py").exists, what="keep.py on disk")

    version = await store.last_seq(subjects.WORKSPACE)
    await store.append(
        subjects.WORKSPACE,
        WorkspaceArchived(
            archive_name="project_test",
            archive_path="completed_archive/project_test",
            files=(FileRef(path="implementation/keep.py", digest=digest, size=len(data)),),
            request_id="req_test",
        ),
        expected_last_seq=version,
    )

    async def emptied() -> bool:
        return await listed(ws_system) == {}

    await eventually(emptied, what="empty listing after the archive")
    await eventually(lambda: not any(root.rglob("*")), what="empty workspace on disk")

    await store.append(
        subjects.WORKSPACE,
        FileWritten(
            path="implementation/keep.py",
            digest=digest,
            size=len(data),
            source="restore",
            archive_name="project_test",
        ),
    )
    entry = await wait_listed(ws_system, "workspace/implementation/keep.py", digest)
    assert entry["runnable"] is True
    assert (await api(ws_system, "GET", "/api/workspace/files/keep.py")).content == data
    await eventually(
        lambda: (root / "implementation/keep.py").read_bytes() == data, what="restored on disk"
    )


async def test_integration_with_missing_content_fails_the_task_with_workspace_error(
    ws_system: System, wjs: JetStreamContext
) -> None:
    store = EventStore(wjs)
    task_id = f"task_missing_{int(time.time() * 1000):x}"
    subject = subjects.task(task_id)
    ghost = FileRef(path="ghost.py", digest="0" * 64, size=10)
    await append_in_order(
        store,
        subject,
        TaskSubmitted(task_id=task_id, requirement="x", priority=5),
        StageCompleted(
            task_id=task_id, stage="implementation", agent="codex", summary="s", files=(ghost,)
        ),
        StageCompleted(task_id=task_id, stage="validation", agent="claude2", summary="ok"),
    )

    async def failed() -> list[object] | None:
        events, _ = await store.load(subject)
        return events if events[-1].event.type == "TaskFailed" else None  # type: ignore[attr-defined,return-value]

    events = await eventually(failed, what="TaskFailed")
    assert [e.event.type for e in events[-3:]] == ["StageStarted", "StageFailed", "TaskFailed"]
    assert events[-1].event.code == "WORKSPACE_ERROR"
    assert events[-1].event.stage == "integration"
    assert "workspace/implementation/ghost.py" not in await listed(ws_system)


async def test_killed_service_started_on_an_empty_disk_rebuilds_the_same_files(
    ws_system: System, wjs: JetStreamContext
) -> None:
    content = {
        "implementation/rebuild/a.py": b"print('a')\n",
        "implementation/rebuild/deep/b.txt": b"bee\n" * 100,
    }
    for path, data in content.items():
        digest = await write_file(wjs, path, data)
        await wait_listed(ws_system, "workspace/" + path, digest)
    old_root = workspace_dir(ws_system)
    await eventually(
        lambda: all((old_root / p).exists() for p in content), what="first materialisation"
    )
    expected = {
        p.relative_to(old_root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in old_root.rglob("*")
        if p.is_file()
    }

    workspace = next(p for p in ws_system.processes if p.service == "workspace" and p.running())
    workspace.kill()
    empty = ws_system.root / "empty-data"
    empty.mkdir()
    ws_system.start("workspace", log_name="workspace-rebuilt", DATA_DIR=str(empty))
    new_root = workspace_dir(ws_system, empty)

    def rebuilt() -> dict[str, str] | None:
        found = {
            p.relative_to(new_root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in new_root.rglob("*")
            if p.is_file()
        }
        return found if found == expected else None

    await eventually(rebuilt, timeout=45, what="rebuilt workspace")
