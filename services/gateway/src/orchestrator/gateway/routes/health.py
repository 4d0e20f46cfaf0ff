"""``GET /api/health``: every service, NATS, and the sandbox's active layers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..backbone import GatewayDep

router = APIRouter(tags=["system"])


@router.get("/api/health")
async def health(gateway: GatewayDep) -> dict[str, Any]:
    services = gateway.health.report()
    services["gateway"] = {**services["gateway"], "status": "up"}
    nats_up = gateway.nc.is_connected
    workspace = services["workspace"]["details"]
    ok = nats_up and all(s["status"] == "up" for s in services.values())
    return {
        "status": "ok" if ok else "degraded",
        "nats": {
            "status": "up" if nats_up else "down",
            "server": gateway.nc.connected_url.netloc if gateway.nc.connected_url else None,
            "projection_seq": gateway.last_seq,
        },
        "services": services,
        "sandbox": workspace.get("sandbox", {}),
    }
