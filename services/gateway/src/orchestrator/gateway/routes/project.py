"""``POST /api/project/reset``: archive the workspace and start an empty one.

The gateway records the request (``ResetRequested`` on ``events.reset.<request_id>``); the
archive service turns it into one ``WorkspaceArchived`` at an exact workspace version; the
gateway answers once its read model holds that archive and the archive service has written it
to disk. If that does not happen within ``GATEWAY_REQUEST_TIMEOUT`` the reply is 503 with the
``request_id``: the request is recorded and still happens when the service is back.

With an ``Idempotency-Key`` header the request id is derived from the key, so a client retrying
after a lost answer gets the same archive instead of a second, empty one.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel

from orchestrator.events import ConcurrencyConflict, new_id, subjects
from orchestrator.events.catalog import ResetRequested
from orchestrator.events.error_codes import ErrorCode

from .. import errors
from ..bootstrap import GatewayDep

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
async def reset_project(
    gateway: GatewayDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ResetResponse:
    if idempotency_key is None:
        request_id = new_id("reset")
    else:
        request_id = f"reset_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
    # The same Idempotency-Key again conflicts on seq 0: answer with the reset already asked for.
    with suppress(ConcurrencyConflict):
        await gateway.store.append(
            subjects.reset(request_id),
            ResetRequested(request_id=request_id),
            expected_last_seq=0,
            event_id=request_id,
            correlation_id=request_id,
        )
    archives = gateway.models.archives
    archive = (
        await gateway.wait_until(lambda: archives.on_disk(request_id))
        and archives.by_request[request_id]
    )
    if not archive:
        raise errors.ApiError(
            ErrorCode.WORKSPACE_ERROR,
            "The archive service did not complete the reset in time; it will when it is back",
            503,
            {"request_id": request_id},
        )
    return ResetResponse(
        status="success",
        archive_path=archive.path,
        files_archived=len(archive.files),
        workspace_cleared=True,
        archive_name=archive.name,
    )
