"""``GET /api/agents``: each agent's status, current task and last activity, from the events.

An agent is ``offline`` (whatever the events say) while no replica of the service that runs it has
heartbeated recently; ``replicas`` says how many have.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..bootstrap import GatewayDep

router = APIRouter(tags=["agents"])


@router.get("/api/agents", summary="Get agent status")
async def agents(gateway: GatewayDep) -> dict[str, Any]:
    return {"agents": gateway.models.tasks.agents_report(gateway.health.agent_replicas())}
