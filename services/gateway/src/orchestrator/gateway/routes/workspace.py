"""The workspace: list files with runnable metadata, read one, run one.

Contents are read from the object store by digest (never from a disk a sandboxed run could
touch). A file is named by its workspace path (``implementation/hello_world.py``, with or without
the ``workspace/`` prefix) or by its bare name when only one file has it. Traversal (``..``,
absolute paths, backslashes, NUL, still-encoded ``%2e``) is ``INVALID_REQUEST``.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from orchestrator.events import subjects
from orchestrator.events.catalog import ExecutionRequested
from orchestrator.events.files import NOT_RUNNABLE, Runnable, UnsafePath, inspect_file

from .. import errors
from ..backbone import Gateway, GatewayDep
from ..params import FilePath
from ..projections.executions import ExecutionRecord
from ..projections.workspace import AmbiguousName, WorkspaceFile

router = APIRouter(tags=["workspace"])

INSPECT_MAX_BYTES = 1 << 20
TEXT_TYPES = {
    ".py": "text/x-python",
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".toml": "text/plain",
    ".cfg": "text/plain",
    ".ini": "text/plain",
    ".sh": "text/x-shellscript",
    ".yaml": "text/yaml",
    ".yml": "text/yaml",
    ".csv": "text/csv",
}


class FileMetadata(BaseModel):
    command: str | None
    port: int | None
    estimated_startup: str | None


class FileEntry(BaseModel):
    name: str
    path: str
    size: int
    created: datetime
    runnable: bool
    metadata: FileMetadata
    digest: str
    kind: str


class FileList(BaseModel):
    files: list[FileEntry]


class RunStarted(BaseModel):
    execution_id: str
    status: str
    process_id: int
    output_stream: str
    command: str | None = None
    port: int | None = None
    preview_url: str | None = None


def resolve(gateway: Gateway, filename: str) -> WorkspaceFile:
    try:
        found = gateway.models.workspace.resolve(filename)
    except UnsafePath as exc:
        raise errors.ApiError(
            errors.INVALID_REQUEST,
            f"Invalid file path: {exc}",
            400,
            {"field": "filename", "expected": "a relative path inside the workspace"},
        ) from exc
    except AmbiguousName as exc:
        raise errors.ApiError(
            errors.INVALID_REQUEST,
            f"More than one file is named {filename!r}; give its path",
            400,
            {"candidates": exc.candidates},
        ) from exc
    if found is None:
        raise errors.NotFound(
            errors.FILE_NOT_FOUND, f"File not found: {filename}", filename=filename
        )
    return found


async def read_content(gateway: Gateway, file: WorkspaceFile) -> bytes:
    try:
        result = await gateway.files.get(file.digest)
    except Exception as exc:
        raise errors.ApiError(
            errors.WORKSPACE_ERROR, "File content is not available", 500, {"path": file.api_path}
        ) from exc
    return bytes(result.data or b"")


async def runnable_of(gateway: Gateway, file: WorkspaceFile) -> Runnable:
    cache = gateway.models.workspace.metadata
    if file.digest not in cache:
        if file.size > INSPECT_MAX_BYTES:
            cache[file.digest] = NOT_RUNNABLE
        else:
            cache[file.digest] = inspect_file(file.path, await read_content(gateway, file))
    # Bound the cache: digests of files no longer in the workspace go first.
    if len(cache) > 4096:
        live = {f.digest for f in gateway.models.workspace.files.values()}
        for digest in [d for d in cache if d not in live]:
            cache.pop(digest, None)
    return cache[file.digest]


@router.get("/api/workspace/files", response_model=FileList)
async def list_files(gateway: GatewayDep) -> FileList:
    entries = []
    for file in gateway.models.workspace.listing():
        found = await runnable_of(gateway, file)
        entries.append(
            FileEntry(
                name=file.name,
                path=file.api_path,
                size=file.size,
                created=file.created,
                runnable=found.runnable,
                metadata=FileMetadata.model_validate(found.metadata()),
                digest=file.digest,
                kind=found.kind,
            )
        )
    return FileList(files=entries)


@router.get(
    "/api/workspace/files/{filename:path}",
    response_class=Response,
    responses={200: {"description": "Raw file content", "content": {"text/plain": {}}}},
)
async def get_file(filename: FilePath, gateway: GatewayDep) -> Response:
    file = resolve(gateway, filename)
    content = await read_content(gateway, file)
    return Response(
        content, media_type=content_type(file.name, content), headers=_safe_headers(file)
    )


def content_type(name: str, content: bytes) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    guessed = TEXT_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
    if guessed is None:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
        guessed = "text/plain"
    if guessed.startswith("text/") or guessed in ("application/json", "application/javascript"):
        return f"{guessed}; charset=utf-8"
    return guessed


def _safe_headers(file: WorkspaceFile) -> dict[str, str]:
    # Generated content is untrusted: never let the browser run it with the API's origin.
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Content-Disposition": f'inline; filename="{file.name}"',
        "X-Digest": f"sha-256={file.digest}",
    }


@router.post("/api/workspace/run/{filename:path}", response_model=RunStarted)
async def run_file(filename: FilePath, request: Request, gateway: GatewayDep) -> RunStarted:
    file = resolve(gateway, filename)
    execution_id = f"exec_{uuid.uuid4().hex[:16]}"
    seq = await gateway.store.append(
        subjects.execution(execution_id),
        ExecutionRequested(execution_id=execution_id, path=file.path),
        expected_last_seq=0,
    )
    await gateway.caught_up_to(seq, accepted={"execution_id": execution_id})
    record = await wait_decided(gateway, execution_id, gateway.settings.gateway_request_timeout)
    if record is None or record.status == "requested":
        raise errors.ApiError(
            errors.EXECUTION_FAILED,
            "The workspace service did not start the execution in time",
            503,
            {"execution_id": execution_id},
        )
    if record.status == "rejected":
        error = record.error or {}
        code = error.get("code", errors.EXECUTION_FAILED)
        status = {errors.FILE_NOT_FOUND: 404, errors.INVALID_REQUEST: 400}.get(code, 400)
        raise errors.ApiError(
            code,
            error.get("message", "Execution rejected"),
            status,
            {"execution_id": execution_id, "path": file.api_path},
        )
    host = request.headers.get("host") or (
        f"{gateway.settings.gateway_host}:{gateway.settings.gateway_port}"
    )
    return RunStarted(
        execution_id=execution_id,
        status="running",
        process_id=record.process_id or 0,
        output_stream=f"ws://{host}/ws/execution/{execution_id}",
        command=record.command,
        port=record.port,
        preview_url=record.preview_url,
    )


async def wait_decided(
    gateway: Gateway, execution_id: str, timeout: float
) -> ExecutionRecord | None:
    """Wait until the workspace service started or rejected ``execution_id``."""
    deadline = time.monotonic() + timeout
    while True:
        record = gateway.models.executions.get(execution_id)
        if record is not None and record.status != "requested":
            return record
        if time.monotonic() >= deadline:
            return record
        await asyncio.sleep(0.02)


__all__: list[Any] = ["router"]
