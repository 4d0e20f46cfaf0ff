"""Zip downloads of the workspace and of an archive, through the real gateway and archive service:
the zip holds exactly the files, byte for byte (a file of many object-store chunks included),
and it is produced as a stream."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileWritten
from orchestrator.events.connection import files_store
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.gateway.zipstream import ZipEntry, zip_stream
from tests.harness import System, eventually, running
from tests.workspace.conftest import jetstream_of

LARGE = 5 * 1024 * 1024 + 12345  # about 41 chunks of the object store's 128 KiB
FILES = {
    "implementation/hello_world.py": b'print("Hello World")\n',
    "implementation/data/blob.bin": bytes(range(256)) * 16,
    "README.md": "# Café ✓\n".encode(),
    "empty.txt": b"",
}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {
        "GATEWAY_MAX_BODY_BYTES": str(8 * 1024 * 1024),
        "RATE_LIMIT_FILES": "100000",
        "RATE_LIMIT_ARCHIVE": "100000",
    }
    with running(tmp_path_factory.mktemp("downloads"), ("gateway", "archive"), env) as system:
        yield system


@pytest.fixture
async def js(system: System) -> AsyncIterator[JetStreamContext]:
    async with jetstream_of(system) as js:
        yield js


@pytest.fixture(scope="module")
def large() -> bytes:
    return os.urandom(LARGE)


async def put(client: httpx.AsyncClient, path: str, data: bytes) -> None:
    response = await client.put(
        f"/api/workspace/files/{path}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code in (200, 201), response.text


async def download(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, dict[str, bytes]]:
    async with client.stream("GET", url) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200, body[:500]
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    return response, {name: archive.read(name) for name in archive.namelist()}


def client_of(system: System) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=system.base_url, timeout=60)


async def test_the_workspace_downloads_as_a_zip_equal_to_its_files_byte_for_byte(
    system: System, js: JetStreamContext, large: bytes
) -> None:
    files = {**FILES, "implementation/assets/large.bin": large}
    async with client_of(system) as client:
        for path, data in files.items():
            await put(client, path, data)
        response, unzipped = await download(client, "/api/workspace/download")

    assert unzipped == files
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="workspace.zip"'
    # Streamed: no length known up front, sent in chunks.
    assert "content-length" not in response.headers
    assert response.headers.get("transfer-encoding") == "chunked"
    # The large file really spans many chunks of the object store.
    info = await (await files_store(js, NatsSettings())).get_info(hashlib.sha256(large).hexdigest())
    assert (info.chunks or 0) > 30


async def test_an_archive_made_by_reset_downloads_as_its_files_and_the_workspace_is_then_empty(
    system: System, large: bytes
) -> None:
    async with client_of(system) as client:
        _, before = await download(client, "/api/workspace/download")
        assert "implementation/assets/large.bin" in before
        reset = await client.post("/api/project/reset")
        assert reset.status_code == 200, reset.text
        name = reset.json()["archive_name"]
        assert reset.json()["files_archived"] == len(before)

        response, unzipped = await download(client, f"/api/archive/{name}/download")
        assert unzipped == before
        assert response.headers["content-disposition"] == f'attachment; filename="{name}.zip"'

        _, now = await download(client, "/api/workspace/download")
        assert now == {}

        unknown = await client.get("/api/archive/project_00000000_000000/download")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "ARCHIVE_NOT_FOUND"
        invalid = await client.get("/api/archive/bad.name/download")
        assert invalid.status_code == 400
        assert invalid.json()["error"]["code"] == "INVALID_REQUEST"


async def test_a_file_whose_content_is_missing_is_an_error_answer_not_a_broken_zip(
    system: System, js: JetStreamContext
) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    seq = await EventStore(js).append(
        subjects.WORKSPACE, FileWritten(path="lost.txt", digest=absent, size=12, source="api")
    )
    async with client_of(system) as client:

        async def projected() -> bool:
            health = (await client.get("/api/health")).json()
            return bool(health["nats"]["projection_seq"] >= seq)

        await eventually(projected, what="the event in the gateway's read model")
        response = await client.get("/api/workspace/download")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "WORKSPACE_ERROR"
        assert response.json()["error"]["details"] == {"path": "lost.txt"}
        assert (await client.delete("/api/workspace/files/lost.txt")).status_code == 200
        _, unzipped = await download(client, "/api/workspace/download")
        assert "lost.txt" not in unzipped


def _entries(sizes: dict[str, int]) -> list[ZipEntry]:
    when = datetime(2025, 6, 22, 10, 35, tzinfo=UTC)
    return [ZipEntry(path, size, when) for path, size in sizes.items()]


async def test_the_zip_is_sent_entry_by_entry_before_later_files_are_read() -> None:
    contents = {"a.bin": os.urandom(300_000), "b.bin": os.urandom(300_000)}
    read_log: list[str] = []

    async def read(entry: ZipEntry) -> AsyncIterator[bytes]:
        data = contents[entry.path]
        for start in range(0, len(data), 65536):
            read_log.append(entry.path)
            yield data[start : start + 65536]

    sent = bytearray()
    largest = 0
    reads_when_first_sent: list[str] | None = None
    sizes = {path: len(data) for path, data in contents.items()}
    async for data in zip_stream(_entries(sizes), read):
        if reads_when_first_sent is None:
            reads_when_first_sent = list(read_log)
        largest = max(largest, len(data))
        sent += data
    assert reads_when_first_sent is not None
    assert "b.bin" not in reads_when_first_sent
    assert largest < 2 * 65536  # never more than about a chunk at once
    archive = zipfile.ZipFile(io.BytesIO(bytes(sent)))
    assert {n: archive.read(n) for n in archive.namelist()} == contents


async def test_a_read_that_fails_midway_ends_the_stream_without_a_central_directory() -> None:
    class Torn(Exception):
        pass

    async def read(entry: ZipEntry) -> AsyncIterator[bytes]:
        yield os.urandom(100_000)
        if entry.path == "b.bin":
            raise Torn

    sent = bytearray()
    with pytest.raises(Torn):
        async for data in zip_stream(_entries({"a.bin": 100_000, "b.bin": 200_000}), read):
            sent += data
    assert sent  # the first entry went out
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bytes(sent)))
