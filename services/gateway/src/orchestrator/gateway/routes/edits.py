"""People edit the workspace: ``PUT`` a file's raw bytes, ``DELETE`` a file.

Both are events like an agent's (``FileWritten`` / ``FileDeleted`` with ``source="user"`` on
``events.workspace``), so a person's edit is part of the project the next requirement sees, the
workspace service puts it on disk, and a reset archives it. The bytes go into the object store
under their sha256 first, so the event never names content that is not there.

Which file a URL names is what ``GET`` on the same URL answers: a workspace path, with or without
the ``workspace/`` prefix the listing shows, or a bare name that only one file has. A ``PUT`` to a
URL that names no file creates one at that path (``workspace/`` prefix removed). A path that is
not UTF-8 or leaves the workspace (``..``, absolute, backslash, NUL, a still-encoded ``%2e``) is
``INVALID_REQUEST``.

Lost updates: ``If-Match: "<digest>"`` (the ``ETag`` of ``GET``; ``*`` means "it must exist")
makes the write conditional: when the file's current digest is another, the answer is
``CONFLICT`` (409) and nothing is written. The check and the append are one step: the append
expects the workspace subject's last sequence the check was made at, and a write in between
means "look again", so two editors saving the same version cannot both succeed. Without
``If-Match`` the write happens whatever the current content.

Both answer once the change is in this gateway's read model (read-your-writes), so the next
``GET`` shows it; the workspace service's copy on disk follows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel

from orchestrator.events import ConcurrencyConflict, Event, subjects
from orchestrator.events.catalog import FileDeleted, FileWritten
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.objects import put_content
from orchestrator.events.paths import UnsafePath, safe_relative_path
from orchestrator.events.workspace_files import WorkspaceFile

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..params import FilePath
from ..projections.workspace import API_PREFIX, AmbiguousName, api_path
from .workspace import FileEntry, ambiguous, entry_of

router = APIRouter(tags=["workspace"])

WRITE_ATTEMPTS = 5


class DeleteResult(BaseModel):
    status: str
    path: str
    name: str
    digest: str


def _invalid_path(reason: str) -> errors.ApiError:
    return errors.ApiError(
        ErrorCode.INVALID_REQUEST,
        f"Invalid file path: {reason}",
        400,
        {"field": "filename", "expected": "a relative path inside the workspace"},
    )


def _check_utf8(request: Request) -> None:
    """The URL's path must decode as UTF-8: the server would otherwise have replaced what does
    not with U+FFFD, and a file would be written under a name the client never sent."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid_path("the path is not UTF-8") from None


def _target(gateway: Gateway, filename: str) -> tuple[str, WorkspaceFile | None]:
    """The workspace path ``filename`` names and the file now there, if any."""
    try:
        current = gateway.models.workspace.resolve(filename)
        path = safe_relative_path(filename)
    except UnsafePath as exc:
        raise _invalid_path(str(exc)) from exc
    except AmbiguousName as exc:
        raise ambiguous(filename, exc) from exc
    if current is not None:
        return current.path, current
    if path.startswith(API_PREFIX) and len(path) > len(API_PREFIX):
        path = path[len(API_PREFIX) :]
    return path, None


def _tags(if_match: str) -> set[str]:
    """The digests an ``If-Match`` accepts; ``{"*"}`` for any. A weak tag (``W/"..."``) never
    matches: If-Match compares strongly."""
    tags = set()
    for raw in if_match.split(","):
        tag = raw.strip()
        if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2:
            tag = tag[1:-1]
        tags.add(tag.removeprefix("sha-256=").lower() if tag != "*" else tag)
    return tags


def _refuse_if_changed(if_match: str | None, path: str, current: WorkspaceFile | None) -> None:
    if if_match is None:
        return
    tags = _tags(if_match)
    if current is not None and ("*" in tags or current.digest in tags):
        return
    raise errors.ApiError(
        ErrorCode.CONFLICT,
        "The file changed since the version this request was based on; read it again",
        409,
        {
            "path": API_PREFIX + path,
            "current_digest": current.digest if current is not None else None,
            "if_match": sorted(tags),
        },
    )


async def _append(
    gateway: Gateway,
    filename: str,
    if_match: str | None,
    make: Callable[[str, WorkspaceFile | None], Event],
) -> tuple[str, WorkspaceFile | None, Event]:
    """Append ``make(path, current)`` for the file ``filename`` names, after the If-Match
    check, and wait until it is visible. The path, the file it replaced, the event."""
    for _ in range(WRITE_ATTEMPTS):
        expected: int | None = None
        if if_match is not None:
            # Check against the workspace as of a sequence, and append only if still at it.
            expected = await gateway.store.last_seq(subjects.WORKSPACE)
            await gateway.caught_up_to(expected)
        path, current = _target(gateway, filename)
        event = make(path, current)
        _refuse_if_changed(if_match, path, current)
        try:
            seq = await gateway.store.append(subjects.WORKSPACE, event, expected_last_seq=expected)
        except ConcurrencyConflict:
            continue
        await gateway.caught_up_to(seq, accepted={"path": API_PREFIX + path})
        return path, current, event
    raise errors.ApiError(
        ErrorCode.CONFLICT,
        "The workspace kept changing while the write was checked; retry",
        409,
        {"filename": filename},
    )


_EDIT_ERRORS = errors.responses(400, 409, 413, 415)


@router.put(
    "/api/workspace/files/{filename:path}",
    response_model=FileEntry,
    status_code=200,
    responses={
        201: {"model": FileEntry, "description": "The file was created"},
        **_EDIT_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "description": "The file's raw bytes",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
    summary="Write a workspace file (its raw bytes as the body)",
)
async def put_file(
    filename: FilePath,
    request: Request,
    response: Response,
    gateway: GatewayDep,
    if_match: str | None = Header(default=None, description='"<digest>" from the ETag, or *'),
) -> FileEntry:
    _check_utf8(request)
    _target(gateway, filename)  # a bad path is refused before the bytes are stored
    data = await request.body()
    digest = await put_content(gateway.files, data)

    def make(path: str, current: WorkspaceFile | None) -> Event:
        return FileWritten(path=path, digest=digest, size=len(data), source="user")

    path, previous, _ = await _append(gateway, filename, if_match, make)
    file = gateway.models.workspace.files.get(path)
    if file is None or file.digest != digest:
        # Another write landed right after this one: answer what this request wrote.
        file = WorkspaceFile(path, digest, len(data), datetime.now(UTC), None, "user")
    response.status_code = 200 if previous is not None else 201
    response.headers["ETag"] = f'"{digest}"'
    return await entry_of(gateway, file)


@router.delete(
    "/api/workspace/files/{filename:path}",
    response_model=DeleteResult,
    responses={**errors.responses(404), **_EDIT_ERRORS},
    summary="Delete a workspace file",
)
async def delete_file(
    filename: FilePath,
    request: Request,
    gateway: GatewayDep,
    if_match: str | None = Header(default=None, description='"<digest>" from the ETag, or *'),
) -> DeleteResult:
    _check_utf8(request)

    def missing() -> errors.ApiError:
        return errors.NotFound(
            ErrorCode.FILE_NOT_FOUND, f"File not found: {filename}", filename=filename
        )

    def make(path: str, current: WorkspaceFile | None) -> Event:
        if current is None:
            raise missing()
        return FileDeleted(path=path, source="user")

    _, previous, _ = await _append(gateway, filename, if_match, make)
    if previous is None:  # make() refused that already
        raise missing()
    return DeleteResult(
        status="deleted", path=api_path(previous), name=previous.name, digest=previous.digest
    )
