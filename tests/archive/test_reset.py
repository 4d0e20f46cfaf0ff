"""Reset and archives against the real gateway and archive service processes.

A writer keeps adding files to the workspace (the way the workspace service does: bytes into the
object store under their digest, then ``FileWritten``) while resets run; afterwards every file
written is in exactly one archive or in the new workspace. Then the archives are listed, browsed,
read and restored from, and all of that again after every service restarted on an empty disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import httpx
import pytest
import websockets
from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileWritten, WorkspaceArchived
from orchestrator.events.connection import files_store
from orchestrator.events.nats_settings import NatsSettings
from tests.harness import System, eventually
from tests.workspace.conftest import write_file

SERVICES = ("gateway", "archive", "workspace")


def content_of(path: str) -> bytes:
    return f"# {path}\nprint({path!r})\n".encode()


async def workspace_fold(store: EventStore) -> tuple[list[WorkspaceArchived], dict[str, str]]:
    """The archives recorded, and the files of the current workspace (path -> digest)."""
    archives: list[WorkspaceArchived] = []
    current: dict[str, str] = {}
    for recorded in await store.read(subjects.WORKSPACE):
        event = recorded.event
        if isinstance(event, FileWritten):
            current[event.path] = event.digest
        elif isinstance(event, WorkspaceArchived):
            archives.append(event)
            current = {}
    return archives, current


def assert_on_disk(root: Path, archive: WorkspaceArchived) -> None:
    directory = root / "completed_archive" / archive.archive_name
    assert directory.is_dir(), directory
    for ref in archive.files:
        data = (directory / ref.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == ref.digest
        assert data == content_of(ref.path)


async def wait_on_disk(root: Path, archives: list[WorkspaceArchived], timeout: float = 30) -> None:
    def on_disk() -> bool:
        for archive in archives:
            assert_on_disk(root, archive)
        return True

    await eventually(on_disk, "every archive on disk", timeout=timeout, interval=0.2)


@pytest.mark.parametrize("archive_replicas", [1, 2])
async def test_reset_while_files_are_written_loses_and_duplicates_nothing(
    system: System, js: JetStreamContext, store: EventStore, archive_replicas: int
) -> None:
    system.start_all(SERVICES)
    for n in range(2, archive_replicas + 1):  # replicas share the durable consumer and race
        system.start("archive", log_name=f"archive{n}")
    written = [f"implementation/before_{i}.py" for i in range(5)]
    for path in written:
        await write_file(js, path, content_of(path))

    stop_writing = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop_writing.is_set():
            path = f"implementation/during_{n}.py"
            await write_file(js, path, content_of(path))
            written.append(path)
            n += 1
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as client:
        writing = asyncio.create_task(writer())
        await asyncio.sleep(0.2)
        replies: list[httpx.Response] = []
        for _ in range(2):
            pair = await asyncio.gather(
                client.post("/api/project/reset"), client.post("/api/project/reset")
            )
            replies.extend(pair)
            await asyncio.sleep(0.1)
        stop_writing.set()
        await writing

        for reply in replies:
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["status"] == "success"
            assert body["workspace_cleared"] is True
            assert body["archive_path"].startswith("completed_archive/project_")
            assert isinstance(body["files_archived"], int)

        archives, current = await workspace_fold(store)
        assert len(archives) == 4
        names = [a.archive_name for a in archives]
        assert len(set(names)) == 4, names  # unique even within one second
        assert {r.json()["archive_path"] for r in replies} == {a.archive_path for a in archives}
        assert sorted(r.json()["files_archived"] for r in replies) == sorted(
            len(a.files) for a in archives
        )
        # Every file written is in exactly one archive or in the workspace after the last reset.
        placed = Counter(ref.path for a in archives for ref in a.files) + Counter(current.keys())
        assert set(placed) == set(written)
        assert all(count == 1 for count in placed.values()), placed.most_common(3)
        assert archives[0].files, "the files present before the first reset were archived"

        await wait_on_disk(system.data_dir, archives)
        await wait_for_workspace(system.data_dir, set(current))
        await check_archive_api(client, archives, store, system.data_dir)


async def wait_for_workspace(root: Path, paths: set[str], timeout: float = 30) -> None:
    """The workspace service's copy on disk holds exactly ``paths``, with their content."""
    workspace = root / "workspace"

    def holds_them() -> bool:
        on_disk = {p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file()}
        assert on_disk == paths, f"workspace on disk {sorted(on_disk)} != {sorted(paths)}"
        return all((workspace / p).read_bytes() == content_of(p) for p in paths)

    await eventually(holds_them, f"the workspace on disk to be {sorted(paths)}", timeout=timeout)


async def check_archive_api(
    client: httpx.AsyncClient,
    archives: list[WorkspaceArchived],
    store: EventStore,
    root: Path,
) -> None:
    listing = (await client.get("/api/archive")).json()["archives"]
    by_name = {a["name"]: a for a in listing}
    assert set(by_name) == {a.archive_name for a in archives}
    assert listing[0]["name"] == archives[-1].archive_name  # newest first
    full = next(a for a in archives if a.files)
    entry = by_name[full.archive_name]
    assert entry["files"] == len(full.files)
    assert entry["size"].endswith(("B", "KB"))
    assert entry["created"]

    files = (await client.get(f"/api/archive/{full.archive_name}/files")).json()["files"]
    assert {f["path"] for f in files} == {ref.path for ref in full.files}
    ref = full.files[0]
    content = await client.get(f"/api/archive/{full.archive_name}/files/{ref.path}")
    assert content.status_code == 200
    assert content.content == content_of(ref.path)

    restored = await client.post(f"/api/archive/{full.archive_name}/restore/{ref.path}")
    assert restored.status_code == 200, restored.text
    assert restored.json()["status"] == "success"
    assert restored.json()["workspace_path"] == f"workspace/{ref.path}"
    last = (await store.read(subjects.WORKSPACE))[-1].event
    assert isinstance(last, FileWritten)
    assert (last.source, last.archive_name, last.path, last.digest) == (
        "restore",
        full.archive_name,
        ref.path,
        ref.digest,
    )

    _, current = await workspace_fold(store)
    assert current[ref.path] == ref.digest
    await wait_for_workspace(root, set(current))
    listed = (await client.get("/api/workspace/files")).json()["files"]
    assert any(f["path"].endswith(ref.path) for f in listed), listed

    # By base name too, when it names one file.
    by_base = await client.post(
        f"/api/archive/{full.archive_name}/restore/{ref.path.rsplit('/', 1)[-1]}"
    )
    assert by_base.status_code == 200, by_base.text

    await _check_what_is_not_there(client, full.archive_name)


async def test_archives_survive_restart_of_every_service_and_empty_disk(
    system: System, js: JetStreamContext, store: EventStore
) -> None:
    started = system.start_all(SERVICES)
    for i in range(3):
        path = f"implementation/app_{i}.py"
        await write_file(js, path, content_of(path))
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as client:
        first = (await client.post("/api/project/reset")).json()
        assert first["files_archived"] == 3
    archives, _ = await workspace_fold(store)
    await wait_on_disk(system.data_dir, archives)

    for process in started.values():
        process.stop()
    shutil.rmtree(system.data_dir / "completed_archive")
    system.start_all(SERVICES)

    await wait_on_disk(system.data_dir, archives)  # rebuilt from the stream

    # A damaged copy is repaired too: kill -9 the archive service, tamper, start it again.
    archive_process = next(p for p in system.processes if p.service == "archive" and p.running())
    archive_process.kill()
    damaged = system.data_dir / "completed_archive" / archives[0].archive_name
    (damaged / archives[0].files[0].path).write_bytes(b"tampered")
    (damaged / archives[0].files[1].path).unlink()
    system.start_all(("archive",))
    await wait_on_disk(system.data_dir, archives)
    path = "implementation/after_restart.py"
    await write_file(js, path, content_of(path))
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as client:
        second = (await client.post("/api/project/reset")).json()
        assert second["files_archived"] == 1
        assert second["archive_path"] != first["archive_path"]
        archives, current = await workspace_fold(store)
        assert current == {}
        await wait_on_disk(system.data_dir, archives)
        await wait_for_workspace(system.data_dir, set())
        await check_archive_api(client, archives, store, system.data_dir)


async def test_reset_of_an_empty_workspace_records_an_empty_archive(system: System) -> None:
    system.start_all(SERVICES)
    async with (
        httpx.AsyncClient(base_url=system.base_url, timeout=60) as client,
        websockets.connect(f"{system.ws_url}/ws") as ws,
    ):
        reply = await client.post("/api/project/reset")
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != (
            "workspace_archived"
        ):
            pass
        assert frame["archive_path"] == reply.json()["archive_path"]
        assert frame["files_archived"] == 0
        assert isinstance(frame["event_seq"], int)
        assert reply.status_code == 200, reply.text
        assert reply.json()["files_archived"] == 0
        name = reply.json()["archive_name"]
        assert (system.data_dir / "completed_archive" / name).is_dir()
        listing = (await client.get("/api/archive")).json()["archives"]
        assert [(a["name"], a["files"], a["size"]) for a in listing] == [(name, 0, "0B")]


async def test_a_reset_accepted_while_the_archive_service_is_down_still_happens(
    system: System, js: JetStreamContext, store: EventStore
) -> None:
    system.env["GATEWAY_REQUEST_TIMEOUT"] = "2"
    system.start_all(("gateway",))
    await write_file(js, "implementation/kept.py", content_of("implementation/kept.py"))
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as client:
        reply = await client.post("/api/project/reset")
        assert reply.status_code == 503
        error = reply.json()["error"]
        assert error["code"] == "WORKSPACE_ERROR"
        request_id = error["details"]["request_id"]

        system.start_all(("archive",))

        async def archived() -> bool:
            return bool((await client.get("/api/archive")).json()["archives"])

        await eventually(archived, "the recorded reset to run", interval=0.2)
    archives, current = await workspace_fold(store)
    assert [a.request_id for a in archives] == [request_id]
    assert [ref.path for ref in archives[0].files] == ["implementation/kept.py"]
    assert current == {}
    await wait_on_disk(system.data_dir, archives)


async def test_a_retried_reset_with_an_idempotency_key_gets_the_same_archive(
    system: System, js: JetStreamContext, store: EventStore
) -> None:
    system.start_all(("gateway", "archive"))
    await write_file(js, "implementation/once.py", content_of("implementation/once.py"))
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as client:
        headers = {"Idempotency-Key": "reset-42"}
        first = await client.post("/api/project/reset", headers=headers)
        again = await client.post("/api/project/reset", headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        assert first.json()["files_archived"] == 1
        other = await client.post("/api/project/reset", headers={"Idempotency-Key": "reset-43"})
        assert other.json()["archive_path"] != first.json()["archive_path"]
    archives, _ = await workspace_fold(store)
    assert len(archives) == 2


async def test_an_archived_file_whose_content_is_gone_is_a_workspace_error_to_read_or_restore(
    system: System, js: JetStreamContext
) -> None:
    system.start_all(("gateway", "archive"))
    path = "implementation/lost.py"
    digest = await write_file(js, path, content_of(path))
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as client:
        reset = await client.post("/api/project/reset")
        assert reset.status_code == 200, reset.text
        name = reset.json()["archive_name"]
        await (await files_store(js, NatsSettings())).delete(digest)
        read = await client.get(f"/api/archive/{name}/files/{path}")
        restore = await client.post(f"/api/archive/{name}/restore/{path}")
    for response in (read, restore):
        assert response.status_code == 500, response.text
        assert response.json() == {
            "error": {
                "code": "WORKSPACE_ERROR",
                "message": "The archived file's content is missing from storage",
                "details": {"archive_name": name, "filename": path},
            }
        }


async def _check_what_is_not_there(client: httpx.AsyncClient, archive_name: str) -> None:
    """An unknown archive, an unknown file, and names that climb out: 404 or 400 in the
    envelope."""
    missing = await client.get("/api/archive/project_19990101_000000/files")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ARCHIVE_NOT_FOUND"
    no_file = await client.post(f"/api/archive/{archive_name}/restore/nope.py")
    assert no_file.status_code == 404
    assert no_file.json()["error"]["code"] == "FILE_NOT_FOUND"
    for bad in ("%2e%2e/%2e%2e/etc/passwd", "implementation/%2e%2e/%2e%2e/secret"):
        traversal = await client.get(f"/api/archive/{archive_name}/files/{bad}")
        assert traversal.status_code in (400, 404), traversal.text
        assert traversal.json()["error"]["code"] in ("INVALID_REQUEST", "FILE_NOT_FOUND")
    bad_name = await client.get("/api/archive/..%2fetc/files")
    assert bad_name.status_code in (400, 404)
    assert "error" in bad_name.json()
