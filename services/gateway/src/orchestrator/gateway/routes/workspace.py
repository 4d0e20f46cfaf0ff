"""The workspace: list files with runnable metadata, read one, run one.

Contents are read from the object store by digest (never from a disk a sandboxed run could
touch). A file is named by its workspace path (``implementation/hello_world.py``, with or without
the ``workspace/`` prefix) or by its bare name when only one file has it. Traversal (``..``,
absolute paths, backslashes, NUL, still-encoded ``%2e``) is ``INVALID_REQUEST``.
"""

from __future__ import annotations

import mimetypes
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

import nats.errors
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from orchestrator.events import subjects
from orchestrator.events.catalog import ExecutionRequested
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.objects import ContentMissing, fetch_content
from orchestrator.events.paths import UnsafePath
from orchestrator.events.runnables import NOT_RUNNABLE, Kind, Runnable, inspect_file, on_machine
from orchestrator.events.workspace_files import WorkspaceFile

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..params import FilePath
from ..projections.workspace import AmbiguousName, api_path
from ..read_after import ReadAfter

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
    kind: Kind = "none"  # python_script, …, node_server (runnables.Kind), or none
    reason: str | None = None  # why it is not runnable here (e.g. Node.js is not installed)


class FileEntry(BaseModel):
    name: str
    path: str
    size: int
    created: datetime
    runnable: bool
    metadata: FileMetadata
    digest: str
    kind: Kind


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


def ambiguous(filename: str, exc: AmbiguousName) -> errors.ApiError:
    """A bare name that several files have: the client must give the path."""
    return errors.ApiError(
        ErrorCode.INVALID_REQUEST,
        f"More than one file is named {filename!r}; give its path",
        400,
        {"candidates": exc.candidates},
    )


def resolve(gateway: Gateway, filename: str) -> WorkspaceFile:
    try:
        found = gateway.models.workspace.resolve(filename)
    except UnsafePath as exc:
        raise errors.ApiError(
            ErrorCode.INVALID_REQUEST,
            f"Invalid file path: {exc}",
            400,
            {"field": "filename", "expected": "a relative path inside the workspace"},
        ) from exc
    except AmbiguousName as exc:
        raise ambiguous(filename, exc) from exc
    if found is None:
        raise errors.NotFound(
            ErrorCode.FILE_NOT_FOUND, f"File not found: {filename}", filename=filename
        )
    return found


async def read_content(gateway: Gateway, file: WorkspaceFile) -> bytes:
    try:
        return await fetch_content(gateway.js, gateway.files, file.digest)
    except ContentMissing as exc:
        raise errors.ApiError(
            ErrorCode.WORKSPACE_ERROR,
            "File content is not available",
            500,
            {"path": api_path(file)},
        ) from exc
    except (TimeoutError, nats.errors.Error) as exc:
        raise errors.ApiError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The file store did not answer; retry shortly",
            503,
            {"path": api_path(file)},
        ) from exc


async def runnable_of(gateway: Gateway, file: WorkspaceFile) -> Runnable:
    """What the file is (from its content, cached by digest), as the machines that run code can
    run it (their workspace services' heartbeats say which runtimes they lack)."""
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
    return on_machine(cache[file.digest], gateway.health.runtimes())


async def entry_of(gateway: Gateway, file: WorkspaceFile) -> FileEntry:
    found = await runnable_of(gateway, file)
    return FileEntry(
        name=file.name,
        path=api_path(file),
        size=file.size,
        created=file.written_at,
        runnable=found.runnable,
        metadata=FileMetadata.model_validate(found.metadata()),
        digest=file.digest,
        kind=found.kind,
    )


@router.get("/api/workspace/files", response_model=FileList, dependencies=[ReadAfter])
async def list_files(gateway: GatewayDep) -> FileList:
    return FileList(
        files=[await entry_of(gateway, file) for file in gateway.models.workspace.listing()]
    )


@router.get(
    "/api/workspace/files/{filename:path}",
    response_class=Response,
    responses={
        200: {
            "description": "Raw file content, typed by its name (text files as UTF-8)",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    dependencies=[ReadAfter],
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


def content_disposition(kind: str, name: str) -> str:
    """``kind; filename=...`` safe for any name: an ASCII stand-in without quotes or
    backslashes, and the exact name in RFC 6266's ``filename*`` (a header is latin-1 only)."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in name)
    if fallback == name:
        return f'{kind}; filename="{name}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _safe_headers(file: WorkspaceFile) -> dict[str, str]:
    # Generated content is untrusted: never let the browser run it with the API's origin.
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Content-Disposition": content_disposition("inline", file.name),
        "X-Digest": f"sha-256={file.digest}",
        # What an editor sends back as If-Match so its save never overwrites an unseen change.
        "ETag": f'"{file.digest}"',
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
    executions = gateway.models.executions
    await gateway.wait_until(lambda: executions.decided(execution_id))
    record = executions.get(execution_id)
    if record is None or record.status == "requested":
        raise errors.ApiError(
            ErrorCode.EXECUTION_FAILED,
            "The workspace service did not start the execution in time",
            503,
            {"execution_id": execution_id},
        )
    if record.status == "rejected":
        error = record.error or {}
        code = _known(error.get("code"), ErrorCode.EXECUTION_FAILED)
        status = 404 if code == ErrorCode.FILE_NOT_FOUND else 400
        raise errors.ApiError(
            code,
            error.get("message", "Execution rejected"),
            status,
            {"execution_id": execution_id, "path": api_path(file)},
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


def _known(code: str | None, default: ErrorCode) -> ErrorCode:
    """A code recorded by another service, as the vocabulary knows it."""
    try:
        return ErrorCode(code or default)
    except ValueError:
        return default


__all__: list[Any] = ["router"]
