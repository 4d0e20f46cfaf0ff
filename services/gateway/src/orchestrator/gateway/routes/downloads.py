"""Downloads: the workspace, or one archive, as a zip streamed from the object store.

The zip holds the files as they stood when the request arrived (the read model's listing, or the
archive's manifest), under their paths inside the workspace (``implementation/hello_world.py``)
or the archive, so unpacking it gives the project's tree. Every file's object is located before
the first byte is sent: a missing one is a ``WORKSPACE_ERROR`` answer, not a broken download.
The bytes then go out chunk by chunk (:mod:`..contents`, :mod:`..zipstream`); a read that fails
after the answer has begun ends the stream without the zip's central directory, so the client
sees an incomplete download, never a smaller archive that looks whole.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.objects import ContentMissing, StoredObject, locate, read_chunks

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..params import ArchiveName
from ..read_after import ReadAfter
from ..zipstream import ZipEntry, zip_stream
from .archive import archive_named
from .workspace import content_disposition

log = logging.getLogger(__name__)

router = APIRouter(tags=["downloads"])

ZIP_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A zip of the files, streamed",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "Content-Disposition": {
                "description": 'attachment; filename="<name>.zip"',
                "schema": {"type": "string"},
            }
        },
    }
}


async def _zip_response(
    gateway: Gateway, filename: str, files: Sequence[tuple[str, str, datetime]]
) -> StreamingResponse:
    """``files`` (path, digest, modified) as a streamed zip download called ``filename``."""
    located: dict[str, StoredObject] = {}
    for path, digest, _ in files:
        try:
            located[path] = await locate(gateway.files, digest)
        except ContentMissing:
            raise errors.ApiError(
                ErrorCode.WORKSPACE_ERROR,
                "A file's content is missing from storage",
                500,
                {"path": path},
            ) from None
    entries = [ZipEntry(path, located[path].size, modified) for path, _, modified in files]

    def read(entry: ZipEntry) -> AsyncIterator[bytes]:
        return read_chunks(gateway.js, located[entry.path])

    async def body() -> AsyncIterator[bytes]:
        try:
            async for data in zip_stream(entries, read):
                yield data
        except ContentMissing as exc:
            log.error("download %s broken off: %s", filename, exc)
            raise

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition("attachment", filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/api/workspace/download",
    response_class=StreamingResponse,
    responses=ZIP_RESPONSE,
    summary="The workspace's files as a zip",
    dependencies=[ReadAfter],
)
async def download_workspace(gateway: GatewayDep) -> StreamingResponse:
    files = [(f.path, f.digest, f.written_at) for f in gateway.models.workspace.listing()]
    return await _zip_response(gateway, "workspace.zip", files)


@router.get(
    "/api/archive/{archive_name}/download",
    response_class=StreamingResponse,
    responses={**ZIP_RESPONSE, **errors.responses(404)},
    summary="An archive's files as a zip",
    dependencies=[ReadAfter],
)
async def download_archive(archive_name: ArchiveName, gateway: GatewayDep) -> StreamingResponse:
    archive = archive_named(gateway, archive_name)
    files = [(ref.path, ref.digest, archive.created) for ref in archive.files]
    return await _zip_response(gateway, f"{archive.name}.zip", files)
