"""``GET /api/agents``: each agent's status, current task and last activity, from the events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..bootstrap import GatewayDep

router = APIRouter(tags=["agents"])


@router.get("/api/agents", summary="Get agent status")
async def agents(gateway: GatewayDep) -> dict[str, Any]:
    return {"agents": gateway.models.tasks.agents_report()}
