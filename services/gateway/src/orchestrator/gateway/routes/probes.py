"""``/healthz``, ``/readyz`` (for probes) and ``/metrics`` (for Prometheus).

The probes hold no data, so they answer without the token (a kubelet sends none) and are not
rate-limited; ``/metrics`` holds figures about the work and wants the token like any API route.
The gateway listens only once its projections have caught up with the stream (the lifespan waits
for it), so before that a probe is refused its connection; afterwards ``/readyz`` is 503 while
NATS is unreachable (reads would go stale, writes fail) and 200 otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .. import metrics
from ..bootstrap import GatewayDep

# Infrastructure, not the API: kept out of the OpenAPI document (and so of the clients).
router = APIRouter(tags=["system"], include_in_schema=False)

PROBE_PATHS = frozenset({"/healthz", "/readyz"})


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: projections caught up and NATS connected",
    responses={503: {"description": "Not ready"}},
)
async def readyz(gateway: GatewayDep) -> JSONResponse:
    follower = gateway.follower
    caught_up = follower is not None and follower.caught_up
    connected = gateway.nc.is_connected
    ready = caught_up and connected
    return JSONResponse(
        {
            "status": "ready" if ready else "not_ready",
            "projections_caught_up": caught_up,
            "nats_connected": connected,
            "projection_seq": gateway.last_seq,
        },
        status_code=200 if ready else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def prometheus_metrics(gateway: GatewayDep) -> Response:
    pending = await metrics.pending_counts(gateway.js) if gateway.nc.is_connected else {}
    snapshot = metrics.Snapshot(
        models=gateway.models,
        health=gateway.health,
        ws_clients=gateway.hub.clients,
        pending=pending,
    )
    return Response(metrics.render(snapshot), media_type=CONTENT_TYPE_LATEST)
