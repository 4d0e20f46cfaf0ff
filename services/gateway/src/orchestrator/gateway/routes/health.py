"""``GET /api/health``: every service, NATS and JetStream, the sandbox's layers, the host's load.

Each service is "up" while its heartbeats arrive (their ``details`` are shown: per-agent provider,
model and whether a key is configured, never the key; the workspace's sandbox layers; the archive
service's materialised archives). The status is "ok" when all of them and NATS are up, else
"degraded"; the endpoint itself answers 200 either way so a client can show what is down.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
from fastapi import APIRouter
from nats.js.errors import APIError

from ..bootstrap import GatewayDep
from ..system_health import health_frame

router = APIRouter(tags=["system"])

JETSTREAM_PROBE_TIMEOUT = 2.0


@router.get("/api/health", summary="System health: services, NATS, sandbox, load")
async def health(gateway: GatewayDep) -> dict[str, Any]:
    services = gateway.health.report()
    services["gateway"] = {**services["gateway"], "status": "up"}
    nats_up = gateway.nc.is_connected
    jetstream_up = False
    if nats_up:
        try:
            await asyncio.wait_for(gateway.js.account_info(), JETSTREAM_PROBE_TIMEOUT)
            jetstream_up = True
        except (TimeoutError, nats.errors.Error, APIError):  # not usable right now
            jetstream_up = False
    workspace = services["workspace"]["details"]
    ok = nats_up and jetstream_up and all(s["status"] == "up" for s in services.values())
    load = health_frame(gateway.models.tasks)
    del load["type"]
    return {
        "status": "ok" if ok else "degraded",
        "nats": {
            "status": "up" if nats_up else "down",
            "jetstream": "up" if jetstream_up else "down",
            "server": gateway.nc.connected_url.netloc if gateway.nc.connected_url else None,
            "projection_seq": gateway.last_seq,
        },
        "services": services,
        "sandbox": workspace.get("sandbox", {}),
        "system": load,
        "archives": len(gateway.models.archives.by_name),
        "security": {
            "token_required": bool(gateway.settings.gateway_token),
            "allowed_hosts": sorted(gateway.settings.allowed_hosts),
        },
    }
