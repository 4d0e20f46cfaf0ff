"""Archives: list, browse, read one archived file, restore one into the workspace.

Answers come from the archives read model (``WorkspaceArchived`` events) and the object store
(bytes by digest), so any gateway replica answers without the archive service's disk. A restore
is one ``FileWritten(source="restore")`` on ``events.workspace`` with the archived digest: the
workspace service materialises it like any other write, and no bytes are copied.

Names and file names are checked before use (``params``): an archive name is ``[A-Za-z0-9_-]``;
a file name is a workspace path, checked as the workspace checks one (``INVALID_REQUEST``); an
unknown archive is ``ARCHIVE_NOT_FOUND``, an unknown file in it ``FILE_NOT_FOUND``. A file is
named by its archived path (``implementation/app.py``) or, when only one file has it, by its base
name (``app.py``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from nats.js.errors import NotFoundError
from pydantic import BaseModel

from orchestrator.events import subjects
from orchestrator.events.catalog import FileRef, FileWritten
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.paths import UnsafePath, safe_relative_path

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..params import ARCHIVE_NAME, ArchivedPath, ArchiveName, matches
from ..projections.archives import Archive, human_size
from ..read_after import ReadAfter

router = APIRouter(tags=["archive"])


class ArchiveSummary(BaseModel):
    name: str
    created: datetime
    files: int
    size: str
    size_bytes: int
    path: str


class ArchiveList(BaseModel):
    archives: list[ArchiveSummary]


class ArchivedFile(BaseModel):
    name: str
    path: str
    archive_path: str
    size: int
    digest: str


class ArchiveFiles(BaseModel):
    archive: str
    created: datetime
    files: list[ArchivedFile]


class RestoreResponse(BaseModel):
    status: str
    archive_name: str
    path: str
    workspace_path: str
    size: int


def archive_named(gateway: Gateway, archive_name: str) -> Archive:
    if not matches(ARCHIVE_NAME, archive_name):
        raise errors.ApiError(
            ErrorCode.INVALID_REQUEST,
            "Invalid archive name",
            400,
            {"field": "archive_name", "expected": "[A-Za-z0-9_-]{1,128}", "received": "invalid"},
        )
    archive = gateway.models.archives.by_name.get(archive_name)
    if archive is None:
        raise errors.NotFound(
            ErrorCode.ARCHIVE_NOT_FOUND,
            f"Archive {archive_name} does not exist",
            archive_name=archive_name,
        )
    return archive


def _file(archive: Archive, filename: str) -> FileRef:
    try:
        safe_relative_path(filename)  # archived paths are workspace paths: the same rule
    except UnsafePath:
        raise errors.ApiError(
            ErrorCode.INVALID_REQUEST,
            "Invalid file name",
            400,
            {
                "field": "filename",
                "expected": "a relative path inside the archive",
                "received": "invalid",
            },
        ) from None
    ref = archive.find(filename)
    if ref is None:
        raise errors.NotFound(
            ErrorCode.FILE_NOT_FOUND,
            f"No file {filename} in archive {archive.name}",
            archive_name=archive.name,
            filename=filename,
        )
    return ref


def _content_missing(archive_name: str, ref: FileRef) -> errors.ApiError:
    """An archived file whose bytes are gone from the object store."""
    return errors.ApiError(
        ErrorCode.WORKSPACE_ERROR,
        "The archived file's content is missing from storage",
        500,
        {"archive_name": archive_name, "filename": ref.path},
    )


_ARCHIVE_ERRORS = errors.responses(404)


@router.get(
    "/api/archive",
    response_model=ArchiveList,
    summary="List archives, newest first",
    dependencies=[ReadAfter],
)
async def list_archives(gateway: GatewayDep) -> ArchiveList:
    return ArchiveList(
        archives=[
            ArchiveSummary(
                name=a.name,
                created=a.created,
                files=len(a.files),
                size=human_size(a.size),
                size_bytes=a.size,
                path=a.path,
            )
            for a in gateway.models.archives.newest_first()
        ]
    )


@router.get(
    "/api/archive/{archive_name}/files",
    response_model=ArchiveFiles,
    responses=_ARCHIVE_ERRORS,
    summary="The files of one archive",
    dependencies=[ReadAfter],
)
async def browse_archive(archive_name: ArchiveName, gateway: GatewayDep) -> ArchiveFiles:
    archive = archive_named(gateway, archive_name)
    return ArchiveFiles(
        archive=archive.name,
        created=archive.created,
        files=[
            ArchivedFile(
                name=ref.path.rsplit("/", 1)[-1],
                path=ref.path,
                archive_path=f"{archive.path}/{ref.path}",
                size=ref.size,
                digest=ref.digest,
            )
            for ref in archive.files
        ],
    )


@router.get(
    "/api/archive/{archive_name}/files/{filename:path}",
    response_class=Response,
    responses={
        200: {
            "description": "Raw file content",
            "content": {"text/plain": {}, "application/octet-stream": {}},
        },
        **_ARCHIVE_ERRORS,
    },
    summary="The content of one archived file",
    dependencies=[ReadAfter],
)
async def archived_file(
    archive_name: ArchiveName, filename: ArchivedPath, gateway: GatewayDep
) -> Response:
    ref = _file(archive_named(gateway, archive_name), filename)
    try:
        result = await gateway.files.get(ref.digest)
    except NotFoundError:
        raise _content_missing(archive_name, ref) from None
    data = result.data or b""
    try:
        data.decode("utf-8")
        media_type = "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        media_type = "application/octet-stream"
    return Response(data, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


@router.post(
    "/api/archive/{archive_name}/restore/{filename:path}",
    response_model=RestoreResponse,
    responses=_ARCHIVE_ERRORS,
    summary="Put one archived file back in the workspace",
)
async def restore_file(
    archive_name: ArchiveName, filename: ArchivedPath, gateway: GatewayDep
) -> RestoreResponse:
    archive = archive_named(gateway, archive_name)
    ref = _file(archive, filename)
    try:
        await gateway.files.get_info(ref.digest)
    except NotFoundError:
        # Restoring a file whose bytes are gone would put an unreadable file in the workspace.
        raise _content_missing(archive_name, ref) from None
    seq = await gateway.store.append(
        subjects.WORKSPACE,
        FileWritten(
            path=ref.path,
            digest=ref.digest,
            size=ref.size,
            source="restore",
            archive_name=archive.name,
        ),
    )
    await gateway.caught_up_to(
        seq, accepted={"archive_name": archive.name, "path": f"workspace/{ref.path}"}
    )
    return RestoreResponse(
        status="success",
        archive_name=archive.name,
        path=ref.path,
        workspace_path=f"workspace/{ref.path}",
        size=ref.size,
    )
