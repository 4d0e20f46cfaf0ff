"""``POST /api/project/reset``: archive the workspace and start an empty one.

The gateway records the request (``ResetRequested`` on ``events.reset.<request_id>``); the
archive service turns it into one ``WorkspaceArchived`` at an exact workspace version; the
gateway answers once its read model holds that archive. If the archive service does not answer
within ``GATEWAY_REQUEST_TIMEOUT`` the reply is 503 with the ``request_id``: the request is
recorded and still happens when the service is back.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from orchestrator.events import new_id, subjects
from orchestrator.events.catalog import ResetRequested

from .. import errors
from ..backbone import GatewayDep

router = APIRouter(tags=["project"])


class ResetResponse(BaseModel):
    status: str
    archive_path: str
    files_archived: int
    workspace_cleared: bool
    archive_name: str


@router.post(
    "/api/project/reset",
    response_model=ResetResponse,
    responses=errors.responses(503),
    summary="Archive the workspace and clear it",
)
async def reset_project(gateway: GatewayDep) -> ResetResponse:
    request_id = new_id("reset")
    await gateway.store.append(
        subjects.reset(request_id), ResetRequested(request_id=request_id), correlation_id=request_id
    )
    try:
        archive = await gateway.models.archives.wait_for_request(
            request_id, gateway.settings.gateway_request_timeout
        )
    except TimeoutError:
        raise errors.ApiError(
            errors.WORKSPACE_ERROR,
            "The archive service did not complete the reset in time; it will when it is back",
            503,
            {"request_id": request_id},
        ) from None
    return ResetResponse(
        status="success",
        archive_path=archive.path,
        files_archived=len(archive.files),
        workspace_cleared=True,
        archive_name=archive.name,
    )
