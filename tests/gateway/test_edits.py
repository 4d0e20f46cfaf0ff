"""People edit the workspace through the real gateway and workspace service: ``PUT`` and
``DELETE /api/workspace/files/{path}`` become ``source="user"`` events, show in the listing and
content byte for byte, land on (and leave) the disk, refuse a save based on a stale version, and
refuse bad input in the error envelope."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileDeleted, FileWritten, TaskSubmitted
from orchestrator.gateway.ratelimit import category
from tests.harness import System, eventually, running
from tests.workspace.conftest import TEST_ENV, api, jetstream_of, listed

MAX_BODY = 64 * 1024
BINARY = bytes(range(256)) * 8 + b"\x00\xff\xfe"


@pytest.fixture(scope="module")
def ws_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {**TEST_ENV, "GATEWAY_MAX_BODY_BYTES": str(MAX_BODY)}
    with running(tmp_path_factory.mktemp("edits"), ("gateway", "workspace"), env) as system:
        yield system


@pytest.fixture
async def wjs(ws_system: System) -> AsyncIterator[JetStreamContext]:
    async with jetstream_of(ws_system) as js:
        yield js


def on_disk(system: System, path: str) -> Path:
    return system.data_dir / "workspace" / path


async def put(system: System, path: str, data: bytes, **headers: str) -> Any:
    headers.setdefault("Content-Type", "application/octet-stream")
    return await api(system, "PUT", f"/api/workspace/files/{path}", content=data, headers=headers)


async def workspace_events(wjs: JetStreamContext) -> list[Any]:
    return [r.event for r in await EventStore(wjs).read(subjects.WORKSPACE)]


def raw_request(
    system: System, method: str, target: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, Any]]:
    """A request whose target goes out exactly as written (no client normalises it)."""
    host, port = system.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


async def test_a_put_edit_is_listed_read_back_byte_for_byte_and_written_to_disk(
    ws_system: System, wjs: JetStreamContext
) -> None:
    text = "# Notes\n\ncafé ✓\n".encode()
    created = await put(ws_system, "notes/todo.md", text, **{"Content-Type": "text/markdown"})
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["path"] == "workspace/notes/todo.md"
    assert entry["size"] == len(text)
    assert entry["digest"] == hashlib.sha256(text).hexdigest()
    assert created.headers["etag"] == f'"{entry["digest"]}"'

    binary = await put(ws_system, "workspace/data/blob.bin", BINARY)  # the listing's own path
    assert binary.status_code == 201, binary.text
    assert binary.json()["path"] == "workspace/data/blob.bin"

    # Read-your-writes: visible to the very next requests, no polling.
    files = await listed(ws_system)
    assert files["workspace/notes/todo.md"]["digest"] == entry["digest"]
    assert files["workspace/data/blob.bin"]["size"] == len(BINARY)
    read = await api(ws_system, "GET", "/api/workspace/files/notes/todo.md")
    assert read.content == text
    assert read.headers["etag"] == f'"{entry["digest"]}"'
    assert (await api(ws_system, "GET", "/api/workspace/files/data/blob.bin")).content == BINARY

    await eventually(lambda: on_disk(ws_system, "data/blob.bin").read_bytes() == BINARY)
    await eventually(lambda: on_disk(ws_system, "notes/todo.md").read_bytes() == text)
    written = [e for e in await workspace_events(wjs) if isinstance(e, FileWritten)]
    assert {(e.path, e.source, e.task_id) for e in written} >= {
        ("notes/todo.md", "user", None),
        ("data/blob.bin", "user", None),
    }


async def test_if_match_refuses_a_save_based_on_a_version_that_changed(ws_system: System) -> None:
    first = await put(ws_system, "app.py", b"print('v1')\n")
    assert first.status_code == 201, first.text
    v1 = first.json()["digest"]
    second = await put(ws_system, "app.py", b"print('v2')\n", **{"If-Match": f'"{v1}"'})
    assert second.status_code == 200, second.text
    v2 = second.json()["digest"]

    stale = await put(ws_system, "app.py", b"print('stale')\n", **{"If-Match": f'"{v1}"'})
    assert stale.status_code == 409, stale.text
    error = stale.json()["error"]
    assert error["code"] == "CONFLICT"
    assert error["details"]["current_digest"] == v2
    assert (await api(ws_system, "GET", "/api/workspace/files/app.py")).content == b"print('v2')\n"

    bare = await put(ws_system, "app.py", b"print('v3')\n", **{"If-Match": v2})  # unquoted too
    assert bare.status_code == 200, bare.text
    anything = await put(ws_system, "app.py", b"print('v4')\n", **{"If-Match": "*"})
    assert anything.status_code == 200, anything.text
    absent = await put(ws_system, "never.py", b"x = 1\n", **{"If-Match": "*"})
    assert absent.status_code == 409, absent.text
    assert absent.json()["error"]["details"]["current_digest"] is None
    # Without If-Match a save simply writes.
    plain = await put(ws_system, "app.py", b"print('v5')\n")
    assert plain.status_code == 200, plain.text


async def test_two_editors_saving_the_same_version_at_once_only_one_wins(
    ws_system: System,
) -> None:
    base = (await put(ws_system, "shared.txt", b"base\n")).json()["digest"]
    for attempt in range(5):
        answers = await asyncio.gather(
            *(
                put(
                    ws_system,
                    "shared.txt",
                    f"editor {n} try {attempt}\n".encode(),
                    **{"If-Match": f'"{base}"'},
                )
                for n in range(2)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 409], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200)
        content = (await api(ws_system, "GET", "/api/workspace/files/shared.txt")).content
        assert hashlib.sha256(content).hexdigest() == winner.json()["digest"]
        base = winner.json()["digest"]


async def test_delete_removes_the_file_from_the_listing_the_content_and_the_disk(
    ws_system: System, wjs: JetStreamContext
) -> None:
    data = b"def gone():\n    pass\n"
    digest = (await put(ws_system, "lib/gone.py", data)).json()["digest"]
    await eventually(lambda: on_disk(ws_system, "lib/gone.py").is_file())

    stale = await api(
        ws_system, "DELETE", "/api/workspace/files/lib/gone.py", headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 409, stale.text
    deleted = await api(ws_system, "DELETE", "/api/workspace/files/workspace/lib/gone.py")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "status": "deleted",
        "path": "workspace/lib/gone.py",
        "name": "gone.py",
        "digest": digest,
    }
    assert "workspace/lib/gone.py" not in await listed(ws_system)
    missing = await api(ws_system, "GET", "/api/workspace/files/lib/gone.py")
    assert missing.status_code == 404
    await eventually(lambda: not on_disk(ws_system, "lib/gone.py").exists(), what="off disk")

    again = await api(ws_system, "DELETE", "/api/workspace/files/lib/gone.py")
    assert again.status_code == 404, again.text
    assert again.json()["error"]["code"] == "FILE_NOT_FOUND"
    deletions = [e for e in await workspace_events(wjs) if isinstance(e, FileDeleted)]
    assert [(e.path, e.source) for e in deletions] == [("lib/gone.py", "user")]


@pytest.mark.parametrize(
    "target",
    [
        "/api/workspace/files/..%2f..%2fetc%2fpasswd",
        "/api/workspace/files/%2e%2e/outside.py",
        "/api/workspace/files/a/%2e%2e/%2e%2e/outside.py",
        "/api/workspace/files/%2fetc%2fpasswd",
        "/api/workspace/files/a%5cb.py",
        "/api/workspace/files/a%00b.py",
        "/api/workspace/files/%252e%252e/x.py",
        "/api/workspace/files/caf%e9.py",
        "/api/workspace/files/%ff%fe.py",
    ],
)
def test_a_path_outside_the_workspace_or_not_utf8_is_invalid_request(
    ws_system: System, target: str
) -> None:
    for method, body in (("PUT", b"x"), ("DELETE", b"")):
        status, answer = raw_request(
            ws_system, method, target, body, **{"Content-Type": "application/octet-stream"}
        )
        assert status == 400, (method, target, answer)
        assert answer["error"]["code"] == "INVALID_REQUEST"


async def test_nothing_outside_the_workspace_was_written_by_the_refused_paths(
    ws_system: System,
) -> None:
    assert not any("outside" in p or "passwd" in p for p in await listed(ws_system))
    assert not list(ws_system.data_dir.glob("**/outside.py"))


async def test_a_body_over_the_limit_is_413_and_nothing_is_written(ws_system: System) -> None:
    too_big = await put(ws_system, "big.bin", b"x" * (MAX_BODY + 1))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "workspace/big.bin" not in await listed(ws_system)
    exactly = await put(ws_system, "big.bin", b"x" * MAX_BODY)
    assert exactly.status_code == 201, exactly.text


async def test_form_bodies_and_foreign_origins_are_refused_and_only_put_takes_raw_bytes(
    ws_system: System,
) -> None:
    form = await put(
        ws_system, "form.txt", b"a=1", **{"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    multipart = await put(
        ws_system, "form.txt", b"--x--", **{"Content-Type": "multipart/form-data"}
    )
    assert multipart.status_code == 415
    foreign = await put(ws_system, "csrf.txt", b"owned", **{"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "FORBIDDEN"
    # The exception is PUT on a file: a text/plain POST (what a form can send) stays refused.
    post = await api(
        ws_system,
        "POST",
        "/api/workspace/run/form.txt",
        content=b"x",
        headers={"Content-Type": "text/plain"},
    )
    assert post.status_code == 415
    listing = await listed(ws_system)
    assert "workspace/form.txt" not in listing
    assert "workspace/csrf.txt" not in listing
    # With no content type at all (``requests.put(url, data=...)``), the bytes are the file.
    untyped = await api(ws_system, "PUT", "/api/workspace/files/plain.txt", content=b"plain")
    assert untyped.status_code == 201, untyped.text


def test_edits_and_downloads_count_as_file_and_archive_operations() -> None:
    assert category("PUT", "/api/workspace/files/a.py") == "files"
    assert category("DELETE", "/api/workspace/files/a.py") == "files"
    assert category("GET", "/api/workspace/download") == "files"
    assert category("GET", "/api/archive/project_1/download") == "archive"


async def test_a_file_named_in_any_script_reads_back_with_a_header_naming_it_exactly(
    ws_system: System,
) -> None:
    created = await put(ws_system, "docs/café ✓.md", b"# notes\n")
    assert created.status_code == 201, created.text
    read = await api(ws_system, "GET", "/api/workspace/files/docs/café ✓.md")
    assert read.status_code == 200, read.text
    assert read.content == b"# notes\n"
    disposition = read.headers["content-disposition"]
    assert disposition.startswith('inline; filename="caf_ _.md"; ')
    assert disposition.endswith("filename*=UTF-8''caf%C3%A9%20%E2%9C%93.md")


async def test_another_method_with_a_raw_body_on_a_file_url_is_405_not_415(
    ws_system: System,
) -> None:
    for method in ("POST", "PATCH"):
        answer = await api(
            ws_system,
            method,
            "/api/workspace/files/app.py",
            content=b"\x89PNG",
            headers={"Content-Type": "application/octet-stream"},
        )
        assert answer.status_code == 405, (method, answer.text)
        assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert answer.headers["allow"] == "GET, PUT, DELETE"


async def test_a_requirement_names_the_workspace_it_was_submitted_on_and_its_last_outside_change(
    ws_system: System, wjs: JetStreamContext
) -> None:
    """A person's note, then a project file: the task records both positions, so the agents
    read the note and need not read the project write after it just to drop it."""
    assert (await put(ws_system, "notes/brief.md", b"# brief\n")).status_code in (200, 201)
    assert (await put(ws_system, "implementation/app.py", b"x = 1\n")).status_code in (200, 201)
    written = {
        r.event.path: r.seq
        for r in await EventStore(wjs).read(subjects.WORKSPACE)
        if isinstance(r.event, FileWritten)
    }

    accepted = await api(ws_system, "POST", "/api/requirements", json={"requirement": "go on"})
    assert accepted.status_code == 200, accepted.text
    events = await EventStore(wjs).read(subjects.task(accepted.json()["task_id"]))
    submitted = events[0].event
    assert isinstance(submitted, TaskSubmitted)
    assert submitted.workspace_version == written["implementation/app.py"]
    assert submitted.outside_version == written["notes/brief.md"]
